"""The job list's actions (issue 18): one POST for the jobs picked with the check boxes, or for one row's button
(`?only=<id>`), through ocrjobs.bulk. Every id is looked up among the logged-in account's jobs: another account's
id, or an unknown one, is a 404 and nothing is done."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from core.errors import ApplicationError
from core.page_errors import flash
from ocrjobs.bulk import jobs_bulk_apply


def _back(request: HttpRequest) -> HttpResponse:
    """Back to the list as it was (its filters and page), never to another site."""
    target = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    return redirect(target if allowed and target.startswith("/jobs/") else "jobs")


@login_required
@require_POST
def jobs_bulk(request: HttpRequest) -> HttpResponse:
    """POST `action` (cancel, delete, retry) with `ids` (one per picked job), or `?only=<id>` for one row's button.
    Answers with a redirect back to the list and a message saying what was done and what was skipped; 404 when
    any id is not one of the account's jobs.

    Raises Http404 when a picked job is not the user's.
    """
    only = request.GET.get("only")
    ids = [only] if only else request.POST.getlist("ids")
    try:
        outcome = jobs_bulk_apply(user=request.user, action=request.POST.get("action", ""), job_ids=ids)
    except ApplicationError as exc:
        flash(request, exc)  # Http404 for a job that is not the user's
        return _back(request)
    level = messages.success if outcome.done and not outcome.stopped else messages.warning
    level(request, outcome.summary())
    return _back(request)
