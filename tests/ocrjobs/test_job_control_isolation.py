"""The isolation matrix of tests/test_isolation.py for the job-control endpoints and pages (issue 16): anonymous
callers, another account, a revoked key and an expired trial reach none of the owner's jobs, webhooks, deliveries
or mode versions, and change nothing."""

from __future__ import annotations

import pytest

from ocrjobs.models import Job, JobPage, WebhookDelivery, WebhookEndpoint
from tests.test_isolation import _callers, _snapshot, owner_world  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def _owner_hooks(world) -> tuple[WebhookEndpoint, WebhookDelivery]:
    owner, job = world["owner"], world["job"]
    url = "https://example.com/private-hook"
    endpoint = WebhookEndpoint.objects.create(owner=owner, url=url, events=["job.completed"], secret="whsec_c2VjcmV0")
    delivery = WebhookDelivery.objects.create(
        owner=owner, endpoint=endpoint, job=job, url=url, event="job.completed", msg_id="msg_private", payload={}
    )
    return endpoint, delivery


def _state(world) -> tuple:
    return (
        _snapshot(world),
        list(Job.objects.order_by("pk").values_list("pk", "status")),
        JobPage.objects.count(),
        list(WebhookEndpoint.objects.values_list("pk", "url", "is_active")),
        list(WebhookDelivery.objects.values_list("pk", "status")),
    )


def test_api_matrix(client, owner_world):  # noqa: F811
    endpoint, delivery = _owner_hooks(owner_world)
    job = owner_world["job"]
    callers, _ = _callers(None)
    before = _state(owner_world)
    calls = [
        ("get", f"/api/v1/jobs/{job.id}"), ("delete", f"/api/v1/jobs/{job.id}"),
        ("post", f"/api/v1/jobs/{job.id}/cancel"), ("post", f"/api/v1/jobs/{job.id}/retry"),
        ("get", f"/api/v1/jobs/{job.id}/events"), ("get", f"/api/v1/webhooks/{endpoint.pk}"),
        ("patch", f"/api/v1/webhooks/{endpoint.pk}"), ("delete", f"/api/v1/webhooks/{endpoint.pk}"),
        ("post", f"/api/v1/webhooks/deliveries/{delivery.pk}/redeliver"),
        ("get", "/api/v1/ocr-modes/secret-mode/versions"),
        ("get", "/api/v1/webhooks"), ("get", "/api/v1/webhooks/deliveries"), ("get", "/api/v1/usage"),
        ("get", "/api/v1/settings"),
    ]  # fmt: skip
    lists = {"/api/v1/webhooks", "/api/v1/webhooks/deliveries", "/api/v1/usage", "/api/v1/settings"}
    for who, headers in callers.items():
        for method, url in calls:
            response = getattr(client, method)(url, content_type="application/json", data={"is_active": False}
                                               if method == "patch" else None, **headers)  # fmt: skip
            text = response.content.decode() if not response.streaming else ""
            for secret in ("private-hook", "msg_private", "whsec_", "Private", "<image>"):
                assert secret not in text, (who, url)
            if who in ("anonymous", "revoked key"):
                assert response.status_code == 401, (who, url, response.status_code)
            elif url not in lists:  # every one of the owner's objects is a 404 for anyone else
                assert response.status_code == 404, (who, url, response.status_code)
                assert response.json()["detail"], (who, url)
    assert _state(owner_world) == before


def test_dashboard_matrix(client, owner_world):  # noqa: F811
    endpoint, delivery = _owner_hooks(owner_world)
    job = owner_world["job"]
    posts = [
        f"/jobs/{job.id}/cancel", f"/jobs/{job.id}/delete", f"/jobs/{job.id}/rerun",
        f"/webhooks/{endpoint.pk}/delete", f"/webhooks/deliveries/{delivery.pk}/redeliver",
    ]  # fmt: skip
    before = _state(owner_world)
    for url in [*posts, "/webhooks/callback-secret", "/settings/retention", "/webhooks/new"]:
        response = client.post(url, {"retention_days": "1", "url": "https://example.com/x"})
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url
    assert client.get("/webhooks/")["Location"].startswith("/accounts/login/")
    _, users = _callers(None)
    for who in ("other account", "expired trial"):
        client.force_login(users[who])
        for url in posts:
            assert client.post(url).status_code == 404, (who, url)
        page = client.get("/webhooks/").content.decode()
        assert "private-hook" not in page
        assert "msg_private" not in page
        client.logout()
    assert _state(owner_world) == before
