"""What a synchronous OCR call (`POST /v1/ocr`, both dialects) is given, checked before anything is spent: the
request, the image bytes (a URL fetched SSRF-safely, base64 or a data: URL), the mode and the file's type, size and
page checks. Refusals are `core.errors` members naming the field at fault. `ocr.services` runs the call; it
re-exports these names."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from django.conf import settings

from accounts.models import User
from core import urlfetch
from core.errors import InvalidInput
from inference.base import ModeSpec
from inference.documents import DocumentInfo
from modes.selectors import mode_get
from ocr.engine_errors import inspect_upload, upload_too_large
from ocr.runtime import check_mode_servable

BASE64_FORMAT = "invalid_base64_format"


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

    Raises InvalidInput (400: `invalid_base64_format`, or the fetch's `image_fetch_failed`, `invalid_url_format`,
    `invalid_url_protocol`) and TooLarge (413 `image_too_large`) past the upload limit or
    DEEPREAD_URL_FETCH_MAX_BYTES, all naming `image`.
    """
    value = req.image.strip()
    if value.startswith("data:"):
        header, sep, payload = value.partition(",")
        if not sep or ";base64" not in header:
            raise InvalidInput("A data: URL must be `data:<type>;base64,<data>`.", code=BASE64_FORMAT, param="image")
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
        raise exc.with_param("image") from exc
    return fetched.data


def _b64decode(payload: str) -> bytes:
    if len(payload) > settings.DEEPREAD_MAX_UPLOAD_BYTES * 4 // 3 + 8:
        raise upload_too_large(noun="image", param="image")
    cleaned = "".join(payload.split())
    try:
        data = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("The image is not valid base64 data.", code=BASE64_FORMAT, param="image") from exc
    if not data:
        raise InvalidInput("The base64 image data is empty.", code=BASE64_FORMAT, param="image")
    return data


def servable_mode(*, user: User, name: str, param: str = "mode") -> ModeSpec:
    """The caller's mode `name`, checked servable by this engine.

    Raises InvalidInput naming `param`: 400 `invalid_parameter` for an unknown mode, 400 `unsupported_capability`
    for one this engine cannot run."""
    try:
        spec = mode_get(user=user, name=name)
    except InvalidInput as exc:
        raise exc.with_param(param) from exc
    try:
        check_mode_servable(spec)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, code="unsupported_capability", param=param) from exc
    return spec


def inspect_input(data: bytes, *, max_pages: int, param: str = "image") -> DocumentInfo:
    """Type, size, pixel and page checks without decoding (`ocr.engine_errors.inspect_upload`, the file called an
    image). Raises TooLarge (413 `image_too_large`) past a limit, else InvalidInput (400
    `unsupported_image_format`), naming `param`."""
    return inspect_upload(data, max_pages=max_pages, param=param, noun="image")
