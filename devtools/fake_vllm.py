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
import base64
import binascii
import contextlib
import io
import json
import math
import select
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

MODEL = "deepseek-ai/DeepSeek-OCR"
MODEL_2 = "deepseek-ai/DeepSeek-OCR-2"
MAX_MODEL_LEN = 8192
HANG = 0  # a fault that holds the request past the client's read timeout
EOS = "<｜end▁of▁sentence｜>"
PROMPT_OCR = "<|grounding|>OCR this image."
PROMPT_MARKDOWN = "<|grounding|>Convert the document to markdown."
PROMPT_CHART = "Parse the figure."
PROMPT_FREE = "Free OCR."

DOCUMENT = (
    "<|ref|>title<|/ref|><|det|>[[73, 52, 574, 86]]<|/det|>\n# Quarterly Report 2025\n\n"
    "<|ref|>text<|/ref|><|det|>[[73, 110, 925, 190]]<|/det|>\n"
    "Revenue grew by 12% over the quarter, driven by the northern region. Costs stayed flat at \\(C = 4.2\\) "
    "million.\n\n"
    # As the model writes it: the table's tag, straight away the caption's tag, then the caption and the HTML.
    "<|ref|>table<|/ref|><|det|>[[73, 215, 925, 452]]<|/det|>\n"
    "<|ref|>table_caption<|/ref|><|det|>[[73, 458, 540, 482]]<|/det|>\nTable 1: Revenue by region (k€).  \n\n"
    '<table><tr><td rowspan="2">Region</td><td colspan="2">Revenue</td></tr><tr><td>Q1</td><td>Q2</td></tr>'
    "<tr><td>North</td><td>1,200</td><td>1,350</td></tr><tr><td>South</td><td>980</td><td>1,010</td></tr>"
    "</table>  \n\n"
    "<|ref|>equation<|/ref|><|det|>[[300, 510, 700, 560]]<|/det|>\n"
    "\\[\nG = \\frac{R_{Q2} - R_{Q1}}{R_{Q1}}\n\\]\n\n"
    "<|ref|>image<|/ref|><|det|>[[120, 600, 880, 900]]<|/det|>\n\n\n"
    "<|ref|>image_caption<|/ref|><|det|>[[300, 910, 700, 940]]<|/det|>\n"
    "<center>Figure 1: Monthly revenue.</center>" + EOS
)
OCR_LINES = [
    ("Quarterly Report 2025", [73, 52, 574, 86]),
    ("Revenue grew by 12% over the quarter, driven by the northern region.", [73, 110, 925, 148]),
    ("Costs stayed flat at 4.2 million.", [73, 152, 560, 190]),
    ("Region Revenue Q1 Q2", [73, 215, 925, 300]),
    ("North 1,200 1,350", [73, 305, 925, 378]),
    ("South 980 1,010", [73, 380, 925, 452]),
]
OCR = "".join(f"<|ref|>{text}<|/ref|><|det|>[{box}]<|/det|>\n" for text, box in OCR_LINES) + EOS
CHART = (
    "Monthly revenue (k€)\n\n<table><tr><td>Month</td><td>Revenue</td><td>Costs</td></tr>"
    "<tr><td>Jan</td><td>410</td><td>300</td></tr><tr><td>Feb</td><td>455</td><td>310</td></tr>"
    "<tr><td>Mar</td><td>485</td><td>305</td></tr></table>" + EOS
)
FREE = (
    "Quarterly Report 2025\n\nRevenue grew by 12% over the quarter, driven by the northern region. Costs stayed "
    "flat at 4.2 million.\n\nRegion Revenue Q1 Q2\nNorth 1,200 1,350\nSouth 980 1,010" + EOS
)
LOOP_LINE = "<td>1,200</td><td>1,350</td></tr><tr><td>North</td>"


class RequestError(Exception):
    def __init__(self, status: int, message: str, kind: str = "BadRequestError", param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


def image_tokens(width: int, height: int) -> int:
    """DeepSeek-OCR's "Gundam" tiling as vLLM serves it: a 1024 global view (256 tokens, a newline per row and a
    separator) plus up to 6 local 640-pixel crops (100 tokens and 10 newlines each) for images past 640 px."""
    tokens = 256 + 16 + 1
    if max(width, height) <= 640:
        return tokens
    cols, rows = max(1, math.ceil(width / 640)), max(1, math.ceil(height / 640))
    while cols * rows > 6:
        if cols >= rows:
            cols -= 1
        else:
            rows -= 1
    return tokens + cols * rows * 100 + rows * 10


def image_tokens_v2(width: int, height: int) -> int:
    """DeepSeek-OCR 2: a 1024 global view of 256 tokens plus 0–6 local crops of 768 pixels at 144 tokens each."""
    if max(width, height) <= 768:
        return 256
    cols, rows = max(1, math.ceil(width / 768)), max(1, math.ceil(height / 768))
    while cols * rows > 6:
        if cols >= rows:
            cols -= 1
        else:
            rows -= 1
    return 256 + cols * rows * 144


def text_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 3.2))


