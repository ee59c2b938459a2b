"""The base class of every authenticated /api/v1 and /v1 view: it adds the X-RateLimit-* headers."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.quota import QuotaStatus
from accounts.selectors import quota_status


class QuotaHeadersAPIView(APIView):
    """Base view for /api/v1 and /v1: API-key responses carry the account's quota headers."""

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Response:
        """Add the key owner's X-RateLimit-Limit/-Remaining/-Reset quota headers to an API-key response (none for an
        unlimited tier).

        Reuses the status the view left on `request.quota_status`, else reads it once; session calls get none.
        """
        response = super().finalize_response(request, response, *args, **kwargs)
        key = getattr(request, "_auth", None)
        if isinstance(key, ApiKey):
            status: QuotaStatus = getattr(request, "quota_status", None) or quota_status(user=key.user)
            for name, value in status.headers().items():
                response[name] = value
        return response
