"""A typed, synchronous Python client for DeepRead's job API (`/api/v1`), on httpx.

    from deepread.client import Client

    with Client(api_key="ocr_…", base_url="http://127.0.0.1:8000") as dr:
        result = dr.ocr_file("invoice.pdf", mode="document")
        print(result.text)

Every call retries what is worth retrying (429, 5xx, connection errors and timeouts) with exponential backoff
and jitter, honouring `Retry-After`; a job-creating POST carries an Idempotency-Key, so a retry never makes a
second job. Other errors raise `ApiError` with the server's `detail`.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
CONTENT_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".bmp": "image/bmp", ".tif": "image/tiff",
    ".tiff": "image/tiff", ".pdf": "application/pdf",
}  # fmt: skip
CHUNK = 64 * 1024


class ApiError(Exception):
    """The server refused a call (or kept failing past the retries). `status` is 0 for a connection failure."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}" if status else detail)
        self.status, self.detail = status, detail


class Cancelled(Exception):
    """The caller's cancel event was set (Ctrl-C in the CLI)."""


@dataclass(frozen=True)
class Mode:
    """An OCR mode as GET /api/v1/ocr-modes lists it."""

    name: str
    display_name: str
    description: str
    is_default: bool


@dataclass(frozen=True)
class JobSummary:
    """One job row of GET /api/v1/processing-jobs; `size` in bytes, `last_modified` ISO 8601."""

    job_id: str
    filename: str
    mode: str
    status: str  # pending, processing, completed, failed
    output_key: str | None
    size: int | None
    last_modified: str | None


@dataclass(frozen=True)
class JobList:
    """A page of the job list with counts over all of the account's jobs."""

    files: list[JobSummary]
    total_count: int
    completed_count: int
    pending_count: int


@dataclass(frozen=True)
class JobResult:
    """GET /api/v1/results/<id>: status, progress in pages and, once completed, the result document."""

    job_id: str
    status: str
    mode: str
    filename: str
    pages: int | None  # known once the file is inspected
    pages_done: int
    error: str | None
    result: dict[str, Any] | None  # the result document (API.md), once completed

    @property
    def done(self) -> bool:
        """True once the job is `completed` or `failed`."""
        return self.status in ("completed", "failed")

    @property
    def text(self) -> str:
        """The job's `extracted_text`, or "" before it has a result."""
        return (self.result or {}).get("extracted_text", "")


@dataclass(frozen=True)
class Upload:
    """A job created by POST /api/v1/upload/signed-url, waiting for its file at `upload_url`."""

    job_id: str
    upload_url: str
    mode: str


