"""Dashboard endpoints the upload page's script calls after a file was sent: give up on a refused upload, and
follow an accepted one to its end. JSON in and out; scoped to the logged-in user (another account's job is 404)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import quota_status
from core.errors import NotFound
from core.page_errors import json_refusal
from ocrjobs import selectors
from ocrjobs.abandon import job_upload_abandon


def _state(job) -> dict:
    return {
        "job_id": str(job.id),
        "status": job.public_status,
        "terminal": job.is_terminal,
        "error": job.error or None,
        "pages_done": job.pages_done,
        "page_count": job.page_count,
    }


@login_required
@require_POST
def upload_abandon(request: HttpRequest, job_id) -> JsonResponse:
    """The server refused the file (or the upload failed): cancel the job and give its request back."""
    try:
        job = job_upload_abandon(user=request.user, job_id=job_id, reason=request.POST.get("reason", ""))
    except NotFound as exc:
        return json_refusal(exc)
    return JsonResponse(_state(job) | {"remaining": quota_status(user=request.user).remaining})


@login_required
@require_GET
def job_state(request: HttpRequest, job_id) -> JsonResponse:
    """Where a job stands, for the upload page's rows to follow it to its end."""
    try:
        job = selectors.job_get(user=request.user, job_id=job_id)
    except NotFound as exc:
        return json_refusal(exc)
    return JsonResponse(_state(job))


@login_required
@require_GET
def upload_duplicates(request: HttpRequest) -> JsonResponse:
    """GET `sha256` (hex, may be empty), `filename`, `size` (bytes) and `mode` (repeated): this account's earlier
    jobs for the same file per mode, as {"duplicates": {mode: {"job_id", "job_url", "filename", "created_at",
    "status"}}}; {} when none. Reads only; 400 {"error"} for a malformed hash or mode list."""
    from django.urls import reverse

    from core.errors import InvalidInput
    from ocrjobs.duplicates import upload_duplicates as find

    try:
        raw_size = request.GET.get("size", "")
        size = int(raw_size) if raw_size.isascii() and raw_size.isdigit() and len(raw_size) <= 18 else None
        found = find(
            user=request.user,
            sha256=request.GET.get("sha256", ""),
            filename=request.GET.get("filename", "")[:255],
            size=size,
            modes=request.GET.getlist("mode"),
        )
    except InvalidInput as exc:
        return json_refusal(exc)
    body = {
        mode: {
            "job_id": str(d.job_id),
            "job_url": reverse("job-detail", args=[d.job_id]),
            "filename": d.filename,
            "created_at": d.created_at.isoformat(),
            "status": d.status,
        }
        for mode, d in found.items()
    }
    return JsonResponse({"duplicates": body})
