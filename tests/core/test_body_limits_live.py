"""Body caps through the real web server (the command line `make run` uses: uvicorn with the ASGI body guard): a
declared 100 MB body gets its 413 before the server has read it, and a chunked body is refused as it passes its
route's cap, in each route's format."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deepread import processes
from devtools.stack import free_port, wait_for_web

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    var = tmp_path_factory.mktemp("var")
    port = free_port()
    env = {
        **os.environ,
        "DEEPREAD_VAR_DIR": str(var),
        "DEEPREAD_SYNC_WARM": "0",
        "CELERY_BROKER_URL": "memory://",
        "DJANGO_SETTINGS_MODULE": "deepread.settings",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True,
                   capture_output=True)  # fmt: skip
    command = processes.web(Path(sys.executable).parent, bind=f"127.0.0.1:{port}", workers=1, access_log=False)
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for_web(proc, port)
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def _exchange(port: int, head: bytes, body_chunks, until: bytes = b"\r\n\r\n") -> tuple[bytes, int]:
    """Send the head, then the body for as long as the server reads it; stop when it answers. Returns the answer
    (read until `until`) and the body bytes sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head)
    sent, answer = 0, b""
    pending = b"".join(body_chunks)
    try:
        while pending:
            readable, writable, _ = select.select([sock], [sock], [], 30)
            if readable:
                break  # it answered before the body was all sent
            assert writable, "the server neither read nor answered for 30 s"
            try:
                n = sock.send(pending[: 1024 * 1024])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += n
            pending = pending[n:]
        while until not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    finally:
        sock.close()
    return answer, sent


@pytest.mark.parametrize("declared", [2 * MB, 100 * MB])
def test_a_declared_body_past_the_login_cap_is_refused_unread(web, declared):
    head = (b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % declared)  # fmt: skip
    answer, sent = _exchange(web, head, [b"a" * 65536] * (declared // 65536), until=b"</p>")
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"text/html" in answer
    if declared > 32 * MB:  # (2 MB fits in the sockets' buffers before any answer)
        assert sent < declared  # answered before the body was all sent


@pytest.mark.parametrize(
    ("path", "marker", "cap"),
    [
        ("/api/v1/upload/signed-url", b'{"detail"', MB),
        ("/v1/ocr", b'"image_too_large"', 30 * MB),
        ("/upload/ticket", b"<!doctype", MB),
    ],
)
def test_a_chunked_body_is_refused_as_it_passes_its_route_cap(web, path, marker, cap):
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()  # fmt: skip
    chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
    answer, sent = _exchange(web, head, [chunk] * 1600, until=marker)  # 100 MB if nobody stopped it
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert marker in answer
    assert sent < cap + 16 * MB  # the cap, plus what the sockets' buffers held when the answer came
