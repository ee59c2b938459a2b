"""Quota arithmetic shared by the services and selectors: month boundaries, trial end, the status triple."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from accounts.models import User
from accounts.tiers import TIER_POLICIES


def month_start(now: dt.datetime) -> dt.date:
    """First day (UTC) of the calendar month containing `now` (an aware datetime); the key of MonthlyUsage rows."""
    return now.astimezone(dt.UTC).date().replace(day=1)


def next_month_start(now: dt.datetime) -> dt.datetime:
    """Midnight UTC on the first day of the month after `now`: when the monthly count resets."""
    first = month_start(now)
    year, month = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
    return dt.datetime(year, month, 1, tzinfo=dt.UTC)


def trial_end(user: User) -> dt.datetime | None:
    """When a trial account stops working (date_joined + DEEPREAD_TRIAL_DAYS), or None for tiers that do not expire."""
    if not TIER_POLICIES[user.tier].expires:
        return None
    return user.date_joined + dt.timedelta(days=settings.DEEPREAD_TRIAL_DAYS)


@dataclass(frozen=True)
class QuotaStatus:
    """One account's quota now. `reset_at` is when the count next starts again or the trial ends, whichever is
    sooner (the X-RateLimit-Reset header); `month_resets_at` is the first of next month, 00:00 UTC; `trial_ends_at`
    is the trial's end (None for tiers without one)."""

    limit: int | None  # None: unlimited (enterprise)
    used: int
    reset_at: dt.datetime
    expired: bool
    month_resets_at: dt.datetime | None = None
    trial_ends_at: dt.datetime | None = None

    @property
    def remaining(self) -> int | None:
        """Requests left this month: None when unlimited, 0 once the trial has expired, never negative."""
        if self.limit is None:
            return None
        return 0 if self.expired else max(self.limit - self.used, 0)

    def headers(self) -> dict[str, str]:
        """The X-RateLimit-* headers of API.md §1; enterprise responses carry none."""
        if self.limit is None:
            return {}
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": self.reset_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        }


def quota_status_for(user: User, *, used: int, now: dt.datetime) -> QuotaStatus:
    """Build the QuotaStatus from `used` (requests this month, from MonthlyUsage) and the user's tier policy.

    `reset_at` is the sooner of next month's start and the trial's end; pure, no queries.
    """
    policy = TIER_POLICIES[user.tier]
    reset = next_month_start(now)
    end = trial_end(user)
    if end is not None and end < reset:
        reset = end
    return QuotaStatus(
        limit=policy.monthly_limit,
        used=used,
        reset_at=reset,
        expired=end is not None and now >= end,
        month_resets_at=next_month_start(now),
        trial_ends_at=end,
    )
