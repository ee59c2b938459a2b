"""The access log's redaction: credentials in query strings and headers never reach a log line."""

import datetime as dt
from types import SimpleNamespace

from gunicorn.config import Config

from deepread.gunicorn_logging import REDACTED, RedactingLogger, redact_query


def test_signed_url_parameters_are_redacted_and_the_rest_kept():
    line = "PUT /storage/upload/abc?key=jobs%2F1%2Fa.png&expires=1700000000&signature=deadbeef HTTP/1.1"
    assert redact_query(line) == (
        f"PUT /storage/upload/abc?key=jobs%2F1%2Fa.png&expires=1700000000&signature={REDACTED} HTTP/1.1"
    )
    presigned = "https://s3/b/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F2026&X-Amz-Signature=0f0f&x=1"
    assert redact_query(presigned) == (
        f"https://s3/b/k?X-Amz-Algorithm=AWS4&X-Amz-Credential={REDACTED}&X-Amz-Signature={REDACTED}&x=1"
    )
    assert (
        redact_query("/api/v1/processing-jobs?mode=ocr&filename=sig") == "/api/v1/processing-jobs?mode=ocr&filename=sig"
    )


def test_the_logger_redacts_every_atom_a_format_could_use():
    logger = RedactingLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/storage/download?key=k&expires=1&signature=s3cr3t",
        "QUERY_STRING": "key=k&expires=1&signature=s3cr3t",
        "PATH_INFO": "/storage/download",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_X_API_KEY": "ocr_live_key",
        "HTTP_AUTHORIZATION": "Bearer ocr_live_key",
        "HTTP_COOKIE": "sessionid=abc",
    }
    request = SimpleNamespace(headers=[("X-API-KEY", "ocr_live_key"), ("AUTHORIZATION", "Bearer ocr_live_key")])
    response = SimpleNamespace(status="200 OK", sent=10, headers=[("Set-Cookie", "sessionid=abc")])
    atoms = logger.atoms(response, request, environ, dt.timedelta(milliseconds=5))
    text = repr(atoms)
    for secret in ("s3cr3t", "ocr_live_key", "sessionid=abc"):
        assert secret not in text, secret
    assert atoms["r"] == f"GET /storage/download?key=k&expires=1&signature={REDACTED} HTTP/1.1"
    assert atoms["U"] == "/storage/download"
