"""A strict Content-Security-Policy on every page: scripts, styles, fonts and images from this site only, no inline
script or style, no framing. The pages keep it (their JavaScript is in static/js, htmx's inline indicator style is
turned off). Swagger UI (/api/docs/) and the admin carry their own inline code and are left out."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

EXEMPT = ("/api/docs/", "/admin/")


def content_security_policy() -> str:
    """The Content-Security-Policy header value: same-origin only, plus the S3 endpoint in connect-src when
    DEEPREAD_STORAGE is "s3" (browser uploads go straight to the bucket).
    """
    connect = ["'self'"]
    endpoint = getattr(settings, "AWS_S3_ENDPOINT_URL", "") or ""
    if settings.DEEPREAD_STORAGE == "s3":  # uploads from the browser go straight to the bucket
        parts = urlsplit(endpoint) if endpoint else None
        connect.append(f"{parts.scheme}://{parts.netloc}" if parts else "https://*.amazonaws.com")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "font-src 'self'",
            f"connect-src {' '.join(connect)}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class ContentSecurityPolicyMiddleware:
    """Adds the Content-Security-Policy header to every response outside EXEMPT paths that lacks one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = content_security_policy()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(EXEMPT) and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response


class DatabaseUnavailableMiddleware:
    """Outside DRF (the dashboard, the storage endpoints): a database that cannot be reached answers 503 with
    Retry-After, as JSON where the caller is a program, not a traceback page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """Answer 503 with Retry-After (ServiceUnavailable, `core.api_errors.translated`) when the database is
        unreachable, in the format of the path's interface (`core.error_formats`: `{"detail"}` under /api and
        /storage, OpenAI's under /v1, a short HTML page elsewhere); None lets other exceptions propagate.
        """
        from core.api_errors import translated
        from core.error_formats import response_for
        from core.errors import ServiceUnavailable

        error = translated(exception)
        if not isinstance(error, ServiceUnavailable):
            return None
        return response_for(request.path, error, title="Unavailable")
