"""What a synchronous OCR call (`POST /v1/ocr`, both dialects) is given, checked before anything is spent: its
errors (`OcrError`), the request, the image bytes (a URL fetched SSRF-safely, base64 or a data: URL), the mode and
the file's type, size and page checks. `ocr.services` runs the call; it re-exports these names."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.conf import settings

from accounts.models import User
from core import urlfetch
from core.errors import ApplicationError, InvalidInput
from inference.base import ModeSpec
from inference.documents import DocumentInfo, InputError, inspect_document
from modes.selectors import mode_get
from ocr.runtime import check_mode_servable


class OcrError(Exception):
    """An error in OpenAI's format: `{"error": {"message", "type", "param", "code"}}` with `status`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        param: str | None = None,
        *,
        kind: str = "invalid_request_error",
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param
        self.kind, self.retry_after = kind, retry_after


@dataclass(frozen=True)
class OcrRequest:
    """A /v1/ocr request body, checked: the image (URL, base64 or data: URL), model, mode, pages and return_image."""

    image: str
    image_type: str = "url"
    model: str | None = None
    return_image: bool = False
    mode: str | None = None
    pages: str = ""  # `1-3,7` (ocr.pages): only these pages are read, and the page cap counts them


# --- the image -----------------------------------------------------------------------------------------------------
def load_image_bytes(req: OcrRequest) -> bytes:
    """The image bytes of a /v1/ocr request: a base64 data: URL, raw base64, or an http(s) URL fetched under the
    limits.

    Raises OcrError 400 for bad base64 or a refused fetch, 413 `image_too_large` past DEEPREAD_URL_FETCH_MAX_BYTES.
    """
    value = req.image.strip()
    if value.startswith("data:"):
        header, sep, payload = value.partition(",")
        if not sep or ";base64" not in header:
            raise OcrError(400, "invalid_base64_format", "A data: URL must be `data:<type>;base64,<data>`.", "image")
        return _b64decode(payload)
    if req.image_type == "base64":
        return _b64decode(value)
    try:
        fetched = urlfetch.fetch(
            value,
            max_bytes=settings.DEEPREAD_URL_FETCH_MAX_BYTES,
            connect_timeout=settings.DEEPREAD_URL_FETCH_CONNECT_TIMEOUT_S,
            read_timeout=settings.DEEPREAD_URL_FETCH_READ_TIMEOUT_S,
            deadline_s=settings.DEEPREAD_URL_FETCH_DEADLINE_S,
            max_redirects=settings.DEEPREAD_URL_FETCH_MAX_REDIRECTS,
            allow_private=settings.DEEPREAD_URL_FETCH_ALLOW_PRIVATE,
        )
    except urlfetch.FetchError as exc:
        status = 413 if exc.code == "image_too_large" else 400
        raise OcrError(status, exc.code, exc.message, "image") from exc
    return fetched.data


def _b64decode(payload: str) -> bytes:
    if len(payload) > settings.DEEPREAD_MAX_UPLOAD_BYTES * 4 // 3 + 8:
        raise OcrError(413, "image_too_large", "The image is larger than the upload limit.", "image")
    cleaned = "".join(payload.split())
    try:
        data = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise OcrError(400, "invalid_base64_format", "The image is not valid base64 data.", "image") from exc
    if not data:
        raise OcrError(400, "invalid_base64_format", "The base64 image data is empty.", "image")
    return data


def servable_mode(*, user: User, name: str, param: str = "mode") -> ModeSpec:
    """The caller's mode `name`, checked servable by this engine. Raises OcrError (400) naming `param`."""
    try:
        spec = mode_get(user=user, name=name)
    except InvalidInput as exc:
        raise OcrError(400, "invalid_parameter", exc.message, param) from exc
    try:
        check_mode_servable(spec)
    except ApplicationError as exc:
        raise OcrError(400, "unsupported_capability", exc.message, param) from exc
    return spec


def inspect_input(data: bytes, *, max_pages: int, param: str = "image") -> DocumentInfo:
    """Type, size, pixel and page checks without decoding. Raises OcrError: 413 past a limit, else 400."""
    if len(data) > settings.DEEPREAD_MAX_UPLOAD_BYTES:
        raise OcrError(413, "image_too_large", "The image is larger than the upload limit.", param)
    try:
        return inspect_document(data, max_pixels=settings.DEEPREAD_MAX_PIXELS, max_pages=max_pages)
    except InputError as exc:
        if exc.kind == "too_large":
            raise OcrError(413, "image_too_large", exc.message, param) from exc
        raise OcrError(400, "unsupported_image_format", exc.message, param) from exc
