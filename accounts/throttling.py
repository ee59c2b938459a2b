"""Per-key burst limit (API.md §1: 429 with Retry-After). Monthly quotas are enforced in services, not here.

A fixed window of one minute, counted atomically across every process (`core.ratelimit`: Redis when
`REDIS_URL` is set, else a SQLite file under var/). Exactly DEEPREAD_BURST_PER_MINUTE calls of a key are allowed in
each clock minute, however many clients send them at once; `Retry-After` is the time left in the minute."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from core import ratelimit

logger = logging.getLogger(__name__)
WINDOW_S = 60


class ApiKeyBurstThrottle(BaseThrottle):
    """DRF throttle: per-API-key burst limit of DEEPREAD_BURST_PER_MINUTE requests in a fixed one-minute window."""

    timer = staticmethod(time.time)  # the clock; tests replace it

    def __init__(self) -> None:
        self.hit: ratelimit.Hit | None = None
        self.now = 0.0

    def allow_request(self, request: Request, view: object) -> bool:
        """Allow at most DEEPREAD_BURST_PER_MINUTE requests per API key per minute; session calls are not limited.

        When the counter store (Redis) is down the request is allowed and a warning logged.
        """
        if request.auth is None:
            return True
        self.now = self.timer()
        try:
            self.hit = ratelimit.hit(
                key=f"burst:{request.auth.pk}",
                limit=settings.DEEPREAD_BURST_PER_MINUTE,  # read per request: settings overrides take effect
                window_s=WINDOW_S,
                now=self.now,
            )
        except Exception as exc:  # the counter store is down: the monthly quota still holds, so let it through
            logger.warning("Burst limiter unavailable (%s); request allowed", type(exc).__name__)
            return True
        return self.hit.allowed

    def wait(self) -> float | None:
        """Seconds until the current window ends (DRF's Retry-After)."""
        return None if self.hit is None else float(self.hit.retry_after(self.now))
