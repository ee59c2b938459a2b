"""The access log's redaction: credentials in query strings never reach a log line; the rest of the line stays."""

import io
import logging
import logging.config

from deepread.access_log import REDACTED, redact_query
from deepread.webserver import log_config


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


def test_the_servers_access_log_writes_lines_without_signatures_or_tokens():
    """The logging configuration the server runs with, fed the record uvicorn writes for each response."""
    stream = io.StringIO()
    config = log_config(access_log=True)
    config["handlers"]["access"]["stream"] = stream
    logging.config.dictConfig(config)
    access = logging.getLogger("uvicorn.access")
    for path in (
        "/storage/download?key=k&expires=1&signature=s3cr3t",
        "/storage/upload/abc?policy=p0l1cy&signature=s3cr3t",
        "/api/v1/ocr-modes?api_key=ocr_live_key",
        "/s3?X-Amz-Credential=AKIA1&X-Amz-Signature=s3cr3t&X-Amz-Security-Token=t0k3n",
    ):
        access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200)
    text = stream.getvalue()
    for secret in ("s3cr3t", "p0l1cy", "ocr_live_key", "AKIA1", "t0k3n"):
        assert secret not in text, secret
    lines = text.splitlines()
    assert len(lines) == 4
    assert f'127.0.0.1:5000 - "GET /storage/download?key=k&expires=1&signature={REDACTED} HTTP/1.1" 200' in lines[0]


def test_without_the_access_log_no_line_is_written():
    stream = io.StringIO()
    config = log_config(access_log=False)
    config["handlers"]["access"]["stream"] = stream
    logging.config.dictConfig(config)
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/", "1.1", 200)
    assert stream.getvalue() == ""
