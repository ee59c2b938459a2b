"""DeepSeek-OCR served by vLLM, through its OpenAI-compatible Chat Completions API.

One page per request, built exactly as DESIGN.md asks (`inference.vllm_client.request_body`): the image as a data
URL first, then the prompt, no system message, `temperature` 0, `skip_special_tokens` false, and the n-gram guard's
arguments in `vllm_xargs`. The requests travel through `inference.vllm_client.VllmClient` (replicas, the in-flight
bound, retries and cool-down); this module reads pages: long pages as strips, the ladder for a page that loops,
the answer parsed into text and blocks, and the server's repetition guard checked before any page is sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from PIL import Image

from inference import deepseek_output, strips
from inference.base import EngineError, EngineUnavailable, ModeSpec, PageResult, Usage
from inference.images import EncodedImage, encode, encode_for_model
from inference.vllm_client import (
    BACKOFF_MAX_S,
    BACKOFF_S,
    CONNECT_TIMEOUT_S,
    COOLDOWN_S,
    MAX_INFLIGHT,
    READ_TIMEOUT_S,
    RETRIES,
    Completion,
    VllmClient,
    request_body,
)
from inference.vllm_guard import probe_guard, server_version
from inference.vllm_models import GuardVerdict, NGram, judge_server, page_token_cap, profile_for
from inference.vllm_strips import extras, recognize_in_strips, rows_text

logger = logging.getLogger(__name__)

CONTEXT_TOKENS = 8192
DEFAULT_MAX_TOKENS = 7000  # the prompt (an image is at most ~920 tokens) plus this stays inside 8192
FALLBACK_PROMPT = "Free OCR."
GUARD_RECHECK_S = 60.0


class VllmEngine:
    """The DeepSeek-OCR engine. Thread-safe: a worker's threads share it."""

    def __init__(
        self,
        *,
        base_urls: Sequence[str],
        model: str = "deepseek-ai/DeepSeek-OCR",
        max_inflight: int = MAX_INFLIGHT,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
        retries: int = RETRIES,
        backoff_s: float = BACKOFF_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        cooldown_s: float = COOLDOWN_S,
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
        self.max_tokens = max_tokens
        self.page_format = page_format
        self.max_inflight = max_inflight
        self.client = VllmClient(
            base_urls=base_urls,
            max_inflight=max_inflight,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
            retries=retries,
            backoff_s=backoff_s,
            backoff_max_s=backoff_max_s,
            cooldown_s=cooldown_s,
            api_key=api_key,
        )
        self.pool = self.client.pool  # the replicas: `check_guard` probes each

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

    # --- requests -----------------------------------------------------------------------------------------------
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
        return self.client.post_completion(body)

    def wait_until_ready(self, *, timeout_s: float, poll_s: float = 2.0, log_every_s: float = 15.0) -> bool:
        """Wait up to `timeout_s` seconds for a replica to list this engine's model (`VllmClient.wait_until_ready`);
        False when none did by then."""
        return self.client.wait_until_ready(
            self.model_name, timeout_s=timeout_s, poll_s=poll_s, log_every_s=log_every_s
        )

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

    # --- the repetition guard -------------------------------------------------------------------------------
    def check_guard(self) -> GuardVerdict:
        """Read each replica's `/version` and probe its n-gram processor; the verdict is kept and logged, and
        while it is bad no page is sent (`complete` raises EngineUnavailable with the operator's message)."""
        verdicts = []
        for replica in self.pool.replicas:
            verdict = judge_server(
                model=self.model_name,
                version=server_version(self.client.http, replica.base_url),
                probe_refused=probe_guard(self.client.http, replica.base_url, self._probe_body()),
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
        self.client.close()
