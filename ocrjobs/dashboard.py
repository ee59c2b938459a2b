"""Dashboard pages for jobs: upload, the live job list, the result viewer and downloads.

Thin views over the same services and selectors as the API: an upload from the browser asks `job_create` for a
signed URL exactly as an API client does, and the browser PUTs the file there; the same worker processes it. Every
lookup is scoped to the logged-in user, fragments included, so another account's job is a 404 everywhere.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, NotFound
from core.page_errors import json_refusal, not_found_page
from core.rendering import markdown_html
from inference.documents import ALLOWED_CONTENT_TYPES
from inference.layout import csv_text
from inference.registry import engine_supports
from modes.selectors import mode_list
from ocrjobs import page_images, selectors, services
from ocrjobs.models import JobStatus
from ocrjobs.outputs import FORMATS, output_prepare
from ocrjobs.search import job_text_search, snippet_html
from storage.keys import artifact_storage_key, file_stem

PAGE_SIZE = 25
STATUSES = ["pending", "processing", "completed", "failed", "cancelled"]


def _job(request: HttpRequest, job_id) -> object:
    """The logged-in user's job `job_id`; Http404 when it is not theirs."""
    try:
        return selectors.job_get(user=request.user, job_id=job_id)
    except NotFound as exc:
        not_found_page(exc)
        raise


def _modes(request: HttpRequest) -> list[dict]:
    return [
        {
            "spec": m.spec,
            "servable": engine_supports(settings.DEEPREAD_ENGINE, m.spec.output_kind),
            "custom": not m.builtin,
            "default": m.is_default,
        }
        for m in mode_list(user=request.user)
    ]


# --- upload -------------------------------------------------------------------------------------------------------
@login_required
def upload(request: HttpRequest) -> HttpResponse:
    """Upload page: the user's modes, quota, size limit (bytes) and accepted types."""
    from accounts.selectors import quota_status

    return render(
        request,
        "ocrjobs/upload.html",
        {
            "modes": _modes(request),
            "quota": quota_status(user=request.user),
            "max_bytes": settings.DEEPREAD_MAX_UPLOAD_BYTES,
            "accept": ",".join(sorted(ALLOWED_CONTENT_TYPES)) + ",.png,.jpg,.jpeg,.bmp,.tif,.tiff,.pdf",
            "engine": settings.DEEPREAD_ENGINE,
        },
    )


@login_required
@require_POST
def upload_ticket(request: HttpRequest) -> JsonResponse:
    """One file in one mode: checks first (size and type as the client declares them, mode, quota: the services'
    own checks and words), then a job and its signed upload URL. Refusals are `{"error": message}` with the
    error's status (`core.page_errors.json_refusal`)."""
    filename = request.POST.get("filename", "")
    content_type = request.POST.get("content_type", "")
    try:
        size = int(request.POST.get("size", "0"))
    except ValueError:
        size = 0
    try:
        services.upload_declared_check(size=size, content_type=content_type)
        ticket = services.job_create(
            user=request.user,
            mode=request.POST.get("mode") or None,
            filename=filename,
            content_type=content_type,
            base_url=request.build_absolute_uri("/"),
            force_ocr=request.POST.get("force_ocr") == "1",
        )
    except ApplicationError as exc:
        return json_refusal(exc)
    return JsonResponse(
        {
            "job_id": str(ticket.job.id),
            "upload_url": ticket.urls.put_url,
            "job_url": reverse("job-detail", args=[ticket.job.id]),
            "state_url": reverse("job-state", args=[ticket.job.id]),
            "abandon_url": reverse("job-upload-abandon", args=[ticket.job.id]),
            "remaining": ticket.quota.remaining,
        }
    )


# --- the job list -------------------------------------------------------------------------------------------------
def _filters(request: HttpRequest) -> dict:
    status = request.GET.get("status", "")
    return {
        "mode": request.GET.get("mode", "").strip()[:64],
        "status": status if status in STATUSES else "",
        "filename": request.GET.get("filename", "").strip()[:200],
        "q": request.GET.get("q", "").strip()[:200],
    }


