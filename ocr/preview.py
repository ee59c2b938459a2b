"""The prompt preview beside the custom-mode editor: a prompt run on a sample image now, in this web process's
engine runtime, not as a job and not counted against the quota."""

from __future__ import annotations

import base64

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.ratelimit import rate_hit
from accounts.services import quota_require
from core.errors import ApplicationError, QuotaExceeded, RateLimited
from core.page_errors import fragment_refusal
from core.rendering import markdown_html
from modes.forms import PreviewForm
from ocr import services as ocr_services

FRAGMENT = "modes/form.html#preview-result"


@login_required
@require_POST
def mode_preview(request: HttpRequest) -> HttpResponse:
    """Run the prompt on a sample, beside the editor. Not a job and not counted against the quota, but only for a
    live account (trial not over, monthly limit not reached: the same refusal as `/v1/ocr`), and at most
    DEEPREAD_PREVIEWS_PER_MINUTE per account, counted atomically in the database. Refusals (`core.errors`) are
    the fragment with its `error` and the error's status (`core.page_errors.fragment_refusal`)."""
    form = PreviewForm(request.POST, request.FILES)
    context: dict = {}
    if not form.is_valid():
        context["error"] = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return render(request, FRAGMENT, context, status=400)
    try:
        quota_require(user=request.user)
        limit = settings.DEEPREAD_PREVIEWS_PER_MINUTE
        decision = rate_hit(key=f"preview:{request.user.pk}", limit=limit, window_s=60)
        if not decision.allowed:
            message = f"At most {limit} previews a minute; try again in {decision.retry_after_s} s."
            raise RateLimited(message, retry_after=decision.retry_after_s)
        preview = ocr_services.ocr_preview(  # the sample's size is checked there, as every upload's is
            prompt=form.cleaned_data["prompt"],
            output_kind=form.cleaned_data["output_kind"],
            data=form.cleaned_data["sample"].read(),
        )
    except QuotaExceeded as exc:
        live_only = QuotaExceeded(f"{exc.message} Previews need a live account too.")
        return fragment_refusal(request, FRAGMENT, live_only)
    except ApplicationError as exc:  # RateLimited, the sample's TooLarge/InvalidInput, the engine's 503/500
        return fragment_refusal(request, FRAGMENT, exc)
    context.update(
        preview=preview,
        annotated=base64.b64encode(preview.annotated_png).decode("ascii"),
        plain=form.cleaned_data["output_kind"] == "text",
    )
    context["html"] = markdown_html(preview.text)
    return render(request, FRAGMENT, context)