@dataclass
class RetryPolicy:
    """Attempts per call and the backoff between them, in seconds: base·2ⁿ with ±50 % jitter, at most `cap_s`;
    a `Retry-After` from the server wins (also capped)."""

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before retry number `attempt` (0-based): the server's Retry-After if given, else
        exponential back-off from `base_s` with ±50 % jitter; capped at `cap_s`.
        """
        wait = _retry_after_s(retry_after)
        if wait is None:
            wait = self.base_s * 2**attempt * random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not security
        return min(max(wait, 0.0), self.cap_s)


def _retry_after_s(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value else None
        return None if when is None else when.timestamp() - time.time()


class Client:
    """DeepRead's job API. `api_key` is an `ocr_…` key; `base_url` the server's root (no `/api/v1`).
    `on_retry(status, wait_s, url)` is told of every retry (status 0: a connection error)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[int, float, str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self._http = httpx.Client(
            headers={"X-API-Key": api_key, "User-Agent": "deepread-client"},
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying HTTP connection pool."""
        self._http.close()

    # --- reads ----------------------------------------------------------------------------------------------------
    def modes(self) -> list[Mode]:
        """The built-in and the account's custom modes; exactly one `is_default`."""
        return [Mode(**{k: m[k] for k in ("name", "display_name", "description", "is_default")})
                for m in self._json("GET", "/api/v1/ocr-modes")]  # fmt: skip

    def jobs(
        self, *, mode: str | None = None, filename: str | None = None, limit: int = 100, offset: int = 0
    ) -> JobList:
        """The account's jobs, newest first; `filename` matches part of the name, case-insensitively."""
        params = {k: v for k, v in {"mode": mode, "filename": filename, "limit": limit, "offset": offset}.items()
                  if v is not None}  # fmt: skip
        body = self._json("GET", "/api/v1/processing-jobs", params=params)
        files = [JobSummary(job_id=f.get("job_id", ""), filename=f["filename"], mode=f["mode"], status=f["status"],
                            output_key=f.get("output_key"), size=f.get("size"), last_modified=f.get("last_modified"))
                 for f in body["files"]]  # fmt: skip
        return JobList(files, body["total_count"], body["completed_count"], body["pending_count"])

    def result(self, job_id: str) -> JobResult:
        """One job's status and, once completed, its result document. ApiError 404 for another account's job."""
        body = self._json("GET", f"/api/v1/results/{job_id}")
        return JobResult(
            job_id=body["job_id"], status=body["status"], mode=body["mode"], filename=body["filename"],
            pages=body.get("pages"), pages_done=body.get("pages_done") or 0, error=body.get("error"),
            result=body.get("result"),
        )  # fmt: skip

    def usage(self) -> dict[str, Any]:
        """This month's use against the limit, by day, mode and key (`GET /api/v1/usage`)."""
        return self._json("GET", "/api/v1/usage")

    # --- a file, end to end ---------------------------------------------------------------------------------------
    def upload(
        self,
        path: str | Path,
        *,
        mode: str | None = None,
        on_bytes: Callable[[int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Upload:
        """Create a job for `path` (one request of the quota) and send its bytes; processing then starts by itself.
        `on_bytes(n)` is told of every chunk sent. Raises ApiError (400 type/mode, 403 quota, 413 size) or
        Cancelled."""
        path = Path(path)
        content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        ticket = self._json(
            "POST",
            "/api/v1/upload/signed-url",
            params={"mode": mode} if mode else None,
            json={"filename": path.name, "content_type": content_type},
            headers={"Idempotency-Key": str(uuid.uuid4())},  # one job however often the call is retried
        )
        size = path.stat().st_size

        def body() -> Iterator[bytes]:
            """Yield the file in CHUNK-byte pieces, reporting each to `on_bytes`; raises Cancelled once `cancel` is
            set.
            """
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled
                    yield chunk
                    if on_bytes:
                        on_bytes(len(chunk))

        def restart() -> None:
            """Rewind the progress count when the upload is retried from byte 0."""
            if on_bytes:
                on_bytes(-size)  # a retried upload starts again from byte 0

        headers = {"Content-Type": content_type, "Content-Length": str(size)}
        self._send("PUT", ticket["upload_url"], content=body, headers=headers, before_retry=restart, absolute=True)
        return Upload(job_id=ticket["job_id"], upload_url=ticket["upload_url"], mode=mode or "")

    def wait(
        self,
        job_id: str,
        *,
        poll_s: float = 1.0,
        timeout_s: float | None = None,
        on_update: Callable[[JobResult], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> JobResult:
        """Poll until the job completes or fails; `on_update` sees each state. Raises TimeoutError or Cancelled."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            state = self.result(job_id)
            if on_update:
                on_update(state)
            if state.done:
                return state
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} did not finish in {timeout_s:.0f} s")
            if cancel is not None and cancel.wait(poll_s):
                raise Cancelled
            if cancel is None:
                time.sleep(poll_s)

    def ocr_file(self, path: str | Path, *, mode: str | None = None, **wait_options: Any) -> JobResult:
        """Upload `path`, wait for its job and return it (check `status`: a failed job carries `error`)."""
        upload = self.upload(path, mode=mode, cancel=wait_options.get("cancel"))
        return self.wait(upload.job_id, **wait_options)

    # --- transport ------------------------------------------------------------------------------------------------
    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    def _send(
        self,
        method: str,
        url: str,
        *,
        absolute: bool = False,
        before_retry: Callable[[], None] | None = None,
        content: Callable[[], Iterator[bytes]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        url = url if absolute else self.base_url + url
        for attempt in range(self.retry.attempts):
            last = attempt == self.retry.attempts - 1
            try:
                response = self._http.request(method, url, content=content() if content else None, **kwargs)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if last:
                    raise ApiError(0, f"Could not reach {self.base_url}: {exc}") from exc
                self._pause(0, self.retry.delay(attempt, None), url, before_retry)
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._pause(response.status_code, self.retry.delay(attempt, response.headers.get("Retry-After")), url,
                            before_retry)  # fmt: skip
                continue
            if response.is_error:
                raise ApiError(response.status_code, _detail(response))
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(self, status: int, wait_s: float, url: str, before_retry: Callable[[], None] | None) -> None:
        if self.on_retry:
            self.on_retry(status, wait_s, url)
        if before_retry:
            before_retry()
        self.retry.sleep(wait_s)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    if isinstance(body, dict):
        if isinstance(body.get("detail"), str):
            return body["detail"]
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(body)[:300]
