"""The HTTP side of the vLLM engine: the Chat Completions request for one page, and the transport that sends it.

One `VllmClient` serves a whole worker process and all its threads: it keeps one pooled HTTP client, a bound on
the requests in flight (`max_inflight`), and the replicas with their in-flight counts. A replica is chosen least
in-flight first; one that fails to connect or answers 5xx is skipped for `cooldown_s`. A request is retried on
connection errors, timeouts, 429 and 5xx, with exponential backoff and jitter; any other 4xx is final.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from inference import cancel
from inference.base import EngineError, EngineUnavailable, Usage
from inference.images import EncodedImage
from inference.vllm_guard import server_message
from inference.vllm_models import NGram, profile_for

logger = logging.getLogger(__name__)

# The transport's defaults, for VllmClient and for VllmEngine, which passes them on.
MAX_INFLIGHT = 64  # requests in flight at once, all replicas together
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 300.0  # one page's answer
RETRIES = 4  # a failed request is sent again this many times
BACKOFF_S = 0.5  # the first retry's wait, doubling for each later one up to BACKOFF_MAX_S, then jittered ×0.5–1.5
BACKOFF_MAX_S = 20.0
COOLDOWN_S = 10.0  # a failed replica sits out this long


class TerminalRequestError(EngineError):
    """The server refused the request itself (a 4xx other than 429): sending it again cannot help."""


@dataclass
class Replica:
    """One vLLM server: its base URL, requests in flight, when it may be tried again (monotonic seconds), failures in a
    row.
    """

    base_url: str
    inflight: int = 0
    down_until: float = 0.0
    failures: int = 0


@dataclass
class ReplicaPool:
    """Least in-flight first among the healthy replicas; a failed one sits out `cooldown_s`."""

    replicas: list[Replica]
    cooldown_s: float = COOLDOWN_S
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, urls: Sequence[str], cooldown_s: float = COOLDOWN_S) -> ReplicaPool:
        """A pool over `urls` (vLLM base URLs, trailing "/" dropped); raises ValueError when `urls` is empty."""
        if not urls:
            raise ValueError("At least one vLLM base URL is needed.")
        return cls([Replica(u.rstrip("/")) for u in urls], cooldown_s=cooldown_s)

    def acquire(self) -> Replica:
        """The healthy replica with the fewest requests in flight (or, when all cool down, the first to come back);
        counts it busy.
        """
        with self._lock:
            now = self.clock()
            healthy = [r for r in self.replicas if r.down_until <= now]
            if healthy:
                replica = min(healthy, key=lambda r: r.inflight)
            else:  # all are cooling down: try the one that comes back first rather than fail outright
                replica = min(self.replicas, key=lambda r: r.down_until)
            replica.inflight += 1
            return replica

    def release(self, replica: Replica, *, ok: bool) -> None:
        """Mark one request on `replica` done; a failure (`ok=False`) makes it sit out `cooldown_s` seconds."""
        with self._lock:
            replica.inflight -= 1
            if ok:
                replica.failures = 0
                replica.down_until = 0.0
            else:
                replica.failures += 1
                replica.down_until = self.clock() + self.cooldown_s


@dataclass(frozen=True)
class Completion:
    """One chat completion: the model's text, finish_reason ("stop", "length", …) and token usage."""

    content: str
    finish_reason: str
    usage: Usage


def request_body(
    *, model: str, prompt: str, image: EncodedImage, max_tokens: int, ngram: NGram | None = None
) -> dict[str, Any]:
    """The exact Chat Completions body for one page (DESIGN.md, "Request"); `ngram` defaults to the model's."""
    ngram = ngram or profile_for(model).ngram
    data_url = f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"
    return {
        "model": model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": data_url}},
                    {"type": "text", "text": prompt},
                ],
            }
        ],
        "temperature": 0,
        "max_tokens": max_tokens,
        "skip_special_tokens": False,
        "vllm_xargs": ngram.xargs(),
    }


