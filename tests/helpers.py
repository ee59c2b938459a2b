"""Small readers the tests share: what an account has spent, where a signed URL points."""

from __future__ import annotations

from urllib.parse import urlsplit

from accounts.models import MonthlyUsage, User


def requests_used(user: User) -> int:
    """Requests `user` has spent this month: `MonthlyUsage.used` of their usage row, 0 before the first one."""
    return MonthlyUsage.objects.filter(user=user).values_list("used", flat=True).first() or 0


def path_and_query(url: str) -> str:
    """The path and query of an absolute URL (a signed upload or download URL), for Django's test client."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")
