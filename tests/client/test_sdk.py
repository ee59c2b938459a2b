"""deepread.client without a server: retries and backoff against httpx's MockTransport, the result renderings,
atomic writes, input expansion and where the key comes from."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from deepread.client import ApiError, Client, RetryPolicy
from deepread.client.config import ConfigError, resolve
from deepread.client.outputs import expand_inputs, output_path, render, write_atomic

BASE = "http://deepread.test"


class Recorder:
    """A scripted server: answers the queued responses in order and records every request."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.responses.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _client(server: Recorder, sleeps: list[float], retries: list[tuple[int, float]] | None = None) -> Client:
    policy = RetryPolicy(attempts=4, base_s=0.5, cap_s=30, sleep=sleeps.append)
    on_retry = (lambda status, wait, url: retries.append((status, wait))) if retries is not None else None
    return Client("ocr_test", BASE, retry=policy, on_retry=on_retry, transport=httpx.MockTransport(server))


MODES = [{"name": "ocr", "display_name": "General OCR", "description": "d", "is_default": True}]


def test_a_429_waits_what_retry_after_says_then_succeeds():
    server = Recorder(httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"}),
                      httpx.Response(200, json=MODES))  # fmt: skip
    sleeps: list[float] = []
    retries: list[tuple[int, float]] = []
    modes = _client(server, sleeps, retries).modes()
    assert [m.name for m in modes] == ["ocr"]
    assert sleeps == [7.0]
    assert retries == [(429, 7.0)]
    assert [r.headers["X-API-Key"] for r in server.requests] == ["ocr_test", "ocr_test"]


def test_5xx_and_connection_errors_back_off_exponentially_with_jitter():
    server = Recorder(httpx.Response(503), httpx.ConnectError("refused"), httpx.Response(502),
                      httpx.Response(200, json=MODES))  # fmt: skip
    sleeps: list[float] = []
    _client(server, sleeps).modes()
    assert len(sleeps) == 3
    for attempt, slept in enumerate(sleeps):
        assert 0.5 * 2**attempt * 0.5 <= slept <= 0.5 * 2**attempt * 1.5


def test_retries_stop_after_the_last_attempt_with_the_servers_detail():
    server = Recorder(*[httpx.Response(503, json={"detail": "The engine is busy."})] * 4)
    sleeps: list[float] = []
    with pytest.raises(ApiError) as raised:
        _client(server, sleeps).modes()
    assert (raised.value.status, raised.value.detail) == (503, "The engine is busy.")
    assert len(server.requests) == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_client_errors_are_not_retried(status):
    server = Recorder(httpx.Response(status, json={"detail": f"refused {status}"}))
    sleeps: list[float] = []
    with pytest.raises(ApiError) as raised:
        _client(server, sleeps).modes()
    assert (raised.value.status, raised.value.detail) == (status, f"refused {status}")
    assert sleeps == []


def test_an_upload_retried_keeps_its_idempotency_key_and_restarts_its_byte_count(tmp_path):
    scan = tmp_path / "scan.png"
    scan.write_bytes(b"\x89PNG" + b"x" * 200_000)
    ticket = {"upload_url": f"{BASE}/storage/upload/1?sig=x", "job_id": "1"}
    server = Recorder(httpx.Response(500), httpx.Response(200, json=ticket), httpx.Response(503),
                      httpx.Response(200, json={"status": "uploaded"}))  # fmt: skip
    progress: list[int] = []
    upload = _client(server, []).upload(scan, mode="table", on_bytes=progress.append)
    assert upload.job_id == "1"
    first, second, put1, put2 = server.requests
    assert put1.content == put2.content  # the whole file again, from byte 0
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert json.loads(second.content) == {"filename": "scan.png", "content_type": "image/png"}
    assert second.url.params["mode"] == "table"
    assert put2.content == scan.read_bytes()
    assert put2.headers["Content-Type"] == "image/png"
    assert put2.headers["Content-Length"] == str(len(scan.read_bytes()))
    assert sum(progress) == scan.stat().st_size  # the failed PUT's bytes were taken back
    assert -scan.stat().st_size in progress


RESULT = {
    "mode": "table",
    "extracted_text": "# Prices\n\n| a | b |\n|---|---|\n| 1 | 2 |",
    "pages": [
        {"page": 1, "text": "Prices\na b\n1 2", "blocks": [{"type": "text", "text": "Prices", "bbox": [1, 2, 3, 4]}],
         "tables": [{"rows": [["a", "b"], ["1", "2"]]}]},
        {"page": 2, "text": "Second", "blocks": [], "tables": [{"rows": [["x, y", "z"]]}]},
    ],
}  # fmt: skip


def test_renderings():
    assert json.loads(render(RESULT, "json")) == RESULT
    assert render(RESULT, "md") == RESULT["extracted_text"] + "\n"
    assert render(RESULT, "txt") == "Prices\na b\n1 2\n\nSecond\n"
    assert render(RESULT, "csv") == 'a,b\n1,2\n\n"x, y",z\n'
    no_tables = {"pages": [{"page": 1, "blocks": [{"type": "text", "text": "Hi, there", "bbox": [1, 2, 3, 4]}]}]}
    assert render(no_tables, "csv") == 'page,type,x1,y1,x2,y2,text\n1,text,1,2,3,4,"Hi, there"\n'


def test_write_atomic_replaces_whole_files_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "a.ocr.md"
    write_atomic(target, "first")
    write_atomic(target, "second")
    assert target.read_text() == "second"

    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["a.ocr.md"]


def test_inputs_expand_folders_and_globs_once_in_order(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.png", "d/a.PDF", "d/sub/c.jpg", "d/notes.txt", "e.tif"):
        (tmp_path / name).write_bytes(b"x")
    found = expand_inputs([str(tmp_path / "d"), str(tmp_path / "*.tif"), str(tmp_path / "d" / "b.png"), "gone.png"])
    assert [p.relative_to(tmp_path) if p.is_absolute() else p for p in found] == [
        Path("d/a.PDF"), Path("d/b.png"), Path("d/sub/c.jpg"), Path("e.tif"), Path("gone.png")
    ]  # fmt: skip
    assert output_path(tmp_path / "d/b.png", mode="ocr", fmt="md", out_dir=None) == tmp_path / "d/b.ocr.md"
    assert output_path(Path("b.png"), mode="ocr", fmt="md", out_dir=Path("o"), clashing=True) == Path("o/b.png.ocr.md")


def test_key_and_url_come_from_flags_then_the_file(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('api_key = "ocr_file"\nbase_url = "https://ocr.example.com"\n')
    assert resolve(api_key=None, base_url=None, config=str(config)).api_key == "ocr_file"
    assert resolve(api_key=None, base_url=None, config=str(config)).base_url == "https://ocr.example.com"
    flags = resolve(api_key="ocr_flag", base_url="http://h:1", config=str(config))
    assert (flags.api_key, flags.base_url) == ("ocr_flag", "http://h:1")
    with pytest.raises(ConfigError, match="No API key"):
        resolve(api_key=None, base_url=None, config=str(tmp_path / "absent.toml"))
    config.write_text("api_key = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve(api_key=None, base_url=None, config=str(config))
