"""Request bodies read with a size cap counted while reading: a huge body is refused, never held whole."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "body_too_large"


class CappedJSONParser(BaseParser):
    """JSON of at most DEEPREAD_API_MAX_BODY_BYTES: the job API's bodies hold a file name and a type, not files.
    Subclasses change the cap's setting, the answer to an empty body and the error for a body past the cap."""

    media_type = "application/json"
    cap_setting = "DEEPREAD_API_MAX_BODY_BYTES"
    empty_body = b"{}"

    def too_large(self, cap: int) -> Exception:
        return BodyTooLarge(f"The request body is larger than {cap:,} bytes.")

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        cap = getattr(settings, self.cap_setting)
        raw = stream.read(cap + 1) if stream is not None else b""
        if len(raw) > cap:
            raise self.too_large(cap)
        try:
            return json.loads(raw or self.empty_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}") from exc
