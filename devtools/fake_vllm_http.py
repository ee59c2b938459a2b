"""The HTTP side of the fake vLLM server (devtools/fake_vllm.py): vLLM's routes, its error body, the checks it makes on
a request's image and `vllm_xargs`, and the client that hangs up mid-request."""

from __future__ import annotations

import base64
import binascii
import io
import json
import select
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from PIL import Image


class RequestError(Exception):
    """A request vLLM would refuse: answered with `status` and OpenAI's error body (`kind` is its `type`)."""

    def __init__(self, status: int, message: str, kind: str = "BadRequestError", param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param = status, message, kind, param


def image_from_data_url(url: Any) -> Image.Image:
    """The image of a base64 `data:image/...` URL, decoded; RequestError 400 for anything else, as vLLM refuses it."""
    if not isinstance(url, str) or not url.startswith("data:image/") or ";base64," not in url:
        raise RequestError(400, "Only base64 image data URLs are accepted here.", param="image_url")
    try:
        data = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
        image = Image.open(io.BytesIO(data))
        image.load()
    except (binascii.Error, ValueError, OSError) as exc:
        raise RequestError(400, f"Failed to load image: {exc}", param="image_url") from exc
    return image


def vllm_xargs_check(xargs: Any) -> None:
    """Refuse (RequestError 400) `vllm_xargs` that vLLM's n-gram logits processor would: not an object, a value
    that is not a string, number or list of them, a non-positive `ngram_size`/`window_size`, a bad whitelist."""
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
    if not isinstance(whitelist, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in whitelist):
        raise RequestError(400, "`whitelist_token_ids` has to be a list of token ids.", param="vllm_xargs")


class ClientGone(Exception):
    """The client closed the connection while its request was being served."""


def peer_closed(sock: socket.socket) -> bool:
    """True once the other end has closed (a readable socket with nothing to read, or a reset)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


class Handler(BaseHTTPRequestHandler):
    """vLLM's routes over one FakeVllm (`server_fake`, set by a subclass the server makes)."""

    server_fake: Any  # the FakeVllm this handler serves
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
                    answer = fake.chat(body, closed=lambda: peer_closed(self.connection))
                except ClientGone:
                    self.close_connection = True
                    return
                self._send(200, answer)
            elif self.path == "/_fake/faults":
                self._send(200, fake.faults_add(statuses=body.get("statuses", []), loops=body.get("loops", 0)))
            elif self.path == "/_fake/reset":
                fake.reset()
                self._send(200, {})
            else:
                raise RequestError(404, "Not Found", "NotFoundError")
        except RequestError as exc:
            self._error(exc)