class VllmClient:
    """Chat Completions requests to one or more vLLM replicas. Thread-safe: a worker's threads share it.

    Timeouts are in seconds: `connect_timeout_s` to open a connection, `read_timeout_s` between bytes of an answer
    (a page can take minutes under load). A failed request is tried `retries` more times, waiting
    `backoff_s` × 2^(try − 1) (at most `backoff_max_s`, jittered ×0.5–1.5) between tries.
    """

    def __init__(
        self,
        *,
        base_urls: Sequence[str],
        max_inflight: int = MAX_INFLIGHT,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        retries: int = RETRIES,
        backoff_s: float = BACKOFF_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        cooldown_s: float = COOLDOWN_S,
        api_key: str = "",
    ) -> None:
        self.pool = ReplicaPool.of(base_urls, cooldown_s=cooldown_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._slots = threading.BoundedSemaphore(max_inflight)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=max_inflight + 8, max_keepalive_connections=max_inflight + 8)
        transport = httpx.HTTPTransport(limits=limits)
        # Connections a cancelled job is waiting on are shut down (inference/cancel.py): vLLM aborts a request whose
        # connection closes. httpx has no public hook for httpcore's network backend, so it is set on the pool.
        transport._pool._network_backend = cancel.CancellableBackend()
        #: The pooled httpx client; the guard's probes (inference/vllm_guard.py) go through it too.
        self.http = httpx.Client(
            timeout=httpx.Timeout(connect=connect_timeout_s, read=read_timeout_s, write=30.0, pool=read_timeout_s),
            transport=transport,
            headers=headers,
        )

    def post_completion(self, body: dict[str, Any]) -> Completion:
        """Send one Chat Completions `body` (see `request_body`) once a slot of `max_inflight` is free.

        Raises TerminalRequestError when the server refuses the request itself (4xx other than 429),
        EngineUnavailable when no try got an answer, EngineError when the answer is not a chat completion, and
        cancel.Cancelled when the job was cancelled meanwhile.
        """
        with self._slots:
            return self._post_with_retries(body)

    def _post_with_retries(self, body: dict[str, Any]) -> Completion:
        last = ""
        for attempt in range(self.retries + 1):
            cancel.check()
            if attempt:
                delay = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
                time.sleep(delay * (0.5 + random.random()))  # noqa: S311 - jitter, not crypto
                cancel.check()
            replica = self.pool.acquire()
            ok = False
            try:
                response = self.http.post(f"{replica.base_url}/chat/completions", json=body)
            except cancel.Cancelled:
                ok = True  # the replica is healthy; the job no longer wants the answer
                raise
            except httpx.TransportError as exc:
                last = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not connect"
                logger.warning(
                    "vLLM request to %s failed (%s), attempt %d", replica.base_url, type(exc).__name__, attempt + 1
                )
                continue
            else:
                if response.status_code == 200:
                    ok = True
                    return self._completion(response)
                message = server_message(response)
                if response.status_code == 429 or response.status_code >= 500:
                    ok = response.status_code == 429  # busy is healthy; a 5xx replica sits out a while
                    last = f"HTTP {response.status_code}"
                    logger.warning(
                        "vLLM at %s answered HTTP %s %s, attempt %d",
                        replica.base_url,
                        response.status_code,
                        message,
                        attempt + 1,
                    )
                    continue
                ok = True
                raise TerminalRequestError(f"The DeepSeek-OCR server refused the page: {message}")
            finally:
                self.pool.release(replica, ok=ok)
        # The public message names no internal address: the job's owner sees it; the log above has the replica.
        raise EngineUnavailable(f"The DeepSeek-OCR server did not answer after {self.retries + 1} tries ({last}).")

    def _completion(self, response: httpx.Response) -> Completion:
        try:
            body = response.json()
            choice = body["choices"][0]
            content = choice["message"]["content"] or ""
            usage = body.get("usage") or {}
            return Completion(
                content=content,
                finish_reason=choice.get("finish_reason") or "stop",
                usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
            )
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise EngineError("The DeepSeek-OCR server sent an answer that is not a chat completion.") from exc

    def served_models(self, base_url: str) -> list[str]:
        """Model ids served at `base_url` (GET /models, 5 s timeout); raises httpx.HTTPError on failure."""
        response = self.http.get(f"{base_url}/models", timeout=5.0)
        response.raise_for_status()
        return [m.get("id", "") for m in response.json().get("data", [])]

    def wait_until_ready(
        self, model_name: str, *, timeout_s: float, poll_s: float = 2.0, log_every_s: float = 15.0
    ) -> bool:
        """Wait up to `timeout_s` seconds for a replica to list `model_name` on `/v1/models`: True once one does,
        False at the deadline. A server still loading weights refuses connections or answers 503; that is
        reported as cold-starting, once every `log_every_s`."""
        deadline = time.monotonic() + timeout_s
        next_log = 0.0
        while True:
            problems = []
            for replica in self.pool.replicas:
                try:
                    models = self.served_models(replica.base_url)
                except (httpx.HTTPError, ValueError) as exc:
                    problems.append(f"{replica.base_url} ({type(exc).__name__})")
                    continue
                if model_name in models:
                    logger.info("vLLM at %s serves %s; ready", replica.base_url, model_name)
                    return True
                problems.append(f"{replica.base_url} serves {models}, not {model_name!r}")
            now = time.monotonic()
            if now >= deadline:
                logger.error("The DeepSeek-OCR server is still not ready: %s", "; ".join(problems))
                return False
            if now >= next_log:
                logger.warning(
                    "Waiting for the DeepSeek-OCR server: it is cold-starting or unreachable: %s", "; ".join(problems)
                )
                next_log = now + log_every_s
            time.sleep(poll_s)

    def close(self) -> None:
        """Close the HTTP client and its connections."""
        self.http.close()
