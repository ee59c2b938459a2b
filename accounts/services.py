"""Writes for accounts: users, API keys and the monthly quota."""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.keys import KEY_PREFIX, hash_api_key
from accounts.models import ApiKey, DailyUsage, MonthlyUsage, User
from accounts.quota import QuotaStatus, month_start, quota_status_for
from accounts.tiers import TIER_POLICIES, Tier
from core.errors import NotFound, QuotaExceeded

LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def user_get_or_create(*, email: str, tier: str | None = None, password: str | None = None) -> tuple[User, bool]:
    """For operators (`manage.py create_api_key`), never for sign-up: the account for `email` (any case), created
    when missing, with `tier` set. A concurrent creation of the same address is found, not duplicated."""
    email = User.objects.normalize_email(email).strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    created = False
    if user is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(email=email, password=password, tier=tier or Tier.TRIAL)
                created = True
        except IntegrityError:
            user = User.objects.get(email__iexact=email)
    if tier and user.tier != tier:
        User.objects.filter(pk=user.pk).update(tier=tier)
        user.tier = tier
    return user, created


def api_key_create(*, user: User, name: str = "default", expires_at: dt.datetime | None = None) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored and never shown again.

    `expires_at` (aware datetime) ends the key by itself; None keeps it until it is revoked.
    """
    raw = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        user=user, name=name.strip() or "default", prefix=raw[:12], key_hash=hash_api_key(raw), expires_at=expires_at
    )
    key.full_clean()
    key.save()
    return key, raw


def api_key_revoke(*, user: User, key_id: int) -> ApiKey:
    """Revoke one of `user`'s keys (idempotent: an already revoked key keeps its time) and return it.

    Raises NotFound (404) when `key_id` is not one of the user's keys.
    """
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(user=user, pk=key_id).first()
        if key is None:
            raise NotFound("No such API key.")
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
    return key


def api_key_touch(*, key: ApiKey, now: dt.datetime | None = None) -> None:
    """Record use, writing at most once a minute per key."""
    now = now or timezone.now()
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now


def _trial_ended(status: QuotaStatus) -> QuotaExceeded:
    """The refusal of an account whose trial ended (`status.reset_at` is the day it ended)."""
    return QuotaExceeded(f"Your trial ended on {status.reset_at:%Y-%m-%d}. Upgrade the account to keep using DeepRead.")


def _limit_reached(user: User, *, limit: int | None, status: QuotaStatus) -> QuotaExceeded:
    """The refusal of an account whose `limit` requests this month are spent (`status.reset_at`: when it resets)."""
    return QuotaExceeded(
        f"Monthly limit of {limit} requests reached for the {user.get_tier_display()} tier. "
        f"It resets at {status.reset_at:%Y-%m-%d %H:%M} UTC."
    )


def quota_require(*, user: User, units: int = 1, now: dt.datetime | None = None) -> None:
    """Refuse early, spending nothing, when the quota cannot cover `units` (an expired trial, a full month).
    `quota_consume` still decides under its conditional update; this only orders errors for callers that have
    other checks in between (the engine's readiness, say)."""
    from accounts.selectors import quota_status

    status = quota_status(user=user, now=now)
    if status.expired:
        raise _trial_ended(status)
    if status.remaining is not None and status.remaining < units:
        raise _limit_reached(user, limit=status.limit, status=status)


def quota_consume(*, user: User, units: int = 1, now: dt.datetime | None = None) -> QuotaStatus:
    """Spend `units` of this month's quota, or raise QuotaExceeded having spent nothing.

    The caller holds the transaction that creates the work, so a refusal later in it rolls the spend back. The
    conditional UPDATE (`used + units <= limit`) is exact under concurrency on SQLite and PostgreSQL alike.
    """
    now = now or timezone.now()
    status = quota_status_for(user, used=0, now=now)
    if status.expired:
        raise _trial_ended(status)
    month = month_start(now)
    day = now.astimezone(dt.UTC).date()
    limit = TIER_POLICIES[user.tier].monthly_limit
    with transaction.atomic(savepoint=False):
        # The common case is one conditional UPDATE per counter; a month's or day's first request creates its row.
        if not _spend(MonthlyUsage.objects.filter(user=user, month=month), units=units, limit=limit):
            MonthlyUsage.objects.get_or_create(user=user, month=month)
            if not _spend(MonthlyUsage.objects.filter(user=user, month=month), units=units, limit=limit):
                raise _limit_reached(user, limit=limit, status=status)
        if not _spend(DailyUsage.objects.filter(user=user, day=day), units=units, limit=None):
            DailyUsage.objects.get_or_create(user=user, day=day)
            _spend(DailyUsage.objects.filter(user=user, day=day), units=units, limit=None)
        used = MonthlyUsage.objects.values_list("used", flat=True).get(user=user, month=month)
    return quota_status_for(user, used=used, now=now)


def _spend(rows, *, units: int, limit: int | None) -> bool:
    if limit is not None:
        rows = rows.filter(used__lte=limit - units)
    return rows.update(used=F("used") + units) == 1


def quota_refund(*, user_id: int, month: dt.date, units: int = 1, day: dt.date | None = None) -> None:
    """Give back `units` requests spent in `month` (its first day, UTC) on work that failed through no fault of the
    input, from the monthly counter and from the daily counter the usage chart reads.

    `day` is the UTC day the units were spent (a job's `created_at` date); without it, the newest day of that month
    with enough units is refunded, so the chart's total still equals the month's count. Never goes below zero.
    """
    with transaction.atomic(savepoint=False):
        MonthlyUsage.objects.filter(user_id=user_id, month=month, used__gte=units).update(used=F("used") - units)
        days = DailyUsage.objects.filter(user_id=user_id, used__gte=units)
        if day is None:
            next_month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            day = days.filter(day__gte=month, day__lt=next_month).order_by("-day").values_list("day", flat=True).first()
        if day is not None:
            days.filter(day=day).update(used=F("used") - units)
