"""Every response under /api/v1 and /v1 is in its API's format, routes that do not exist included, with or without
a key, whatever the method (a POST to an unknown route used to get Django's HTML CSRF page)."""

from __future__ import annotations

import pytest
from django.test import Client

from ocrjobs.models import Job

pytestmark = pytest.mark.django_db


@pytest.fixture
def strict_client() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.mark.parametrize("method", ["get", "post", "put", "delete", "patch"])
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/results/x/y", "/api/nope", "/storage/nope"])
def test_unknown_routes_under_the_job_api_answer_detail_json(strict_client, api_key, method, path):
    _, raw = api_key
    response = getattr(strict_client, method)(path, HTTP_X_API_KEY=raw)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}
    assert not Job.objects.exists()


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
@pytest.mark.parametrize("path", ["/v1/nope", "/v1/ocr/extra", "/v1/chat/completions"])
def test_unknown_routes_under_v1_answer_openai_errors(strict_client, api_key, method, path):
    _, raw = api_key
    response = getattr(strict_client, method)(path, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["type"] == "invalid_request_error"
    assert path in error["message"]
    assert not Job.objects.exists()


def test_a_csrf_failure_on_an_api_path_is_json_and_html_elsewhere(strict_client, user):
    from django.test import RequestFactory

    from deepread.urls import csrf_failure

    api = csrf_failure(RequestFactory().post("/api/v1/upload/signed-url"), reason="no token")
    assert api.status_code == 403
    assert api["Content-Type"] == "application/json"
    openai = csrf_failure(RequestFactory().post("/v1/ocr"), reason="no token")
    assert openai.status_code == 403
    assert b'"error"' in openai.content
    strict_client.force_login(user)
    page = strict_client.post("/keys/create", {"name": "x"})
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")
    assert not user.api_keys.exists()


def test_a_body_that_is_not_json_is_said_once_and_in_plain_words(client, api_key):
    _, raw = api_key
    bad = client.post("/v1/ocr", "not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    message = bad.json()["error"]["message"]
    assert bad.status_code == 400
    assert message.count("The body is not valid JSON") == 1
    huge = '{"image": ' + "9" * 5000 + "}"
    for path, headers in (("/v1/ocr", {"HTTP_AUTHORIZATION": f"Bearer {raw}"}),
                          ("/api/v1/upload/signed-url", {"HTTP_X_API_KEY": raw})):  # fmt: skip
        response = client.post(path, huge, content_type="application/json", **headers)
        body = response.json()
        text = body["error"]["message"] if "error" in body else body["detail"]
        assert response.status_code == 400
        assert "too many digits" in text
        assert "sys.set_int_max_str_digits" not in text
    assert not Job.objects.exists()
