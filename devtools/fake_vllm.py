"""A fake vLLM server for DeepSeek-OCR: a real HTTP server that speaks vLLM's OpenAI-compatible API.

It is the only stand-in for the model (no weights can be fetched here), so it is strict where vLLM is strict:
- `model` must be the served name (404 otherwise);
- `messages`, their parts and the image data URL are checked, and the image must decode;
- `max_tokens` plus the prompt's tokens must fit the context (8192), or it answers vLLM's 400;
- `vllm_xargs` values must be strings, numbers or lists of them, and the n-gram processor's `ngram_size` and
  `window_size` positive integers, `whitelist_token_ids` a list of integers (400 otherwise).
Fields vLLM ignores it ignores too, but it records every body so tests can assert what left the client.

Its answers are written as DeepSeek-OCR writes them (grounding tags, an HTML table with rowspan and colspan,
`\\(..\\)` and `\\[..\\]` LaTeX, an image block, the end-of-sentence token), with boxes in 0–999 units.

It plays either model (`model`): DeepSeek-OCR (`deepseek-ai/DeepSeek-OCR`, 640-pixel crops of 100 tokens) or
DeepSeek-OCR 2 (`deepseek-ai/DeepSeek-OCR-2`, 0–6 crops of 768 pixels at 144 tokens plus a 256-token global view:
at most 1,120 vision tokens). `GET /version` answers `version` as vLLM does; with `guard=False` it plays a server
whose n-gram processor is not loaded (it accepts any `vllm_xargs`, as vLLM does without `--logits-processors`).

Triggers drawn into the image (top-left 8×8 pixels):
- magenta (255, 0, 255): a repetition loop ending in `finish_reason: "length"`, except for the `Free OCR.` prompt;
- yellow (255, 255, 0): a loop unless the n-gram window is the tight one (`ngram_size` 20 or less);
- cyan (0, 255, 255): a repetition loop for every prompt.
`loop_next` (or `POST /_fake/faults {"loops": N}`) makes the next N requests loop whatever they carry.

Capacity model: at most `capacity` requests are served at once, each taking `latency` seconds; the rest wait. It
counts the most requests it ever served at once.

Holding, for tests that must not depend on the machine's speed: `hold(n)` keeps every arriving page request waiting
until `n` have arrived (then all go on together: proof that n were in flight at once), `hold()` until `release()`
(a page deterministically "in the middle"); `wait_arrived(n)` waits for the n-th arrival. A hold gives up after
`hold_s` seconds (a bound that only catches a hang) and counts that in `hold_timeouts`.

Faults for tests: `POST /_fake/faults {"statuses": [500, 500]}`
answers the next requests with those statuses; a status of `HANG` (0) holds the request `hang_s` seconds first, past
a client's read timeout, then answers 504. A client that closes its connection while its request is being served is
noticed (as vLLM notices it and aborts the request) and counted in `aborted`.
`GET /_fake/stats`, `GET /_fake/requests`, `POST /_fake/reset`.

Run alone: `python -m devtools.fake_vllm --port 8001 --capacity 64 --latency 4` (prints `LISTENING <port>`).
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from PIL import Image

from devtools.fake_vllm_answers import (
    CHART,
    DOCUMENT,
    EOS,
    FREE,
    LOOP_LINE,
    OCR,
    PROMPT_CHART,
    PROMPT_FREE,
    PROMPT_OCR,
    image_tokens,
    image_tokens_v2,
    text_tokens,
)
from devtools.fake_vllm_answers import marker as image_marker
from devtools.fake_vllm_http import ClientGone, Handler, RequestError, image_from_data_url, vllm_xargs_check

MODEL = "deepseek-ai/DeepSeek-OCR"
MODEL_2 = "deepseek-ai/DeepSeek-OCR-2"
MAX_MODEL_LEN = 8192
HANG = 0  # a fault that holds the request past the client's read timeout


class FakeVllm:
    def __init__(
        self,
        *,
        capacity: int = 64,
        latency: float = 0.05,
        model: str = MODEL,
        max_model_len: int = MAX_MODEL_LEN,
        host: str = "127.0.0.1",
        port: int = 0,
        keep_requests: int = 50,
        hang_s: float = 5.0,
        version: str | None = "0.12.0",
        guard: bool = True,
        loop_next: int = 0,
        reader: Callable[[Image.Image], str] | None = None,
    ) -> None:
        self.hang_s = hang_s
        self.version, self.guard = version, guard
        #: Reads the image for the OCR prompt (devtools/ocr_reader.py) instead of answering the canned lines.
        self.reader = reader
        self.capacity, self.latency, self.model, self.max_model_len = capacity, latency, model, max_model_len
        self._slots = threading.Semaphore(capacity)
        self._lock = threading.Lock()
        self._arrivals = threading.Condition(self._lock)
        self.hold_count: float | None = None
        self.hold_s = 120.0
        self.requests: deque[dict[str, Any]] = deque(maxlen=keep_requests)
        self.faults: deque[int] = deque()
        self.reset()
        self.loop_next = loop_next
        fake = self

        class FakeHandler(Handler):
            server_fake = fake

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 2048

        self.httpd = Server((host, port), FakeHandler)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://{host}:{self.port}/v1"
        self._thread: threading.Thread | None = None

    def reset(self) -> None:
        with self._lock:
            self.inflight = 0
            self.max_inflight = 0
            self.served = 0
            self.received = 0
            self.arrived = 0
            self.hold_timeouts = 0
            self.hold_count = None
            self._arrivals.notify_all()
            self.aborted = 0
            self.first_start: float | None = None
            self.last_end: float | None = None
            self.requests.clear()
            self.faults.clear()
            self.loop_next = 0

    def faults_add(self, *, statuses: list[int], loops: int = 0) -> dict[str, int]:
        """Queue `statuses` for the next requests and make the next `loops` requests loop (`POST /_fake/faults`);
        returns how many faults are queued and loops are due."""
        self.faults.extend(int(s) for s in statuses)
        with self._lock:
            self.loop_next += int(loops)
            return {"queued": len(self.faults), "loops": self.loop_next}

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "inflight": self.inflight,
                "max_inflight": self.max_inflight,
                "served": self.served,
                "received": self.received,
                "arrived": self.arrived,
                "hold_timeouts": self.hold_timeouts,
                "aborted": self.aborted,
                "first_start": self.first_start,
                "last_end": self.last_end,
                "capacity": self.capacity,
                "latency": self.latency,
            }

    def hold(self, n: int | None = None) -> None:
        """Hold page requests until `n` have arrived (counting from now), or with no `n` until `release()`."""
        with self._lock:
            self.arrived = 0
            self.hold_count = float("inf") if n is None else n

    def release(self) -> None:
        with self._lock:
            self.hold_count = None
            self._arrivals.notify_all()

    def wait_arrived(self, n: int, timeout: float = 120.0) -> bool:
        """Block until `n` page requests arrived since the last `hold` (False after `timeout`: a hang)."""
        with self._lock:
            return self._arrivals.wait_for(lambda: self.arrived >= n, timeout=timeout)

    def _arrive(self) -> None:
        with self._lock:
            self.arrived += 1
            self._arrivals.notify_all()
            if self.hold_count is None:
                return
            if not self._arrivals.wait_for(
                lambda: self.hold_count is None or self.arrived >= self.hold_count, timeout=self.hold_s
            ):
                self.hold_timeouts += 1

    def start(self) -> FakeVllm:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- the model ----------------------------------------------------------------------------------------------
    def chat(self, body: Any, closed=lambda: False) -> dict[str, Any]:
        with self._lock:
            self.received += 1
            self.requests.append(body)
            fault = self.faults.popleft() if self.faults else None
            forced_loop = self.loop_next > 0
            self.loop_next = max(0, self.loop_next - 1)
        if fault == HANG:
            time.sleep(self.hang_s)
            raise RequestError(504, "Injected hang", "GatewayTimeout")
        if fault:
            raise RequestError(fault, "Injected fault", "InternalServerError" if fault >= 500 else "BadRequestError")
        prompt, image, max_tokens = self.validate(body)
        vision = image_tokens_v2(*image.size) if self.model == MODEL_2 else image_tokens(*image.size)
        prompt_tokens = vision + text_tokens(prompt) + 4
        if prompt_tokens + max_tokens > self.max_model_len:
            raise RequestError(
                400,
                f"This model's maximum context length is {self.max_model_len} tokens. However, you requested "
                f"{prompt_tokens + max_tokens} tokens ({prompt_tokens} in the messages, {max_tokens} in the "
                "completion). Please reduce the length of the messages or completion.",
                param="max_tokens",
            )
        ngram_size = (body.get("vllm_xargs") or {}).get("ngram_size") if self.guard else None
        content, finish = self.answer(prompt, image, max_tokens, forced_loop=forced_loop, ngram_size=ngram_size)
        self._arrive()
        self._serve_slot(closed)
        completion_tokens = min(max_tokens, text_tokens(content))
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "reasoning_content": None, "tool_calls": []},
                    "logprobs": None,
                    "finish_reason": finish,
                    "stop_reason": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "completion_tokens": completion_tokens,
                "prompt_tokens_details": None,
            },
            "prompt_logprobs": None,
        }

    def _serve_slot(self, closed=lambda: False) -> None:
        """The capacity model: wait for one of `capacity` slots, then take `latency` seconds; a client that
        closes its connection meanwhile aborts the request (ClientGone), as vLLM does."""
        with self._slots:
            with self._lock:
                self.inflight += 1
                self.max_inflight = max(self.max_inflight, self.inflight)
                if self.first_start is None:
                    self.first_start = time.time()
            gone = False
            try:
                end = time.monotonic() + self.latency
                while (left := end - time.monotonic()) > 0:
                    time.sleep(min(left, 0.02))
                    if closed():
                        gone = True
                        raise ClientGone
            finally:
                with self._lock:
                    self.inflight -= 1
                    if gone:
                        self.aborted += 1
                    else:
                        self.served += 1
                    self.last_end = time.time()

    def answer(
        self, prompt: str, image: Image.Image, max_tokens: int, *, forced_loop: bool = False, ngram_size=None
    ) -> tuple[str, str]:
        marker = image_marker(image)
        tight = isinstance(ngram_size, int) and ngram_size <= 20
        if (
            forced_loop
            or marker == "cyan"
            or (marker == "magenta" and prompt != PROMPT_FREE)
            or (marker == "yellow" and not tight)
        ):
            loop = "<|ref|>table<|/ref|><|det|>[[73, 215, 925, 452]]<|/det|>\n<table><tr><td>North</td>"
            while text_tokens(loop) < max_tokens:
                loop += LOOP_LINE
            return loop, "length"
        if prompt == PROMPT_OCR:
            return (self.reader(image) + EOS if self.reader else OCR), "stop"
        if prompt == PROMPT_CHART:
            return CHART, "stop"
        if "<|grounding|>" in prompt:
            return DOCUMENT, "stop"
        return FREE, "stop"

    def validate(self, body: Any) -> tuple[str, Image.Image, int]:
        if not isinstance(body, dict):
            raise RequestError(400, "The request body must be a JSON object.")
        if body.get("model") != self.model:
            raise RequestError(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError", "model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(400, "messages: Field required; a non-empty list is expected.", param="messages")
        prompt, images = "", []
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
                raise RequestError(400, "messages: each message needs a role of system, user or assistant.")
            content = message.get("content")
            if isinstance(content, str):
                prompt += content
                continue
            if not isinstance(content, list):
                raise RequestError(400, "messages: content must be a string or a list of parts.")
            for part in content:
                kind = part.get("type") if isinstance(part, dict) else None
                if kind == "text" and isinstance(part.get("text"), str):
                    prompt += part["text"]
                elif kind == "image_url" and isinstance(part.get("image_url"), dict):
                    images.append(image_from_data_url(part["image_url"].get("url")))
                else:
                    raise RequestError(400, f"messages: unsupported content part {kind!r}.")
        if len(images) != 1:
            raise RequestError(400, f"At most 1 image(s) may be provided in one request; got {len(images)}.")
        temperature = body.get("temperature", 1.0)
        if not isinstance(temperature, int | float) or isinstance(temperature, bool) or temperature < 0:
            raise RequestError(400, "temperature must be a non-negative number.", param="temperature")
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)):
            raise RequestError(400, "max_tokens must be an integer.", param="max_tokens")
        if max_tokens is not None and max_tokens < 1:
            raise RequestError(400, f"max_tokens must be at least 1, got {max_tokens}.", param="max_tokens")
        if not isinstance(body.get("skip_special_tokens", True), bool):
            raise RequestError(400, "skip_special_tokens must be a boolean.", param="skip_special_tokens")
        if self.guard:  # only a loaded n-gram processor checks its arguments
            vllm_xargs_check(body.get("vllm_xargs"))
        return prompt, images[0], max_tokens if max_tokens is not None else self.max_model_len


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--capacity", type=int, default=64, help="requests served at once (C)")
    parser.add_argument("--latency", type=float, default=4.0, help="seconds per request (L)")
    parser.add_argument("--model", default=MODEL, help=f"{MODEL} or {MODEL_2}")
    parser.add_argument("--version", default="0.12.0", help="what GET /version answers")
    parser.add_argument("--no-guard", action="store_true", help="play a server without the n-gram processor")
    args = parser.parse_args()
    fake = FakeVllm(
        capacity=args.capacity,
        latency=args.latency,
        model=args.model,
        host=args.host,
        port=args.port,
        version=args.version,
        guard=not args.no_guard,
    )
    print(f"LISTENING {fake.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        fake.httpd.serve_forever()


if __name__ == "__main__":
    main()
