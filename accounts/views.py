"""Dashboard pages for the account: sign-up, welcome, API keys and usage. Thin: forms in, services and selectors."""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import ApiKeyForm, ConfirmForm, SignupForm
from accounts.selectors import api_key_list, api_key_month_counts, quota_status, usage_by_mode, usage_daily
from accounts.services import api_key_create, api_key_revoke
from accounts.signup import user_confirm, user_from_link, user_sign_up
from accounts.tiers import TIER_POLICIES, Tier


def home(request: HttpRequest) -> HttpResponse:
    """Redirect to the job list when logged in, else to the login page."""
    return redirect("jobs" if request.user.is_authenticated else "login")


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Sign-up creates an account or mails a reset link to the one that exists; either way the same redirect."""
    if request.user.is_authenticated:
        return redirect("jobs")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user_sign_up(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            base_url=request.build_absolute_uri("/"),
        )
        return redirect("signup-sent")
    return render(request, "registration/signup.html", {"form": form})


def signup_sent(request: HttpRequest) -> HttpResponse:
    """Page saying the confirmation e-mail is on its way (shown whatever the address was)."""
    return render(request, "registration/signup_sent.html")


@require_http_methods(["GET", "POST"])
def signup_confirm(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    """The link from the sign-up mail. GET asks for the password chosen at sign-up (mail scanners fetch links, and
    the link alone does not prove who signed up: accounts.signup.user_confirm); POST with it confirms and logs in."""
    user = user_from_link(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "registration/signup_confirm.html", {"valid": False}, status=400)
    form = ConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if user_confirm(user=user, password=form.cleaned_data["password"]):
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("welcome")
        form.add_error("password", "This is not the password chosen at sign-up (or there were too many tries).")
    status = 400 if request.method == "POST" else 200
    context = {"valid": True, "email": user.email, "form": form}
    return render(request, "registration/signup_confirm.html", context, status=status)


@login_required
def welcome(request: HttpRequest) -> HttpResponse:
    """First page after sign-up: quota and a form for the first API key."""
    return render(request, "accounts/welcome.html", {"quota": quota_status(user=request.user), "form": ApiKeyForm()})


def _keys_context(request: HttpRequest, **extra: object) -> dict:
    show_revoked = request.GET.get("revoked") == "show"
    keys = list(api_key_list(user=request.user, include_revoked=show_revoked))
    used = api_key_month_counts(user=request.user)
    for key in keys:
        key.month_requests = used.get(key.pk, 0)
    return {
        "keys": keys,
        "show_revoked": show_revoked,
        "revoked_count": api_key_list(user=request.user).filter(revoked_at__isnull=False).count(),
        "form": ApiKeyForm(),
        "base_url": request.build_absolute_uri("/").rstrip("/"),
        **extra,
    }


@login_required
def keys(request: HttpRequest) -> HttpResponse:
    """The user's API keys page."""
    return render(request, "accounts/keys.html", _keys_context(request))


@login_required
@require_POST
def key_create(request: HttpRequest) -> HttpResponse:
    """Create a key from ApiKeyForm (POST) and show its plaintext once, with `Cache-Control: no-store`.

    An invalid form answers 400 with the errors (the panel only for htmx requests).
    """
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        context = _keys_context(request, form=form)
        template = "accounts/keys.html#keys-panel" if request.htmx else "accounts/keys.html"
        return render(request, template, context, status=400)
    key, raw = api_key_create(
        user=request.user, name=form.cleaned_data["name"], expires_at=form.cleaned_data["expires_on"]
    )
    context = _keys_context(request, new_key=key, new_raw=raw)
    # The plaintext is in this response only: it is never stored, and reloading the page does not show it again.
    template = "accounts/keys.html#keys-panel" if request.htmx else "accounts/keys.html"
    response = render(request, template, context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    """GET asks for confirmation (the page works without JavaScript); POST revokes."""
    key = api_key_list(user=request.user).filter(pk=key_id).first()
    if key is None:
        return render(request, "404.html", status=404)
    if request.method == "GET":
        return render(request, "accounts/key_revoke.html", {"key": key})
    api_key_revoke(user=request.user, key_id=key.pk)
    if request.htmx:
        return render(request, "accounts/keys.html#keys-panel", _keys_context(request))
    messages.success(request, f"The key {key.name} ({key.prefix}…) is revoked.")
    return redirect("keys")


def _usage_csv(days: list) -> HttpResponse:
    """The last 30 days as CSV: `day` (ISO date, UTC) and `requests` (requests spent that day, refunds deducted)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="deepread-usage-30-days.csv"'
    writer = csv.writer(response, lineterminator="\n")
    writer.writerow(["day", "requests"])
    writer.writerows((day.isoformat(), n) for day, n in days)
    return response


@login_required
def usage(request: HttpRequest) -> HttpResponse:
    """This month's count against the tier's limit, the last 30 days as a chart (or `?format=csv`), the tiers."""
    days = usage_daily(user=request.user, days=30)
    if request.GET.get("format") == "csv":
        return _usage_csv(days)
    peak = max((n for _, n in days), default=0) or 1
    # the chart: 30 bars 20 units apart right of a 40-unit y axis, 100 units high; ticks at 0, half and the peak
    bars = [
        {
            "day": day,
            "count": n,
            "x": 42 + i * 20,
            "height": round(n / peak * 100),
            "y": 110 - round(n / peak * 100),
            "label": (len(days) - 1 - i) % 7 == 0,  # weekly back from today: the last two never collide
            "cx": 50 + i * 20,
        }
        for i, (day, n) in enumerate(days)
    ]
    y_ticks = [{"value": v, "y": 110 - round(v / peak * 100)} for v in sorted({0, peak // 2, peak})]
    tiers = [
        {
            "name": Tier(name).label,
            "limit": policy.monthly_limit,
            "expires": policy.expires,
            "current": name == request.user.tier,
        }
        for name, policy in TIER_POLICIES.items()
    ]
    return render(
        request,
        "accounts/usage.html",
        {
            "quota": quota_status(user=request.user),
            "bars": bars,
            "y_ticks": y_ticks,
            "by_mode": usage_by_mode(user=request.user, days=30),
            "peak": peak,
            "total_30": sum(n for _, n in days),
            "tiers": tiers,
            "trial_days": settings.DEEPREAD_TRIAL_DAYS,
        },
    )
