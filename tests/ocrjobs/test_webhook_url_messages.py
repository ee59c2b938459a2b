"""Webhook URLs and the SSRF guard's messages (issue 11 item 6, the class beyond image URLs): a host that does not
resolve, one that resolves to a private address and a private literal all get one message naming no address, so
setting a webhook is no probe of the internal network's DNS; nothing is stored."""

from __future__ import annotations

import pytest

from accounts.models import MonthlyUsage
from core import urlfetch
from ocrjobs.models import Job, WebhookEndpoint

SIGN_URL = "/api/v1/upload/signed-url"


@pytest.fixture
def internal_dns(monkeypatch):
    """`intranet.corp.test` resolves to a private address; every other name does not resolve."""

    def resolver(host, port):
        if host == "intranet.corp.test":
            return ["10.20.30.40"]
        raise urlfetch.FetchError(urlfetch.NOT_FETCHED)

    monkeypatch.setattr(urlfetch, "system_resolver", resolver)


URLS = [
    "http://intranet.corp.test/hook",  # resolves, privately
    "http://nothing-here.corp.test/hook",  # does not resolve
    "http://10.20.30.40/hook",
    "http://[fd00::1]/hook",
    "http://127.0.0.1:9/hook",
]


def _detail(response) -> str:
    assert response.status_code == 400, response.content
    return response.json()["detail"]


def test_webhook_endpoints_get_one_message_for_unresolvable_and_private_hosts(api, user, internal_dns):
    details = {url: _detail(api.post("/api/v1/webhooks", {"url": url}, format="json")) for url in URLS}
    assert len(set(details.values())) == 1, details
    (message,) = set(details.values())
    assert "private or reserved address" in message
    for leak in ("10.20.30.40", "fd00", "127.0.0.1", "→", "intranet", "could not be resolved"):
        assert leak not in message
    assert not WebhookEndpoint.objects.exists()


def test_a_jobs_callback_url_gets_the_same_message(api, user, internal_dns):
    details = {
        url: _detail(api.post(SIGN_URL, {"filename": "a.png", "callback_url": url}, format="json")) for url in URLS
    }
    assert len(set(details.values())) == 1, details
    assert "10.20.30.40" not in next(iter(details.values()))
    assert Job.objects.count() == 0
    assert not MonthlyUsage.objects.filter(user=user, used__gt=0).exists()  # nothing spent
