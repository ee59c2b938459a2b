import datetime as dt
import threading

import pytest
from django.core.management import call_command
from django.db import close_old_connections
from django.utils import timezone

from accounts.models import ApiKey, MonthlyUsage, User
from accounts.quota import month_start, next_month_start, quota_status_for
from accounts.selectors import api_key_authenticate
from accounts.services import api_key_revoke, quota_consume
from accounts.tiers import Tier
from core.errors import QuotaExceeded
from ocrjobs.models import Job
from tests.factories import ApiKeyFactory, UserFactory
from tests.helpers import requests_used

MODES_URL = "/api/v1/ocr-modes"
SIGN_URL = "/api/v1/upload/signed-url"


def test_key_is_stored_hashed_and_shown_once(user):
    key, raw = ApiKeyFactory.create_with_raw(user=user)
    assert raw.startswith("ocr_")
    assert len(raw) >= 4 + 43  # 32 random bytes, URL-safe base64
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw not in (stored.key_hash, stored.prefix)
    assert stored.prefix == raw[:12]
    assert api_key_authenticate(raw=raw) == stored


@pytest.mark.parametrize("header", ["HTTP_X_API_KEY", "HTTP_AUTHORIZATION"])
def test_both_headers_authenticate_and_record_last_use(client, api_key, header):
    key, raw = api_key
    value = raw if header == "HTTP_X_API_KEY" else f"Bearer {raw}"
    response = client.get(MODES_URL, **{header: value})
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_X_API_KEY": "ocr_not-a-real-key"}, {"HTTP_AUTHORIZATION": "Bearer nope"}, {"HTTP_X_API_KEY": ""}],
)
def test_missing_or_unknown_key_gets_401_in_detail_format(client, db, headers):
    response = client.get(MODES_URL, **headers)
    assert response.status_code == 401
    assert set(response.json()) == {"detail"}
    assert "X-RateLimit-Limit" not in response


def test_revoked_key_gets_401_and_creates_nothing(client, user, api_key):
    key, raw = api_key
    api_key_revoke(user=user, key_id=key.pk)
    response = client.post(SIGN_URL, HTTP_X_API_KEY=raw)
    assert response.status_code == 401
    assert Job.objects.count() == 0
    assert requests_used(user) == 0


def test_ratelimit_headers_on_every_authenticated_response(api, user):
    response = api.get(MODES_URL)
    assert response["X-RateLimit-Limit"] == "1000"
    assert response["X-RateLimit-Remaining"] == "1000"
    now = timezone.now()
    nxt = (now.replace(day=28) + dt.timedelta(days=5)).replace(day=1)
    assert response["X-RateLimit-Reset"] == f"{nxt:%Y-%m-%d}T00:00:00Z"
    response = api.post(SIGN_URL)
    assert response.status_code == 200
    assert response["X-RateLimit-Remaining"] == "999"
    assert api.get("/api/v1/results/00000000-0000-0000-0000-000000000000")["X-RateLimit-Remaining"] == "999"


def test_enterprise_responses_carry_no_ratelimit_headers(client, db):
    user = UserFactory(tier=Tier.ENTERPRISE)
    _, raw = ApiKeyFactory.create_with_raw(user=user)
    response = client.get(MODES_URL, HTTP_X_API_KEY=raw)
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response


def test_over_the_limit_gets_403_and_creates_nothing(api, user):
    MonthlyUsage.objects.create(user=user, month=month_start(timezone.now()), used=1000)
    response = api.post(SIGN_URL)
    assert response.status_code == 403
    assert "Monthly limit of 1000 requests" in response.json()["detail"]
    assert response["X-RateLimit-Remaining"] == "0"
    assert Job.objects.count() == 0
    assert requests_used(user) == 1000


def test_trial_expires_after_30_days(client, db):
    user = UserFactory(tier=Tier.TRIAL, date_joined=timezone.now() - dt.timedelta(days=31))
    _, raw = ApiKeyFactory.create_with_raw(user=user)
    response = client.post(SIGN_URL, HTTP_X_API_KEY=raw)
    assert response.status_code == 403
    assert "trial ended" in response.json()["detail"]
    assert response["X-RateLimit-Remaining"] == "0"
    assert Job.objects.count() == 0
    assert requests_used(user) == 0


def test_trial_reset_header_is_the_trial_end_when_sooner(client, db):
    joined = timezone.now() - dt.timedelta(days=29)
    user = UserFactory(tier=Tier.TRIAL, date_joined=joined)
    _, raw = ApiKeyFactory.create_with_raw(user=user)
    response = client.get(MODES_URL, HTTP_X_API_KEY=raw)
    expected = min(joined + dt.timedelta(days=30), next_month_start(timezone.now()))
    assert response["X-RateLimit-Reset"] == expected.isoformat().replace("+00:00", "Z")
    # With a fixed clock the trial end is always the sooner of the two.
    now = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    user.date_joined = now - dt.timedelta(days=29)
    status = quota_status_for(user, used=3, now=now)
    assert status.reset_at == dt.datetime(2026, 3, 11, 12, 0, tzinfo=dt.UTC)
    assert (status.expired, status.remaining) == (False, 997)


def test_burst_limit_answers_429_with_retry_after(api, user, settings):
    settings.DEEPREAD_BURST_PER_MINUTE = 3
    codes = [api.get(MODES_URL).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = api.post(SIGN_URL)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response["X-RateLimit-Limit"] == "1000"
    assert Job.objects.count() == 0
    assert requests_used(user) == 0


@pytest.mark.django_db(transaction=True)
def test_quota_is_exact_under_concurrency():
    user = UserFactory(tier=Tier.STANDARD)
    MonthlyUsage.objects.create(user=user, month=month_start(timezone.now()), used=995)
    outcomes: list[str] = []

    def spend():
        try:
            quota_consume(user=User.objects.get(pk=user.pk))
            outcomes.append("ok")
        except QuotaExceeded:
            outcomes.append("refused")
        finally:
            close_old_connections()

    threads = [threading.Thread(target=spend) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 5
    assert outcomes.count("refused") == 7
    assert requests_used(user) == 1000


def test_create_api_key_command_prints_the_key_alone_on_the_last_line(db, capsys):
    call_command("create_api_key", "new@example.com", "--tier", "pro", "--name", "ci")
    out = capsys.readouterr().out.strip().splitlines()
    raw = out[-1]
    key = api_key_authenticate(raw=raw)
    assert key is not None
    assert (key.user.email, key.user.tier, key.name) == ("new@example.com", "pro", "ci")
    call_command("create_api_key", "new@example.com")
    assert User.objects.filter(email="new@example.com").count() == 1
    assert ApiKey.objects.filter(user=key.user).count() == 2


def test_a_refund_reaches_the_daily_counter_the_usage_chart_reads(db):
    from accounts.models import DailyUsage
    from accounts.services import quota_refund

    user = UserFactory(tier=Tier.STANDARD)
    monday = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    tuesday = monday + dt.timedelta(days=1)
    quota_consume(user=user, now=monday)
    quota_consume(user=user, now=tuesday)
    quota_consume(user=user, now=tuesday)

    quota_refund(user_id=user.pk, month=month_start(monday), day=monday.date())
    quota_refund(user_id=user.pk, month=month_start(monday))  # no day given: the month's newest day

    daily = dict(DailyUsage.objects.filter(user=user).values_list("day", "used"))
    assert daily == {monday.date(): 0, tuesday.date(): 1}
    assert MonthlyUsage.objects.get(user=user).used == sum(daily.values()) == 1