@login_required
@require_GET
def jobs(request: HttpRequest) -> HttpResponse:
    """Job list page: filters (mode, filename, status, full-text `q`), PAGE_SIZE rows a page, polled while rows run."""
    filters = _filters(request)
    qs = selectors.job_queryset(
        user=request.user,
        mode=filters["mode"] or None,
        filename=filters["filename"] or None,
        status=filters["status"] or None,
    ).order_by("-created_at", "-pk")
    snippets = {}
    if filters["q"]:
        hits = job_text_search(user=request.user, query=filters["q"])
        snippets = {hit.job_id: snippet_html(hit.snippet) for hit in hits}
        qs = qs.filter(pk__in=list(snippets))
    qs = qs.defer("prompt", "result_key", "upload_key")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for job in page.object_list:
        job.snippet = snippets.get(job.pk, "")
    query = {k: v for k, v in filters.items() if v}
    running = any(not job.is_terminal for job in page.object_list)
    context = {
        "page": page,
        "filters": filters,
        "query": urlencode(query),
        # One poll for the whole table while any row on it is still running (not one per row).
        "poll_url": f"{reverse('jobs')}?{urlencode({**query, 'page': page.number})}" if running else "",
        "modes": [m["spec"].name for m in _modes(request)],
        "statuses": STATUSES,
        "any_jobs": bool(page.object_list) or any(filters.values()) or selectors.job_exists(user=request.user),
    }
    fragment = request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    response = render(request, "ocrjobs/jobs.html#job-table" if fragment else "ocrjobs/jobs.html", context)
    # The fragment and the page share a URL: without this a back button shows the browser's cached fragment.
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


@login_required
@require_GET
def job_row(request: HttpRequest, job_id) -> HttpResponse:
    """One job's row of the list (the list itself polls once for all its running rows)."""
    return render(request, "ocrjobs/jobs.html#job-row", {"job": _job(request, job_id)})


# --- the viewer ---------------------------------------------------------------------------------------------------
_FIGURE_LINK = re.compile(r"\]\((page-\d+-image-\d+\.png)\)")


