"""Page ranges (`pages=1-3,7`) on job creation and on `/v1/ocr`.

A range list names 1-based pages: single numbers and inclusive `a-b` ranges, comma-separated, in any order;
overlaps count once. Empty means every page. The asked pages are what a job counts (`pages`, `pages_done`) and
what its result lists, each under its page number in the document.
"""

from __future__ import annotations

import re

from core.errors import InvalidInput
from inference.documents import InputError

MAX_PAGE = 100_000
_PART = re.compile(r"^\s*(\d{1,6})\s*(?:-\s*(\d{1,6})\s*)?$")


def parse_pages(spec: str | None) -> tuple[int, ...]:
    """`"1-3,7"` → `(1, 2, 3, 7)`: sorted, unique. Empty or None → `()` (every page).

    Raises InvalidInput (param `pages`) for anything else: `0`, `3-1`, `a`, `1,,2`, a page past 100,000.
    """
    if spec is None or not str(spec).strip():
        return ()
    if not isinstance(spec, str) or len(spec) > 200:
        raise InvalidInput("pages must be a string like '1-3,7' of at most 200 characters.", param="pages")
    numbers: set[int] = set()
    for part in spec.split(","):
        match = _PART.match(part)
        if not match:
            raise InvalidInput(
                f"pages: {part.strip()!r} is not a page number or a range like '1-3'; write e.g. '1-3,7'.",
                param="pages",
            )
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if first < 1 or last > MAX_PAGE or last < first:
            raise InvalidInput(
                f"pages: {part.strip()!r} is not a valid range; pages start at 1 and a range goes up.", param="pages"
            )
        numbers.update(range(first, last + 1))
    return tuple(sorted(numbers))


def normalize_pages(spec: str | None) -> str:
    """The canonical text of a range list (`"7, 1-3"` → `"1-3,7"`), empty for every page. Raises InvalidInput."""
    numbers = parse_pages(spec)
    parts: list[str] = []
    start = prev = None
    for n in (*numbers, None):
        if start is not None and n is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = n
    return ",".join(parts)


def select_pages(spec: str, page_count: int) -> tuple[int, ...]:
    """The pages of a `page_count`-page document to recognise. Raises InputError when a page asked for is not
    in the document, naming the first such page and the document's length."""
    numbers = parse_pages(spec)
    if not numbers:
        return tuple(range(1, page_count + 1))
    if numbers[-1] > page_count:
        raise InputError(
            f"pages asks for page {numbers[-1]}, but the document has {page_count} "
            f"page{'s' if page_count != 1 else ''}.",
            "invalid",
        )
    return numbers
