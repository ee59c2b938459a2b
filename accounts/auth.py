"""Log-in: the form (case-insensitive e-mail, unconfirmed sign-ups refused) and django-axes' hooks (the lock key,
the client's address, the lockout page)."""

from __future__ import annotations

import logging
import math

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

logger = logging.getLogger("deepread.auth")


class LoginForm(AuthenticationForm):
    """Django's log-in form; an account made by sign-up logs in once its address is confirmed. Only someone who
    knows the password learns that the confirmation is missing."""

    def confirm_login_allowed(self, user) -> None:
        """Refuse a login until the account's e-mail address is confirmed.

        Raises forms.ValidationError (code "unconfirmed") when `user.email_verified` is false; Django's own
        checks (inactive account) run first.
        """
        super().confirm_login_allowed(user)
        if not user.email_verified:
            raise forms.ValidationError(
                "Confirm your e-mail address first: open the link we sent when you signed up (sign up again with "
                "the same address to get a new one).",
                code="unconfirmed",
            )


def axes_username(request: HttpRequest, credentials: dict | None) -> str:
    """The lock key's e-mail part, lower-cased and trimmed, so `Jane@X` and `jane@x` share one counter."""
    value = (credentials or {}).get("username") or request.POST.get("username", "")
    return str(value).strip().lower()[:254]


def client_ip(request: HttpRequest) -> str:
    """The client's address: the peer's, or with DEEPREAD_PROXY_COUNT proxies in front, the address the outermost
    trusted proxy saw (counted from the right of X-Forwarded-For, which a client can only prepend to)."""
    count = settings.DEEPREAD_PROXY_COUNT
    if count:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= count:
            return hops[-count]
    return request.META.get("REMOTE_ADDR", "")


def locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None) -> HttpResponse:
    """The answer while an address is locked: 429 with the log-in page and when to try again; logged."""
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME * 60))
    logger.warning(
        "Log-in locked for %s from %s after %d failures", axes_username(request, credentials), client_ip(request),
        settings.AXES_FAILURE_LIMIT,
    )  # fmt: skip
    response = render(
        request,
        "registration/login.html",
        {
            "form": LoginForm(request),
            "locked": f"Too many wrong passwords for this address. Try again in {minutes} minutes, or reset the "
            "password.",
        },
        status=settings.AXES_HTTP_RESPONSE_CODE,
    )
    response["Retry-After"] = str(minutes * 60)
    return response
