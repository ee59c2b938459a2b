"""Log-in throttling with django-axes (issue 11, item 5): an e-mail address from one client address is locked after
DEEPREAD_LOGIN_FAILURE_LIMIT wrong passwords, the right one included, on the dashboard and /admin/ alike; the
lock is per address pair and ends after the cool-down; API keys are unaffected."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tests.factories import ApiKeyFactory, UserFactory

PASSWORD = "a long enough pass phrase"
LIMIT = 3


@pytest.fixture(autouse=True)
def _throttle(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = LIMIT


@pytest.fixture
def jane(db):
    user = UserFactory(email="jane@example.com", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def _log_in(client: Client, email: str, password: str, ip: str = "203.0.113.7", path: str = "/accounts/login/"):
    return client.post(path, {"username": email, "password": password}, REMOTE_ADDR=ip)


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_after_the_limit_even_the_right_password_is_refused(jane, path, caplog):
    client = Client()
    for n in range(LIMIT):
        response = _log_in(client, "Jane@Example.com" if n % 2 else "jane@example.com", "wrong", path=path)
        assert response.status_code == (200 if n < LIMIT - 1 else 429), n
    with caplog.at_level(logging.WARNING, logger="deepread.auth"):
        locked = _log_in(client, "jane@example.com", PASSWORD, path=path)
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 15 * 60
    assert b"Too many wrong passwords" in locked.content
    assert not _logged_in(client)
    assert "Log-in locked for jane@example.com from 203.0.113.7" in caplog.text


def test_the_lock_is_per_address_and_client_and_ends_after_the_cool_down(jane):
    client = Client()
    for _ in range(LIMIT):
        _log_in(client, "jane@example.com", "wrong")
    assert _log_in(client, "jane@example.com", PASSWORD).status_code == 429
    # The same address from another client, and another address from the same client, are not locked.
    other = Client()
    assert _log_in(other, "jane@example.com", PASSWORD, ip="198.51.100.9").status_code == 302
    assert _logged_in(other)
    stranger = UserFactory(email="sam@example.com")
    stranger.set_password(PASSWORD)
    stranger.save()
    assert _log_in(Client(), "sam@example.com", PASSWORD).status_code == 302
    # The cool-down passes (the attempts are 16 minutes old): the right password works and resets the count.
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    assert _log_in(client, "jane@example.com", PASSWORD).status_code == 302
    assert _logged_in(client)


def test_api_keys_are_not_throttled_by_failed_log_ins(jane):
    _, raw = ApiKeyFactory.create_with_raw(user=jane)
    for _ in range(LIMIT + 2):
        _log_in(Client(), "jane@example.com", "wrong")
    assert _log_in(Client(), "jane@example.com", PASSWORD).status_code == 429
    for _ in range(3):
        assert Client().get("/api/v1/ocr-modes", HTTP_X_API_KEY=raw).status_code == 200


def test_a_success_before_the_limit_resets_the_count(jane):
    client = Client()
    for _ in range(LIMIT - 1):
        _log_in(client, "jane@example.com", "wrong")
    assert _log_in(client, "jane@example.com", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(LIMIT - 1):
        assert _log_in(client, "jane@example.com", "wrong").status_code == 200
    assert _log_in(client, "jane@example.com", PASSWORD).status_code == 302
