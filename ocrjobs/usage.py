"""The usage log behind `GET /api/v1/usage`: one row per counted request, read by day, mode and API key."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count
from django.utils import timezone

from accounts.models import ApiKey, User
from accounts.selectors import quota_status
from ocrjobs.models import UsageRecord


def usage_record(*, user: User, api_key_id: int | None, kind: str, mode: str, now: dt.datetime | None = None) -> None:
    """Log one counted request (`kind` job or sync) in the caller's transaction."""
    now = now or timezone.now()
    day = now.astimezone(dt.UTC).date()
    UsageRecord.objects.create(user=user, api_key_id=api_key_id, kind=kind, mode=mode, day=day)


def usage_summary(*, user: User, days: int = 30, now: dt.datetime | None = None) -> dict:
    """This month's count, limit and reset (the quota's own numbers), and for the last `days` days (UTC, oldest
    first, today included): requests per day, per mode and per API key. Four queries.

    Shape: `{"month": {"used", "limit", "remaining", "reset"}, "days": [{"date", "count"}], "by_mode":
    [{"mode", "count"}], "by_api_key": [{"api_key_id", "name", "prefix", "count"}]}`; `limit`/`remaining` are null
    for an unlimited tier, and requests made from the dashboard have `api_key_id` null."""
    now = now or timezone.now()
    status = quota_status(user=user, now=now)
    today = now.astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    rows = UsageRecord.objects.filter(user=user, day__gte=first).order_by()
    per_day = dict(rows.values_list("day").annotate(n=Count("pk")).values_list("day", "n"))
    per_mode = rows.values_list("mode").annotate(n=Count("pk")).order_by("-n", "mode").values_list("mode", "n")
    per_key = rows.values_list("api_key_id").annotate(n=Count("pk")).order_by("-n").values_list("api_key_id", "n")
    per_key = list(per_key)
    keys = {k.pk: k for k in ApiKey.objects.filter(pk__in=[k for k, _ in per_key if k])}
    return {
        "month": {
            "used": status.used,
            "limit": status.limit,
            "remaining": status.remaining,
            "reset": status.reset_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        },
        "days": [
            {"date": (first + dt.timedelta(days=i)).isoformat(), "count": per_day.get(first + dt.timedelta(days=i), 0)}
            for i in range(days)
        ],
        "by_mode": [{"mode": mode, "count": n} for mode, n in per_mode],
        "by_api_key": [
            {
                "api_key_id": key_id,
                "name": keys[key_id].name if key_id in keys else "dashboard",
                "prefix": keys[key_id].prefix if key_id in keys else None,
                "count": n,
            }
            for key_id, n in per_key
        ],
    }
