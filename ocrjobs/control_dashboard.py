"""Dashboard pages for job control (issue 16): cancel, delete and re-run buttons on the viewer, and the Webhooks page
(endpoints with their secret shown once, the delivery log with redeliver, the callback secret, retention). Thin
views over the same services as the API; every lookup is scoped to the logged-in user."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from core.page_errors import flash
from ocrjobs import control, webhooks
from ocrjobs.control_models import WEBHOOK_EVENTS
from ocrjobs.models import WebhookDelivery, WebhookEndpoint


@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id) -> HttpResponse:
    """Cancel a job from its page (POST); a refusal is shown as a message."""
    try:
        control.job_cancel(user=request.user, job_id=job_id)
        messages.success(request, "The job was cancelled.")
    except ApplicationError as exc:
        flash(request, exc)
    return redirect("job-detail", job_id=job_id)


@login_required
@require_POST
def job_delete(request: HttpRequest, job_id) -> HttpResponse:
    """Delete a job and its files (POST), then back to the list; a refusal is shown on the job's page."""
    try:
        control.job_delete(user=request.user, job_id=job_id)
    except ApplicationError as exc:
        flash(request, exc)
        return redirect("job-detail", job_id=job_id)
    messages.success(request, "The job and its files were deleted.")
    return redirect("jobs")


@login_required
@require_POST
def job_rerun(request: HttpRequest, job_id) -> HttpResponse:
    """Run the file again with the mode's current version (any ended job; one request of the quota)."""
    try:
        rerun = control.job_rerun(user=request.user, job_id=job_id, require_unsuccessful=False)
    except ApplicationError as exc:
        flash(request, exc)
        return redirect("job-detail", job_id=job_id)
    return redirect("job-detail", job_id=rerun.job.pk)


@login_required
def webhooks_page(request: HttpRequest) -> HttpResponse:
    """Webhooks page: endpoints, the last 50 deliveries, retention setting and a secret just created (shown once)."""
    endpoints = list(WebhookEndpoint.objects.filter(owner=request.user).order_by("created_at", "pk"))
    deliveries = WebhookDelivery.objects.filter(owner=request.user).order_by("-created_at", "-pk")[:50]
    return render(
        request,
        "ocrjobs/webhooks.html",
        {
            "endpoints": endpoints,
            "deliveries": deliveries,
            "events": WEBHOOK_EVENTS,
            "settings_row": control.job_settings_get(user=request.user),
            "new_secret": request.session.pop("webhook_secret", None),
        },
    )


@login_required
@require_POST
def webhook_create(request: HttpRequest) -> HttpResponse:
    """Add a webhook endpoint (POST form); its secret is kept in the session for the next page only."""
    try:
        _, secret = webhooks.endpoint_create(
            user=request.user,
            url=request.POST.get("url", ""),
            events=request.POST.getlist("events") or None,
            description=request.POST.get("description", ""),
        )
    except ApplicationError as exc:
        flash(request, exc)
        return redirect("webhooks-page")
    request.session["webhook_secret"] = secret  # shown once, on the next page
    return redirect("webhooks-page")


@login_required
@require_POST
def webhook_delete(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Delete a webhook endpoint (POST); a refusal is shown as a message."""
    try:
        webhooks.endpoint_delete(user=request.user, endpoint_id=endpoint_id)
    except ApplicationError as exc:
        flash(request, exc)
    return redirect("webhooks-page")


@login_required
@require_POST
def webhook_redeliver(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """Send a webhook delivery again (POST); a refusal is shown as a message."""
    try:
        webhooks.redeliver(user=request.user, delivery_id=delivery_id)
        messages.success(request, "Sent again.")
    except ApplicationError as exc:
        flash(request, exc)
    return redirect("webhooks-page")


@login_required
@require_POST
def callback_secret(request: HttpRequest) -> HttpResponse:
    """Rotate the per-job callback signing secret (POST) and show it once."""
    request.session["webhook_secret"] = webhooks.callback_secret_rotate(user=request.user)
    return redirect("webhooks-page")


@login_required
@require_POST
def retention(request: HttpRequest) -> HttpResponse:
    """Set retention in whole days (empty: keep everything) from the form; a bad value is shown as a message."""
    raw = request.POST.get("retention_days", "").strip()
    try:
        days = int(raw) if raw else None
        control.job_settings_update(user=request.user, retention_days=days)
        messages.success(request, f"Results and uploads are kept {f'{days} days' if days else 'until deleted'}.")
    except ValueError:
        messages.error(request, "Retention is a whole number of days, or empty to keep everything.")
    except ApplicationError as exc:
        flash(request, exc)
    return redirect("webhooks-page")
