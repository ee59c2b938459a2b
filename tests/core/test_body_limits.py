"""Request body caps, nested JSON (issue 11 item 6): every route refuses a body past its cap with 413 in its own
format before reading it (Content-Length) or while reading it (chunked), the upload routes and /v1/ocr keep their
own caps, and JSON nested past the limit is a 400 in each route's format with no traceback in the log. Refused
requests spend nothing and store nothing."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from core import bodylimit
from ocrjobs.models import Job
from tests.helpers import requests_used

MB = 1024 * 1024


class Unreadable(io.RawIOBase):
    """A request body that must not be read at all."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


class Endless(io.RawIOBase):
    """A de-chunked body of `size` bytes that counts what was read of it."""

    def __init__(self, size: int) -> None:
        self.left, self.taken = size, 0

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        self.taken += n
        return b"x" * n

    def readline(self, *args) -> bytes:
        return self.read(1024)


def _stored() -> list[str]:
    root = default_storage.location
    import os

    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]


def _nothing_spent_or_stored(user) -> None:
    assert requests_used(user) == 0
    assert Job.objects.count() == 0
    assert _stored() == []


def _check_format(response, path: str) -> str:
    """The route's own 413/400 format; returns its message."""
    if path.startswith("/v1/"):
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        return error["message"]
    if path.startswith(("/api/", "/storage/")):
        body = response.json()
        assert set(body) == {"detail"}
        return body["detail"]
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


UPLOAD_CAP = 50 * MB + bodylimit.FORM_ROOM
ROUTES = [
    ("POST", "/api/v1/upload/signed-url", "multipart/form-data; boundary=x", 200 * MB),
    ("POST", "/api/v1/upload/signed-url", "application/json", 1 * MB + 1),
    ("POST", "/api/v1/processing-jobs", "application/json", 2 * MB),
    ("POST", "/v1/ocr", "application/json", 30 * MB + 1),
    ("POST", "/v1/models", "application/json", 2 * MB),
    ("POST", "/accounts/login/", "application/x-www-form-urlencoded", 100 * MB),
    ("POST", "/accounts/signup/", "application/x-www-form-urlencoded", 2 * MB),
    ("POST", "/upload/ticket", "application/x-www-form-urlencoded", 2 * MB),
    ("POST", "/keys/create", "multipart/form-data; boundary=x", 2 * MB),
    ("POST", "/modes/preview", "multipart/form-data; boundary=x", UPLOAD_CAP + 1),
    # a fixed job id: the test ids must be the same in every pytest-xdist worker
    ("PUT", "/storage/upload/3e487171-2212-4733-8ac7-1b9b5431f7d3", "image/png", UPLOAD_CAP + 1),
    ("POST", "/storage/upload", "multipart/form-data; boundary=x", UPLOAD_CAP + 1),
    ("POST", "/storage/s3-events", "application/json", 2 * MB),
    ("POST", "/admin/login/", "application/x-www-form-urlencoded", 2 * MB),
]


@pytest.mark.parametrize(("method", "path", "content_type", "size"), ROUTES)
def test_a_declared_length_past_the_cap_is_413_before_reading(api, user, method, path, content_type, size):
    api.credentials(HTTP_X_API_KEY=api._credentials["HTTP_X_API_KEY"], HTTP_AUTHORIZATION="")
    response = api.generic(
        method, path, CONTENT_LENGTH=str(size), content_type=content_type, **{"wsgi.input": Unreadable()}
    )
    assert response.status_code == 413
    assert response["Connection"] == "close"
    message = _check_format(response, path)
    assert "larger than the" in message
    if path.startswith("/v1/"):
        assert response.json()["error"]["code"] == "image_too_large"
    _nothing_spent_or_stored(user)


