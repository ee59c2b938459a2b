"""A fixed-window rate limit that holds under concurrency, on the database (SQLite or PostgreSQL), so it is exact
across threads, processes and machines whatever cache is configured."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import RateWindow


@dataclass(frozen=True)
class RateDecision:
    """A rate-limit verdict: whether allowed, and seconds until the current window ends."""

    allowed: bool
    retry_after_s: int  # seconds until the window ends


def rate_hit(*, key: str, limit: int, window_s: int, now: dt.datetime | None = None) -> RateDecision:
    """Count one hit of `key` in the current fixed window of `window_s` seconds (aligned to the epoch); allowed
    while the window holds at most `limit` hits. Atomic: a conditional `UPDATE … SET hits = hits + 1 WHERE hits <
    limit`; when it matches no row, an INSERT of the window's first hit, and if that row exists by then (a concurrent
    first hit, or a full window), the UPDATE once more. A refused hit is not counted. One query in the common case."""
    now = now or timezone.now()
    epoch = int(now.timestamp())
    start = epoch - epoch % window_s
    window = dt.datetime.fromtimestamp(start, tz=dt.UTC)
    decision = RateDecision(allowed=True, retry_after_s=max(1, start + window_s - epoch))
    rows = RateWindow.objects.filter(key=key, window=window, hits__lt=limit)
    if rows.update(hits=F("hits") + 1):
        return decision
    if limit > 0:
        try:  # the window's first hit; or the row exists (full, or created since the UPDATE above): try it again
            with transaction.atomic():
                RateWindow.objects.create(key=key, window=window, hits=1)
        except IntegrityError:
            if rows.update(hits=F("hits") + 1):
                return decision
        else:
            RateWindow.objects.filter(key=key, window__lt=window).delete()  # the key's past windows
            return decision
    return RateDecision(allowed=False, retry_after_s=decision.retry_after_s)
