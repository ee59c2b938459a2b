"""DeepSeek-OCR served by vLLM, through its OpenAI-compatible Chat Completions API.

One page per request, built exactly as DESIGN.md asks: the image as a data URL first, then the prompt, no system
message, `temperature` 0, `skip_special_tokens` false, and the n-gram guard's arguments in `vllm_xargs`.

One engine object serves a whole worker process and all its threads: it keeps one pooled HTTP client, a bound on
the requests in flight (`max_inflight`), and the replicas with their in-flight counts. A replica is chosen least
in-flight first; one that fails to connect or answers 5xx is skipped for `cooldown_s`.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from PIL import Image

from inference import cancel, deepseek_output, strips
from inference.base import (
    EngineError,
    EngineUnavailable,
    ModeSpec,
    PageResult,
    Usage,
)
from inference.images import EncodedImage, encode, encode_for_model
from inference.vllm_guard import probe_guard, server_message, server_version
from inference.vllm_models import GuardVerdict, NGram, judge_server, page_token_cap, profile_for
from inference.vllm_strips import extras, recognize_in_strips, rows_text

logger = logging.getLogger(__name__)

CONTEXT_TOKENS = 8192
DEFAULT_MAX_TOKENS = 7000  # the prompt (an image is at most ~920 tokens) plus this stays inside 8192
FALLBACK_PROMPT = "Free OCR."
GUARD_RECHECK_S = 60.0


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
    cooldown_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, urls: Sequence[str], cooldown_s: float = 10.0) -> ReplicaPool:
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


class VllmEngine:
    """The DeepSeek-OCR engine. Thread-safe: a worker's threads share it."""

    def __init__(
        self,
        *,
        base_urls: Sequence[str],
        model: str = "deepseek-ai/DeepSeek-OCR",
        max_inflight: int = 64,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 300.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        backoff_max_s: float = 20.0,
        cooldown_s: float = 10.0,
        page_format: str = "jpeg",
        api_key: str = "",
        cpu_fallback: bool = True,
        strip_max_side: int = 3840,
        strip_side: int = 2048,
    ) -> None:
        self.model_name = model
        #: DeepSeek-OCR sees a page through at most six 640-pixel tiles (3840 px along one side); a page whose text
        #: that would shrink too far is sent as strips `strip_side` long, one request each, all in flight together.
        self.max_side, self.strip_side = strip_max_side, strip_side
        self.profile = profile_for(model)
        self.cpu_fallback = cpu_fallback
        self.guard: GuardVerdict | None = None  # None until check_guard ran; then the last verdict
        self._guard_checked_at = 0.0
        self._guard_lock = threading.Lock()
        self.pool = ReplicaPool.of(base_urls, cooldown_s=cooldown_s)
        self.max_tokens = max_tokens
        self.retries = retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.page_format = page_format
        self.max_inflight = max_inflight
        self._slots = threading.BoundedSemaphore(max_inflight)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=max_inflight + 8, max_keepalive_connections=max_inflight + 8)
        transport = httpx.HTTPTransport(limits=limits)
        # Connections a cancelled job is waiting on are shut down (inference/cancel.py): vLLM aborts a request whose
        # connection closes. httpx has no public hook for httpcore's network backend, so it is set on the pool.
        transport._pool._network_backend = cancel.CancellableBackend()
        self._client = httpx.Client(
            timeout=httpx.Timeout(connect=connect_timeout_s, read=read_timeout_s, write=30.0, pool=read_timeout_s),
            transport=transport,
            headers=headers,
        )

    # --- the interface ------------------------------------------------------------------------------------------
    def supports(self, mode: ModeSpec) -> bool:
        """True: DeepSeek-OCR serves every output kind."""
        return True

    def recognize(self, image: Image.Image, mode: ModeSpec, *, source: EncodedImage | None = None) -> PageResult:
        """One page. A very long or wide page is sent as overlapping strips (`inference.strips`), all at once, and
        their results are joined into one page; each strip (or the page) then goes through `_recognize_one`."""
        plan = strips.plan_strips(image.width, image.height, max_side=self.max_side, strip_side=self.strip_side)
        if plan is not None:
            read = lambda part: self._recognize_one(part, mode, source=None)  # noqa: E731
            return recognize_in_strips(image, plan, read, mode=mode, workers=self.max_inflight)
        return self._recognize_one(image, mode, source=source)

    def _recognize_one(self, image: Image.Image, mode: ModeSpec, *, source: EncodedImage | None) -> PageResult:
        """One page. A page that loops (`finish_reason == "length"`) climbs a ladder: the tighter
        n-gram setting, then the plain prompt, then the CPU engine for this page where one is installed, and only
        then fails alone, saying why. Each try is recorded in `extra["attempts"]`; the step that gave the kept
        answer in `extra["recovered_by"]`. Retries ask for at most what the page could hold (`page_token_cap`)."""
        width, height = image.size
        payload = encode_for_model(image, source=source, page_format=self.page_format)
        prompt = self.profile.prompt_for(mode.prompt)
        first = self.complete(prompt=prompt, image=payload)
        if first.finish_reason != "length":
            return self._page(first, image, replace(mode, prompt=prompt), width, height)
        attempts = [{"step": "first", "prompt": prompt, "max_tokens": self.max_tokens, "finish_reason": "length"}]
        usage = Usage(first.usage.prompt_tokens, first.usage.completion_tokens)
        cap = min(self.max_tokens, page_token_cap(width, height))
        steps = (
            ("ngram_tight", prompt, self.profile.ngram_tight),
            ("plain_prompt", self.profile.plain_prompt, self.profile.ngram_tight),
        )
        for step, step_prompt, ngram in steps:
            if step == "plain_prompt" and step_prompt == prompt:
                continue  # the mode's prompt is the plain one already: that try was the step before
            logger.warning("Page hit max_tokens (a repetition loop); retrying: %s", step)
            answer = self.complete(prompt=step_prompt, image=payload, ngram=ngram, max_tokens=cap)
            usage = Usage(
                usage.prompt_tokens + answer.usage.prompt_tokens,
                usage.completion_tokens + answer.usage.completion_tokens,
            )
            attempts.append(
                {"step": step, "prompt": step_prompt, "max_tokens": cap, "finish_reason": answer.finish_reason}
            )
            if answer.finish_reason != "length":
                page = self._page(answer, image, replace(mode, prompt=step_prompt), width, height)
                return self._recovered(page, step, attempts, usage)
        fallback = self._cpu_fallback(mode)
        if fallback is not None:
            try:
                page = fallback.recognize(image, mode)
            except EngineError as exc:
                attempts.append({"step": "cpu_engine", "error": exc.message})
            else:
                attempts.append({"step": "cpu_engine", "model": fallback.model_name, "finish_reason": "stop"})
                page.extra["engine"] = fallback.model_name
                return self._recovered(page, "cpu_engine", attempts, usage)
        tried = ", ".join(a["step"] for a in attempts)
        return PageResult(
            text="",
            blocks=[],
            width=width,
            height=height,
            usage=usage,
            finish_reason="length",
            extra={"attempts": attempts},
            error="The model fell into a repetition loop on this page at every step tried "
            f"({tried}); no text was kept for it.",
        )

    @staticmethod
    def _recovered(page: PageResult, step: str, attempts: list[dict], usage: Usage) -> PageResult:
        page.usage = usage
        page.extra["recovered_by"] = step
        page.extra["attempts"] = attempts
        return page

    def _cpu_fallback(self, mode: ModeSpec):
        """The CPU engine for one page, where it is installed and can serve the mode; None otherwise."""
        if not self.cpu_fallback:
            return None
        try:
            from inference.rapid import SUPPORTED_KINDS, rapidocr_for_fallback

            if mode.output_kind not in SUPPORTED_KINDS:
                return None
            return rapidocr_for_fallback()
        except Exception:  # not installed or its models are missing: the ladder ends with a failed page
            logger.warning("The CPU engine is not available for the last step of the ladder", exc_info=True)
            return None

    # --- HTTP ---------------------------------------------------------------------------------------------------
    def complete(
        self, *, prompt: str, image: EncodedImage, ngram: NGram | None = None, max_tokens: int | None = None
    ) -> Completion:
        """One Chat Completions request (retried on connection errors, 429 and 5xx). Refused with
        EngineUnavailable while the server's repetition guard is known to be inactive (`check_guard`)."""
        self._refuse_if_unguarded()
        body = request_body(
            model=self.model_name,
            prompt=prompt,
            image=image,
            max_tokens=max_tokens or self.max_tokens,
            ngram=ngram or self.profile.ngram,
        )
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
                response = self._client.post(f"{replica.base_url}/chat/completions", json=body)
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

    # --- parsing ------------------------------------------------------------------------------------------------
    def _page(self, completion: Completion, image: Image.Image, mode: ModeSpec, width: int, height: int) -> PageResult:
        refs_are_text = "OCR this image" in mode.prompt
        parsed = deepseek_output.parse(completion.content, width, height, refs_are_text=refs_are_text)
        text = parsed.text
        if refs_are_text and parsed.blocks:
            # Plain text reads row by row, as the CPU engine's does: a form's value beside its label is one line.
            text = rows_text(parsed.blocks)
        return PageResult(
            text=text,
            blocks=parsed.blocks,
            width=width,
            height=height,
            usage=completion.usage,
            finish_reason=completion.finish_reason,
            extra=extras(mode.output_kind, text, parsed.blocks),
        )

    # --- health -------------------------------------------------------------------------------------------------
    def served_models(self, base_url: str) -> list[str]:
        """Model ids served at `base_url` (GET /models, 5 s timeout); raises httpx.HTTPError on failure."""
        response = self._client.get(f"{base_url}/models", timeout=5.0)
        response.raise_for_status()
        return [m.get("id", "") for m in response.json().get("data", [])]

    def wait_until_ready(self, *, timeout_s: float, poll_s: float = 2.0, log_every_s: float = 15.0) -> bool:
        """Wait for a replica to list the model on `/v1/models`. A server still loading weights refuses connections
        or answers 503; that is reported as cold-starting, once every `log_every_s`."""
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
                if self.model_name in models:
                    logger.info("vLLM at %s serves %s; ready", replica.base_url, self.model_name)
                    return True
                problems.append(f"{replica.base_url} serves {models}, not {self.model_name!r}")
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

    # --- the repetition guard -------------------------------------------------------------------------------
    def check_guard(self) -> GuardVerdict:
        """Read each replica's `/version` and probe its n-gram processor; the verdict is kept and logged, and
        while it is bad no page is sent (`complete` raises EngineUnavailable with the operator's message)."""
        verdicts = []
        for replica in self.pool.replicas:
            verdict = judge_server(
                model=self.model_name,
                version=server_version(self._client, replica.base_url),
                probe_refused=probe_guard(self._client, replica.base_url, self._probe_body()),
            )
            verdicts.append(verdict)
            if verdict.ok:
                logger.info("vLLM at %s: %s", replica.base_url, verdict.message)
            else:
                logger.error("vLLM at %s refused for work: %s", replica.base_url, verdict.message)
        bad = [v for v in verdicts if not v.ok]
        with self._guard_lock:
            self.guard = bad[0] if bad else verdicts[0]
            self._guard_checked_at = time.monotonic()
        return self.guard

    def _probe_body(self) -> dict[str, Any]:
        tiny = encode(Image.new("RGB", (32, 32), "white"), "png")
        body = request_body(model=self.model_name, prompt=self.profile.plain_prompt, image=tiny, max_tokens=1)
        body["vllm_xargs"]["ngram_size"] = 0  # invalid on purpose: only a loaded n-gram processor refuses it
        return body

    def _refuse_if_unguarded(self) -> None:
        guard = self.guard
        if guard is None or guard.ok:
            return
        if time.monotonic() - self._guard_checked_at >= GUARD_RECHECK_S:
            guard = self.check_guard()
            if guard.ok:
                return
        raise EngineUnavailable(
            "The DeepSeek-OCR server is not safe to use right now (its repetition guard is not active); the "
            "operator has been told in the worker log. The page will be tried again."
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
