"""Small helpers the tests share: what an account has spent, where a signed URL points, waiting for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from accounts.models import MonthlyUsage, User


def requests_used(user: User) -> int:
    """Requests `user` has spent this month: `MonthlyUsage.used` of their usage row, 0 before the first one."""
    return MonthlyUsage.objects.filter(user=user).values_list("used", flat=True).first() or 0


def path_and_query(url: str) -> str:
    """The path and query of an absolute URL (a signed upload or download URL), for Django's test client."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def wait_until(condition: Callable[[], object], what: str, *, bound_s: float, poll_s: float = 0.02) -> None:
    """Return once `condition()` is true; AssertionError naming `what` after `bound_s` seconds (a bound that only
    catches a hang, never a measure of speed). Polls every `poll_s` seconds."""
    deadline = time.monotonic() + bound_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(poll_s)
