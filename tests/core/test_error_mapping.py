"""Each member of the error family (`core.errors`), raised by the service an interface calls, is answered by that
interface in its own format with the member's status, code, param and Retry-After, and nothing is spent or stored:
no job row, no quota used, no file written."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from accounts.models import MonthlyUsage
from core import errors
from core.parsers import TooDeep
from core.urlfetch import AddressRefused, FetchError, FetchTooLarge, UrlFormatError
from ocr.admission import EngineBusy
from ocrjobs.models import Job
from storage.objects import StorageFault, presign_upload
from storage.signing import InvalidSignature

pytestmark = pytest.mark.django_db

MEMBERS = [
    errors.ApplicationError("Something about the request is wrong."),
    errors.InvalidInput("mode must be a string.", code="invalid_parameter_type", param="mode"),
    errors.QuotaExceeded("Monthly limit of 100 requests reached."),
    errors.PermissionDenied("Not for you."),
    errors.NotFound("No such job."),
    errors.NotFound("The model 'x' does not exist on this server.", code="model_not_found", param="model"),
    errors.Conflict("The job has already ended."),
    errors.TooLarge("The image is larger than the upload limit.", param="image"),
    errors.BodyCutOff("The request body was cut off; send it again."),
    errors.RequestTimeout("The request body came too slowly."),
    errors.RateLimited("Too many requests for this API key; slow down.", retry_after=3),
    errors.InternalError("The engine failed."),
    errors.ServiceUnavailable("The database is away.", retry_after=5),
    EngineBusy(),
    StorageFault(),
    InvalidSignature("The signed URL has expired; ask for a new one."),
    FetchError("The image URL could not be fetched.").with_param("image"),
    UrlFormatError("The image URL has no host."),
    AddressRefused("The image URL could not be fetched."),
    FetchTooLarge("The image is larger than the 10-byte limit.", param="image"),
    TooDeep("it is nested more than 64 levels deep"),
]
OPENAI_TYPES = {401: "authentication_error", 429: "rate_limit_error"}


def _openai_error(exc: errors.ApplicationError) -> dict:
    if isinstance(exc, errors.QuotaExceeded):
        kind = "insufficient_quota"
    elif exc.status_code >= 500:
        kind = "server_error"
    else:
        kind = OPENAI_TYPES.get(exc.status_code, "invalid_request_error")
    return {"message": exc.message, "type": kind, "param": exc.param, "code": exc.code}


def _raiser(exc: errors.ApplicationError):
    def raise_it(*args, **kwargs):
        raise exc

    return raise_it


def _api(monkeypatch, api_key, exc):
    from ocrjobs import services

    monkeypatch.setattr(services, "job_create", _raiser(exc))
    response = Client().post(
        "/api/v1/upload/signed-url", {"filename": "a.png"}, content_type="application/json",
        HTTP_X_API_KEY=api_key[1],
    )  # fmt: skip
    return response, {"detail": exc.message}


def _openai(monkeypatch, api_key, exc):
    from ocr import services

    monkeypatch.setattr(services, "ocr_sync", _raiser(exc))
    response = Client().post(
        "/v1/ocr", {"image": "https://example.com/a.png"}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key[1]}",
    )  # fmt: skip
    return response, {"error": _openai_error(exc)}


def _mistral(monkeypatch, api_key, exc):
    from ocr import mistral

    monkeypatch.setattr(mistral, "ocr_mistral", _raiser(exc))
    body = {"model": "mistral-ocr-latest", "document": {"type": "document_url", "document_url": "https://e.com/a"}}
    response = Client().post(
        "/v1/ocr", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}"
    )
    return response, {"object": "error", **_openai_error(exc)}


def _models(monkeypatch, api_key, exc):
    from ocr import services

    monkeypatch.setattr(services, "model_list", _raiser(exc))
    response = Client().get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    return response, {"error": _openai_error(exc)}


def _dashboard(monkeypatch, api_key, exc):
    from ocrjobs import services

    monkeypatch.setattr(services, "job_create", _raiser(exc))
    client = Client()
    client.force_login(api_key[0].user)
    response = client.post("/upload/ticket", {"filename": "a.png", "content_type": "image/png", "size": "10"})
    return response, {"error": exc.message}


def _storage(monkeypatch, api_key, exc):
    from ocrjobs import services

    monkeypatch.setattr(services, "job_upload_receive", _raiser(exc))
    job_id = str(uuid.uuid4())
    urls = presign_upload(
        job_id=job_id, key=f"uploads/1/{job_id}/a.png", key_prefix=f"uploads/1/{job_id}/", content_type="image/png",
        max_bytes=1000, ttl=60, base_url="http://testserver/",
    )  # fmt: skip
    parts = urlsplit(urls.put_url)
    response = Client().generic("PUT", f"{parts.path}?{parts.query}", b"\x89PNG", content_type="image/png")
    return response, {"detail": exc.message}


INTERFACES = {
    "api-v1": _api,
    "v1-ocr": _openai,
    "v1-ocr-mistral": _mistral,
    "v1-models": _models,
    "dashboard": _dashboard,
    "storage": _storage,
}


@pytest.mark.parametrize("interface", INTERFACES)
@pytest.mark.parametrize("exc", MEMBERS, ids=lambda e: f"{type(e).__name__}-{e.code}")
def test_each_member_is_answered_in_each_interfaces_format_with_nothing_spent(monkeypatch, api_key, interface, exc):
    user = api_key[0].user
    stored_before = _stored()

    response, expected = INTERFACES[interface](monkeypatch, api_key, exc)

    assert response.status_code == exc.status_code
    assert response["Content-Type"] == "application/json"
    assert response.json() == expected
    assert response.get("Retry-After") == (str(exc.retry_after) if exc.retry_after else None)
    assert not Job.objects.exists()
    assert MonthlyUsage.objects.filter(user=user, used__gt=0).count() == 0
    assert _stored() == stored_before


def test_every_member_has_a_status_and_a_code():
    for exc in MEMBERS:
        assert isinstance(exc, errors.ApplicationError)
        assert 400 <= exc.status_code < 600
        assert exc.code
        assert exc.message


MISTRAL_BODY = {"model": "mistral-ocr-latest", "document": {"type": "document_url", "document_url": "https://e.com"}}


@pytest.mark.parametrize("key", ["", "Bearer dr_wrong"], ids=["no-key", "bad-key"])
def test_a_refused_key_on_the_mistral_dialect_is_answered_in_mistrals_shape(user, key):
    response = Client().post("/v1/ocr", MISTRAL_BODY, content_type="application/json", HTTP_AUTHORIZATION=key)
    assert response.status_code == 401
    body = response.json()
    assert (body["object"], body["type"], body["code"]) == ("error", "authentication_error", "invalid_api_key")
    assert "error" not in body
    assert not Job.objects.exists()


def test_the_burst_limit_on_the_mistral_dialect_is_answered_in_mistrals_shape(settings, monkeypatch, api_key):
    from ocr import mistral

    settings.DEEPREAD_BURST_PER_MINUTE = 1
    monkeypatch.setattr(mistral, "ocr_mistral", _raiser(errors.InvalidInput("stop here", param="document")))
    headers = {"content_type": "application/json", "HTTP_AUTHORIZATION": f"Bearer {api_key[1]}"}
    assert Client().post("/v1/ocr", MISTRAL_BODY, **headers).status_code == 400  # the one call of the minute
    response = Client().post("/v1/ocr", MISTRAL_BODY, **headers)
    assert response.status_code == 429
    assert response.json() == {"object": "error", "message": "Too many requests for this API key; slow down.",
                               "type": "rate_limit_error", "param": None, "code": "rate_limit_exceeded"}  # fmt: skip
    assert int(response["Retry-After"]) >= 1
    assert MonthlyUsage.objects.filter(used__gt=0).count() == 0


def test_a_body_that_does_not_parse_is_still_refused_after_the_key(user):
    response = Client().post("/v1/ocr", "{not json", content_type="application/json", HTTP_AUTHORIZATION="Bearer x")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_server_error_under_v1_is_in_openais_shape_and_detail_elsewhere():
    from django.test import RequestFactory

    from deepread.urls import handler500

    openai = handler500(RequestFactory().get("/v1/models"))
    assert openai.status_code == 500
    error = {"message": "Internal server error.", "type": "server_error", "param": None, "code": "server_error"}
    assert json.loads(openai.content) == {"error": error}
    assert json.loads(handler500(RequestFactory().get("/api/v1/usage")).content) == {"detail": "Internal server error."}


def _stored() -> list[str]:
    try:
        return sorted(default_storage.listdir("")[0] + default_storage.listdir("")[1])
    except FileNotFoundError:
        return []


DB_DOWN = "The service is briefly unavailable (database); retry shortly."


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/api/v1/usage", "application/json", {"detail": DB_DOWN}),
        ("/v1/models", "application/json",
         {"error": {"message": DB_DOWN, "type": "server_error", "param": None, "code": "service_unavailable"}}),
        ("/jobs/", "text/html; charset=utf-8", f"<!doctype html><title>Unavailable</title><p>{DB_DOWN}</p>"),
    ],
)  # fmt: skip
def test_a_lost_database_outside_a_view_is_503_in_the_paths_format(path, content_type, body):
    from django.db import OperationalError
    from django.test import RequestFactory

    from deepread.middleware import DatabaseUnavailableMiddleware

    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    response = middleware.process_exception(RequestFactory().get(path), OperationalError("connection refused"))
    content = response.content.decode() if isinstance(body, str) else json.loads(response.content)
    assert (response.status_code, response["Content-Type"], content) == (503, content_type, body)
    assert response["Retry-After"] == "5"
