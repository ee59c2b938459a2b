"""Reads for accounts."""

from __future__ import annotations

import datetime as dt
import hmac

from django.db.models import Count, QuerySet
from django.utils import timezone

from accounts.keys import KEY_PREFIX, hash_api_key
from accounts.models import ApiKey, DailyUsage, MonthlyUsage, User
from accounts.quota import QuotaStatus, month_start, quota_status_for


def api_key_authenticate(*, raw: str) -> ApiKey | None:
    """The active key matching `raw`, or None. The lookup is by hash; the final compare is constant-time."""
    if not raw.startswith(KEY_PREFIX) or len(raw) > 200:
        return None
    digest = hash_api_key(raw)
    key = ApiKey.objects.select_related("user").filter(key_hash=digest).first()
    if key is None or not hmac.compare_digest(key.key_hash, digest):
        return None
    if key.revoked_at is not None or key.is_expired or not key.user.is_active:
        return None
    return key


def api_key_list(*, user: User, include_revoked: bool = True) -> QuerySet[ApiKey]:
    """The account's keys, newest first; without the revoked ones unless `include_revoked`."""
    keys = ApiKey.objects.filter(user=user).order_by("-created_at")
    return keys if include_revoked else keys.filter(revoked_at__isnull=True)


def quota_status(*, user: User, now: dt.datetime | None = None) -> QuotaStatus:
    """The user's QuotaStatus at `now` (default: now), from this month's MonthlyUsage row (one query)."""
    now = now or timezone.now()
    used = MonthlyUsage.objects.filter(user=user, month=month_start(now)).values_list("used", flat=True).first() or 0
    return quota_status_for(user, used=used, now=now)


def usage_daily(*, user: User, days: int = 30, now: dt.datetime | None = None) -> list[tuple[dt.date, int]]:
    """Requests per UTC day for the last `days` days ending today, oldest first: `[(date, count)]`, zeros filled in."""
    today = (now or timezone.now()).astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    counts = dict(DailyUsage.objects.filter(user=user, day__gte=first).values_list("day", "used"))
    return [(first + dt.timedelta(days=i), counts.get(first + dt.timedelta(days=i), 0)) for i in range(days)]


def api_key_month_counts(*, user: User, now: dt.datetime | None = None) -> dict[int, int]:
    """Requests made with each of the account's keys this month (UTC), as {key id: count}; keys never used are
    absent. Read from the usage log (jobs and /v1/ocr calls) through its reverse relation."""
    first = month_start(now or timezone.now())
    rows = ApiKey.objects.filter(user=user, usagerecord__day__gte=first).annotate(n=Count("usagerecord"))
    return dict(rows.values_list("pk", "n"))


def usage_by_mode(*, user: User, days: int = 30, now: dt.datetime | None = None) -> list[tuple[str, int]]:
    """Requests per mode over the last `days` days (UTC, today included), busiest first: [(mode, count)]."""
    first = (now or timezone.now()).astimezone(dt.UTC).date() - dt.timedelta(days=days - 1)
    rows = user.usage_records.filter(day__gte=first).order_by().values_list("mode").annotate(n=Count("pk"))
    return sorted(rows, key=lambda row: (-row[1], row[0]))
