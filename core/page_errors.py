"""The dashboard's one mapping of the error family (`core.errors`): the htmx and form views refuse through these.

- `not_found_page`: NotFound is Django's 404 page (another account's object looks like no object at all);
- `flash`: a refused form action is a message on the page the view redirects to;
- `json_refusal`: the upload page's script gets `{"error": message}` with the error's status;
- `fragment_refusal`: an htmx fragment renders the message in its `error` slot with the error's status.
`Retry-After` (seconds) goes with the JSON and fragment answers when the error has one.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.error_formats import retry_headers
from core.errors import ApplicationError, NotFound


def not_found_page(exc: ApplicationError) -> None:
    """Raise Http404 (with `exc.message`) when `exc` is a NotFound; otherwise return."""
    if isinstance(exc, NotFound):
        raise Http404(exc.message) from exc


def flash(request: HttpRequest, exc: ApplicationError) -> None:
    """Show `exc.message` as an error message on the next page; a NotFound raises Http404 instead."""
    not_found_page(exc)
    messages.error(request, exc.message)


def json_refusal(exc: ApplicationError) -> JsonResponse:
    """`{"error": message}` with `exc.status_code` (and Retry-After when it has one), for the dashboard's scripts."""
    return JsonResponse({"error": exc.message}, status=exc.status_code, headers=retry_headers(exc) or None)


def fragment_refusal(
    request: HttpRequest, template: str, exc: ApplicationError, *, context: dict[str, Any] | None = None
) -> HttpResponse:
    """The htmx fragment `template` with `error` set to `exc.message` (plus `context`), status `exc.status_code`."""
    response = render(request, template, {**(context or {}), "error": exc.message}, status=exc.status_code)
    for name, value in retry_headers(exc).items():
        response[name] = value
    return response
