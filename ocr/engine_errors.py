"""The engine's exceptions in the service's error family, translated in this one place.

`inference` imports nothing of the project, so it keeps its own exceptions: `InputError` (inference.documents: a
file that fails inspection or decoding, with a `kind`) and `EngineError` (inference.base: a page the engine could
not recognise, `retryable` or not). Services that call the engine for a waiting caller (`ocr.services`,
`ocrjobs.services` on upload) turn them into `core.errors` members here, so that each interface maps only the
family. The job worker (`ocrjobs.processing`) does not: it records their message on the job instead.
"""

from __future__ import annotations

from django.conf import settings

from core.errors import ApplicationError, InternalError, InvalidInput, ServiceUnavailable, TooLarge
from inference.base import EngineError, InputUnreadable
from inference.documents import DocumentInfo, InputError, inspect_document

#: Seconds a caller is told to wait after a retryable engine failure (the GPU server overloaded or restarting).
ENGINE_RETRY_AFTER_S = 10


def from_engine_error(exc: InputError | EngineError, *, param: str | None = None) -> ApplicationError:
    """The family member for an engine exception, naming `param` (the request field that carried the file):

    - InputError `too_large` (pixels, pages, frames) → TooLarge, 413 `image_too_large`;
    - InputError `format` (not a type we read, damaged) → InvalidInput, 400 `unsupported_image_format`;
    - InputError `invalid` (e.g. a page the document does not have) → InvalidInput, 400 `invalid_parameter`;
    - EngineError with undecodable pixels (InputUnreadable) → InvalidInput, 400 `unsupported_image_format`;
    - a retryable EngineError → ServiceUnavailable, 503 `engine_unavailable`, retry after ENGINE_RETRY_AFTER_S s;
    - any other EngineError → InternalError, 500 `server_error`.
    The message is the engine's public one, unchanged.
    """
    if isinstance(exc, InputError):
        if exc.kind == "too_large":
            return TooLarge(exc.message, param=param)
        code = "invalid_parameter" if exc.kind == "invalid" else "unsupported_image_format"
        return InvalidInput(exc.message, code=code, param=param)
    if isinstance(exc, InputUnreadable):
        return InvalidInput(exc.message, code="unsupported_image_format", param=param)
    if exc.retryable:
        return ServiceUnavailable(exc.message, code="engine_unavailable", retry_after=ENGINE_RETRY_AFTER_S)
    return InternalError(exc.message)


def upload_too_large(*, noun: str = "file", param: str | None = None) -> TooLarge:
    """The one refusal of a file over DEEPREAD_MAX_UPLOAD_BYTES: 413 `image_too_large`, "The {noun} is larger than
    the upload limit." naming `param`."""
    return TooLarge(f"The {noun} is larger than the upload limit.", param=param)


def inspect_upload(data: bytes, *, max_pages: int, param: str, noun: str = "file") -> DocumentInfo:
    """Check an uploaded file before anything is spent: at most DEEPREAD_MAX_UPLOAD_BYTES bytes, a type we read,
    at most DEEPREAD_MAX_PIXELS pixels a page and `max_pages` pages; nothing is decoded.

    Returns what inspection learned (type, pages). Raises TooLarge (413) past a limit and InvalidInput (400
    `unsupported_image_format`) for a file that is not one we read, both naming `param`.
    """
    if len(data) > settings.DEEPREAD_MAX_UPLOAD_BYTES:
        raise upload_too_large(noun=noun, param=param)
    try:
        return inspect_document(data, max_pixels=settings.DEEPREAD_MAX_PIXELS, max_pages=max_pages)
    except InputError as exc:
        raise from_engine_error(exc, param=param) from exc
