"""Holds on spent quota for calls that run in a web process (`POST /v1/ocr`), so that a web process that dies
mid-call still gives the request back.

`quota_hold_create` runs in the transaction that spends the request; the call ends with `quota_hold_release`
(refunding on failure). A hold outlives its call only if the process died: `quota_holds_sweep`, run by the
scheduler, releases every hold past `expires_at` with a refund. A hold is released once: the delete that finds it
decides who refunds.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction

from accounts.models import QuotaHold, User
from accounts.quota import month_start
from accounts.services import quota_refund


def quota_hold_create(*, user: User, now: dt.datetime) -> QuotaHold:
    """A hold on one request spent this month; expires after DEEPREAD_SYNC_HOLD_S seconds (longer than any call)."""
    return QuotaHold.objects.create(
        user=user,
        month=month_start(now),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.DEEPREAD_SYNC_HOLD_S),
    )


def quota_hold_release(*, hold_id: int, refund: bool) -> bool:
    """End a hold; with `refund`, give its request back. Returns False if the hold was already released (by the
    sweep, for a call that outlived its hold), in which case nothing is refunded again."""
    if not refund:
        return QuotaHold.objects.filter(pk=hold_id).delete()[0] > 0
    with transaction.atomic():
        hold = QuotaHold.objects.filter(pk=hold_id).values("user_id", "month").first()
        if hold is None or QuotaHold.objects.filter(pk=hold_id).delete()[0] == 0:
            return False
        quota_refund(user_id=hold["user_id"], month=hold["month"])
    return True


def quota_holds_sweep(*, now: dt.datetime) -> int:
    """Release, with a refund, every hold past its expiry (its web process died). Returns how many."""
    expired = list(QuotaHold.objects.filter(expires_at__lt=now).values_list("pk", flat=True)[:1000])
    return sum(quota_hold_release(hold_id=pk, refund=True) for pk in expired)