def _marker(image: Image.Image) -> str | None:
    """The trigger colour in the top-left corner, with a tolerance for JPEG encoding."""
    if min(image.size) <= 8:
        return None
    r, g, b = image.convert("RGB").getpixel((3, 3))
    for name, (er, eg, eb) in {"magenta": (255, 0, 255), "cyan": (0, 255, 255), "yellow": (255, 255, 0)}.items():
        if abs(r - er) + abs(g - eg) + abs(b - eb) < 60:
            return name
    return None


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

        class Handler(_Handler):
            server_fake = fake

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 2048

        self.httpd = Server((host, port), Handler)
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
        marker = _marker(image)
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
                    images.append(self._decode_image(part["image_url"].get("url")))
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
            self._validate_xargs(body.get("vllm_xargs"))
        return prompt, images[0], max_tokens if max_tokens is not None else self.max_model_len

    @staticmethod
    def _decode_image(url: Any) -> Image.Image:
        if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
            raise RequestError(400, "Only base64 image data URLs are accepted here.", param="image_url")
        try:
            data = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
            image = Image.open(io.BytesIO(data))
            image.load()
        except (binascii.Error, ValueError, OSError) as exc:
            raise RequestError(400, f"Failed to load image: {exc}", param="image_url") from exc
        return image

    @staticmethod
    def _validate_xargs(xargs: Any) -> None:
        if xargs is None:
            return
        if not isinstance(xargs, dict):
            raise RequestError(400, "vllm_xargs must be an object.", param="vllm_xargs")
        scalar = (str, int, float)
        for key, value in xargs.items():
            ok = isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(v, scalar) for v in value))
            if not ok or isinstance(value, bool):
                raise RequestError(400, f"vllm_xargs[{key!r}] must be a string, a number or a list.", param=key)
        for key in ("ngram_size", "window_size"):
            if key in xargs and (not isinstance(xargs[key], int) or isinstance(xargs[key], bool) or xargs[key] <= 0):
                raise RequestError(
                    400, f"`{key}` has to be a strictly positive integer, got {xargs[key]!r}.", param="vllm_xargs"
                )
        whitelist = xargs.get("whitelist_token_ids", [])
        if not isinstance(whitelist, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in whitelist
        ):
            raise RequestError(400, "`whitelist_token_ids` has to be a list of token ids.", param="vllm_xargs")


class ClientGone(Exception):
    """The client closed the connection while its request was being served."""


def _peer_closed(sock: socket.socket) -> bool:
    """True once the other end has closed (a readable socket with nothing to read, or a reset)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeVllm
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, exc: RequestError) -> None:
        self._send(
            exc.status, {"error": {"message": exc.message, "type": exc.kind, "param": exc.param, "code": exc.status}}
        )

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null")
        except ValueError as exc:
            raise RequestError(400, f"Invalid JSON: {exc}") from exc

    def do_GET(self) -> None:
        fake = self.server_fake
        if self.path == "/v1/models":
            self._send(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": fake.model,
                            "object": "model",
                            "created": int(time.time()),
                            "owned_by": "vllm",
                            "root": fake.model,
                            "parent": None,
                            "max_model_len": fake.max_model_len,
                        }
                    ],
                },
            )
        elif self.path == "/version" and fake.version is not None:
            self._send(200, {"version": fake.version})
        elif self.path == "/health":
            self._send(200, {})
        elif self.path == "/_fake/stats":
            self._send(200, fake.stats())
        elif self.path == "/_fake/requests":
            self._send(200, list(fake.requests))
        else:
            self._send(404, {"error": {"message": "Not Found", "type": "NotFoundError", "param": None, "code": 404}})

    def do_POST(self) -> None:
        fake = self.server_fake
        try:
            body = self._body()
            if self.path == "/v1/chat/completions":
                try:
                    answer = fake.chat(body, closed=lambda: _peer_closed(self.connection))
                except ClientGone:
                    self.close_connection = True
                    return
                self._send(200, answer)
            elif self.path == "/_fake/faults":
                fake.faults.extend(int(s) for s in body.get("statuses", []))
                with fake._lock:
                    fake.loop_next += int(body.get("loops", 0))
                self._send(200, {"queued": len(fake.faults), "loops": fake.loop_next})
            elif self.path == "/_fake/reset":
                fake.reset()
                self._send(200, {})
            else:
                raise RequestError(404, "Not Found", "NotFoundError")
        except RequestError as exc:
            self._error(exc)


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