@pytest.mark.parametrize(("method", "path", "content_type", "size"), ROUTES)
def test_a_chunked_body_past_the_cap_is_413_while_reading(api, user, method, path, content_type, size):
    body = Endless(size + 10 * MB)
    response = api.generic(
        method,
        path,
        CONTENT_LENGTH="",
        content_type=content_type,
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": body},
    )
    assert response.status_code == 413
    _check_format(response, path)
    assert body.taken <= bodylimit.body_cap(path) + bodylimit.CHUNK  # stopped at the cap, the rest never read
    _nothing_spent_or_stored(user)


def test_the_general_cap_is_1_mib_and_the_upload_and_ocr_routes_keep_theirs(settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.FILE_UPLOAD_MAX_MEMORY_SIZE == MB
    assert bodylimit.body_cap("/api/v1/upload/signed-url") == MB
    assert bodylimit.body_cap("/accounts/login/") == MB
    assert bodylimit.body_cap("/v1/ocr") == settings.DEEPREAD_SYNC_MAX_BODY_BYTES == 30 * MB
    assert bodylimit.body_cap(f"/storage/upload/{uuid.uuid4()}") == UPLOAD_CAP
    assert bodylimit.body_cap("/storage/upload") == UPLOAD_CAP
    assert bodylimit.body_cap("/modes/preview") == UPLOAD_CAP


def test_bodies_under_their_route_cap_pass_through(bearer, user):
    """/v1/ocr takes a 2 MB body (past the general cap): it reaches the view, which judges the image."""
    payload = json.dumps({"image": "A" * (2 * MB), "image_type": "base64"})
    response = bearer.post("/v1/ocr", payload, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unsupported_image_format"
    put = Client().generic("PUT", f"/storage/upload/{uuid.uuid4()}", b"x" * (2 * MB), content_type="image/png")
    assert put.status_code == 403  # the signature is checked: the body was let through
    _nothing_spent_or_stored(user)


def test_a_chunked_body_within_the_cap_is_parsed_as_usual(api, user):
    data = json.dumps({"filename": "chunked.png"}).encode()
    response = api.generic(
        "POST",
        "/api/v1/upload/signed-url",
        CONTENT_LENGTH="",
        content_type="application/json",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(data)},
    )
    assert response.status_code == 200, response.content
    assert response.json()["s3_key"].endswith("/chunked.png")
    assert requests_used(user) == 1


def _nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


@pytest.mark.parametrize("depth", [65, 900, 5_000, 20_000])
def test_deeply_nested_json_is_400_in_each_format_without_a_traceback(api, bearer, user, caplog, depth, settings):
    settings.DEEPREAD_S3_HOOK_SECRET = "hook-secret"
    caplog.set_level(logging.DEBUG)
    cases = [
        (bearer, "/v1/ocr", _nested(depth)),
        (bearer, "/v1/ocr", '{"image": ' + _nested(depth, '"x"') + "}"),
        (api, "/api/v1/upload/signed-url", _nested(depth)),
        (api, "/api/v1/upload/signed-url", '{"filename": ' + _nested(depth, '"a.png"') + "}"),
    ]
    for client, path, body in cases:
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 400, (path, response.content)
        message = _check_format(response, path)
        assert "nested more than 64 levels" in message
        if path.startswith("/v1/"):
            assert response.json()["error"]["code"] == "invalid_parameter"
    hook = Client().post(
        "/storage/s3-events",
        '{"Records": ' + _nested(depth, "{}") + "}",
        content_type="application/json",
        HTTP_X_DEEPREAD_HOOK_SECRET="hook-secret",
    )
    assert hook.status_code in (200, 400)
    assert hook.status_code == 400 or hook.json() == {"queued": 0}
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert "RecursionError" not in record.getMessage()
        assert "Traceback" not in record.getMessage()
    _nothing_spent_or_stored(user)


def test_json_nested_up_to_the_limit_is_still_json(api, user):
    body = '{"filename": ' + _nested(60, '"a.png"') + "}"
    response = api.post("/api/v1/upload/signed-url", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("filename:")  # parsed, then judged as a value like any other
    assert requests_used(user) == 0
