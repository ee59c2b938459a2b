"""Request bodies read with a size cap counted while reading: a huge body is refused, never held whole."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser

MAX_DEPTH = 64


class BodyTooLarge(exceptions.APIException):
    """A request body over its byte cap: 413 `body_too_large`."""

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
        """The error raised for a body over `cap` bytes (413 through the API's error handler)."""
        return BodyTooLarge(f"The request body is larger than {cap:,} bytes.")

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        """Parse a JSON body of at most the `cap_setting` setting's bytes.

        Raises BodyTooLarge (413) past the cap and ParseError (400) for invalid JSON or UTF-8.
        """
        cap = getattr(settings, self.cap_setting)
        raw = stream.read(cap + 1) if stream is not None else b""
        if len(raw) > cap:
            raise self.too_large(cap)
        try:
            return loads(raw or self.empty_body)
        except (ValueError, UnicodeDecodeError) as exc:
            # Python's own words for an over-long integer name one of its settings: say what is wrong instead
            reason = "a number in it has too many digits" if "int_max_str_digits" in str(exc) else str(exc)
            raise exceptions.ParseError(f"The body is not valid JSON: {reason}") from exc


class TooDeep(ValueError):
    """JSON nested deeper than the parser allows."""


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` for bodies from outside: nesting deeper than `max_depth` arrays/objects is a ValueError
    (TooDeep), never a RecursionError, here or in the code that walks the value later."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise TooDeep(f"it is nested more than {max_depth} levels deep") from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > max_depth:
                    raise TooDeep(f"it is nested more than {max_depth} levels deep")
                stack.append((child, depth + 1))
    return value
