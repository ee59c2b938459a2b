"""Reads for accounts."""

from __future__ import annotations

import datetime as dt
import hmac

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import ApiKey, DailyUsage, MonthlyUsage, User
from accounts.quota import QuotaStatus, month_start, quota_status_for
from accounts.services import KEY_PREFIX, hash_api_key


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The active key matching `raw`, or None. The lookup is by hash; the final compare is constant-time."""
    if not raw.startswith(KEY_PREFIX) or len(raw) > 200:
        return None
    digest = hash_api_key(raw)
    key = ApiKey.objects.select_related("user").filter(key_hash=digest).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    if key.revoked_at is not None or not key.user.is_active:
        return None
    return key


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at")


def quota_status(*, user: User, now: dt.datetime | None = None) -> QuotaStatus:
    now = now or timezone.now()
    used = MonthlyUsage.objects.filter(user=user, month=month_start(now)).values_list("used", flat=True).first() or 0
    return quota_status_for(user, used=used, now=now)


def usage_daily(*, user: User, days: int = 30, now: dt.datetime | None = None) -> list[tuple[dt.date, int]]:
    today = (now or timezone.now()).astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    counts = dict(DailyUsage.objects.filter(user=user, day__gte=first).values_list("day", "used"))
    return [(first + dt.timedelta(days=i), counts.get(first + dt.timedelta(days=i), 0)) for i in range(days)]