@login_required
@require_GET
def job_detail(request: HttpRequest, job_id) -> HttpResponse:
    """Job page: one result page (`?page=`, 1-based, clamped) as HTML with its blocks (bbox, width, height in pixels).

    Http404 for another user's job.
    """
    job = _job(request, job_id)
    result = selectors.job_result_document(job=job)
    pages = (result or {}).get("pages", [])
    try:
        number = min(max(int(request.GET.get("page", "1")), 1), max(len(pages), 1))
    except ValueError:
        number = 1
    page = pages[number - 1] if pages else None
    html = ""
    if page:
        base = reverse("job-artifact", args=[job.id, "x"])[:-1]
        html = markdown_html(_FIGURE_LINK.sub(lambda m: f"]({base}{m.group(1)})", page["text"]), images=base)
    blocks = [
        {**b, "i": i, "w": b["bbox"][2] - b["bbox"][0], "h": b["bbox"][3] - b["bbox"][1]}
        for i, b in enumerate(page["blocks"] if page else [])
    ]
    context = {
        "job": job,
        "result": result,
        "page": page,
        "number": number,
        "page_numbers": range(1, len(pages) + 1),
        "blocks": blocks,
        "html": html,
        "plain": job.output_kind == "text",
        "raw_json": json.dumps(result, indent=2, ensure_ascii=False) if result else "",
        "has_tables": bool(result and result.get("tables")),
        "annotated_name": f"page-{number}-annotated.png",
        "stem": file_stem(job.filename or "upload"),
        "thumb_height": round(64 * page["height"] / page["width"]) if page and page.get("width") else 90,
        "show_tables": bool(page and page.get("tables")) and "<table" not in html,
        "current_version": _current_version(request, job),
    }
    if request.htmx:
        if job.is_terminal:  # the job just ended: reload the page to show the result
            response = HttpResponse("")
            response["HX-Refresh"] = "true"
            return response
        response = render(request, "ocrjobs/viewer.html#progress", context)
    else:
        response = render(request, "ocrjobs/viewer.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _current_version(request: HttpRequest, job) -> int | None:
    """The custom mode's version now, to offer a re-run when the job ran an older one."""
    from modes.models import CustomMode

    if job.mode_version is None:
        return None
    return CustomMode.objects.filter(owner=request.user, name=job.mode).values_list("version", flat=True).first()


@login_required
@require_GET
def job_page_image(request: HttpRequest, job_id, number: int) -> HttpResponse:
    """The page as the engine saw it, streamed from storage: the image the worker stored (ocrjobs.page_images), or
    the upload itself for a one-page PNG or JPEG. Nothing is decoded or drawn here; 404 until the worker has
    stored it (a completed job from before then gets it drawn by a worker, once).

    Raises Http404 before the upload arrives or while the page's image is not yet drawn.
    """
    job = _job(request, job_id)
    if job.status == JobStatus.AWAITING_UPLOAD or not job.upload_key:
        raise Http404("No file yet.")
    key = page_images.page_image_key(job=job, number=number)
    if key is not None and default_storage.exists(key):
        response = FileResponse(default_storage.open(key), content_type="image/png")
    elif page_images.upload_is_page(job, number):
        response = FileResponse(default_storage.open(job.upload_key), content_type=job.content_type or "image/png")
    else:
        page_images.images_request_draw(job=job)
        raise Http404("This page's image is drawn while the job runs; it is not ready yet.")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def job_artifact(request: HttpRequest, job_id, name: str) -> HttpResponse:
    """A cropped figure or an annotated page stored beside the result, streamed (the worker drew it).

    Raises Http404 for a file the job does not have.
    """
    job = _job(request, job_id)
    if job.status != JobStatus.COMPLETED or not selectors.ARTIFACT_NAME.fullmatch(name):
        raise Http404("No such file.")
    key = artifact_storage_key(account_id=job.owner_id, output_key=job.output_key, name=name)
    if not default_storage.exists(key):
        page_images.images_request_draw(job=job)  # a job completed before the worker drew its images
        raise Http404("No such file.")
    download = request.GET.get("download") == "1"
    filename = f"{file_stem(job.filename or 'upload')}-{name}"  # invoice-page-1-annotated.png
    return FileResponse(default_storage.open(key), content_type="image/png", as_attachment=download, filename=filename)


@login_required
@require_GET
def job_download(request: HttpRequest, job_id, kind: str) -> HttpResponse:
    """Download the original upload or the result as json, md, csv, txt, searchable PDF or hOCR.

    Http404 for another user's job, before the upload arrives or before a result exists.

    Raises Http404 in those cases, for a format the job lacks (e.g. csv without tables) or an unknown kind.
    """
    job = _job(request, job_id)
    stem = file_stem(job.filename or "upload")
    if kind == "original":
        if not job.upload_key or job.status == JobStatus.AWAITING_UPLOAD:
            raise Http404("No file yet.")
        return FileResponse(
            default_storage.open(job.upload_key),
            as_attachment=True,
            filename=job.filename or "upload",
            content_type=job.content_type or "application/octet-stream",
        )
    if kind in FORMATS:  # the searchable PDF and hOCR, drawn once and stored beside the result
        if job.status != JobStatus.COMPLETED:
            raise Http404("No result yet.")
        key, name, content_type = output_prepare(job=job, output_format=kind)
        return FileResponse(default_storage.open(key), as_attachment=True, filename=name, content_type=content_type)
    result = selectors.job_result_document(job=job)
    if result is None:
        raise Http404("No result yet.")
    if kind == "json":
        body, content_type, name = json.dumps(result, ensure_ascii=False, indent=2), "application/json", f"{stem}.json"
    elif kind == "md":
        body, content_type, name = _markdown_export(result), "text/markdown; charset=utf-8", f"{stem}.md"
    elif kind == "csv":
        tables = result.get("tables") or [t for p in result["pages"] for t in p.get("tables", [])]
        if not tables:
            raise Http404("This result has no tables.")
        body = "\n".join(csv_text(table["rows"]) for table in tables)  # tables apart by an empty line
        content_type, name = "text/csv; charset=utf-8", f"{stem}.csv"
    else:
        raise Http404("No such download.")
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _markdown_export(result: dict) -> str:
    """The result as one Markdown file: a one-page result is its text; pages of a longer one are separated by a
    rule and a `<!-- page N of M -->` comment, so a reader can tell where each page starts."""
    pages = result.get("pages") or []
    if len(pages) <= 1:
        return result["extracted_text"]
    parts = [f"<!-- page {n} of {len(pages)} -->\n\n{page.get('text', '')}" for n, page in enumerate(pages, 1)]
    return "\n\n---\n\n".join(parts) + "\n"
