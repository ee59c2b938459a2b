"""The web server takes the client's address from the socket: a forged X-Forwarded-For cannot spread log-in
failures over invented addresses to dodge the lock (uvicorn trusts the header from 127.0.0.1 by default)."""

from __future__ import annotations

import re

import pytest
import requests

pytestmark = pytest.mark.e2e


def _try_log_in(base: str, email: str, password: str, forwarded_for: str) -> int:
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=30).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": email, "password": password, "csrfmiddlewaretoken": token},
        headers={"X-Forwarded-For": forwarded_for, "Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    return response.status_code


def test_a_forged_forwarded_for_does_not_dodge_the_log_in_lock(service):
    email = "forwarded@example.com"
    service.manage("create_api_key", email)  # creates the account
    codes = [_try_log_in(service.base_url, email, "wrong password", f"10.0.0.{n}") for n in range(1, 8)]
    assert codes[:4] == [200] * 4  # the form again, with its error
    assert set(codes[4:]) == {429}  # the fifth failure locks e-mail + address (DEEPREAD_LOGIN_FAILURE_LIMIT=5)
    access = service.log("web")
    assert "10.0.0." not in access
