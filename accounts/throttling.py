"""Per-key burst limit (API.md §1: 429 with Retry-After). Monthly quotas are enforced in services, not here."""

from __future__ import annotations

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class ApiKeyBurstThrottle(SimpleRateThrottle):
    scope = "api_key_burst"

    def get_rate(self) -> str:
        return f"{settings.DEEPREAD_BURST_PER_MINUTE}/min"

    def allow_request(self, request: Request, view: object) -> bool:
        # The rate is read per request so that settings overrides (tests, reloads) take effect.
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: object) -> str | None:
        if request.auth is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
