"""Request bodies read with a size cap counted while reading: a huge body is refused, never held whole."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import BaseParser

from core.errors import InvalidInput, TooLarge

MAX_DEPTH = 64


class CappedJSONParser(BaseParser):
    """JSON of at most DEEPREAD_API_MAX_BODY_BYTES: the job API's bodies hold a file name and a type, not files.
    Subclasses change the cap's setting and the answer to an empty body."""

    media_type = "application/json"
    cap_setting = "DEEPREAD_API_MAX_BODY_BYTES"
    empty_body = b"{}"

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        """Parse a JSON body of at most the `cap_setting` setting's bytes.

        Raises TooLarge (413) past the cap and DRF's ParseError (400) for invalid JSON or UTF-8 (including JSON
        nested deeper than MAX_DEPTH).
        """
        cap = getattr(settings, self.cap_setting)
        raw = stream.read(cap + 1) if stream is not None else b""
        if len(raw) > cap:
            raise TooLarge(f"The request body is larger than {cap:,} bytes.")
        try:
            return loads(raw or self.empty_body)
        except (ValueError, UnicodeDecodeError) as exc:
            # Python's own words for an over-long integer name one of its settings: say what is wrong instead
            reason = "a number in it has too many digits" if "int_max_str_digits" in str(exc) else str(exc)
            raise exceptions.ParseError(f"The body is not valid JSON: {reason}") from exc


class TooDeep(InvalidInput, ValueError):
    """JSON nested deeper than the parser allows: 400 `invalid_parameter` (and a ValueError, as `json.loads`'
    own errors are, so callers catch one kind)."""


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
