"""The accounts app's scheduled task: holds on quota left by web processes that died mid-call."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from accounts.quota_holds import quota_holds_sweep

logger = logging.getLogger(__name__)


@shared_task
def quota_holds_sweep_task() -> int:
    """Celery beat task: give back quota held by synchronous calls whose web process died; returns how many."""
    released = quota_holds_sweep(now=timezone.now())
    if released:
        logger.info("Gave back %d requests held by calls whose web process died", released)
    return released
