"""Very long or very wide pages: overlapping strips along the long side, and the strips' results made one page.

An engine reads an image at a bounded size: RapidOCR shrinks the long side to `max_side_len` (1280 px), and
DeepSeek-OCR to a few 640-pixel tiles. A 600×15000 screenshot shrunk that way leaves its text under two pixels
high, and nothing is read. Such a page is cut into strips whose long side the engine takes without shrinking much;
each strip is recognised alone, its boxes are moved back to page coordinates, and what the overlaps read twice is
dropped by one rule: each strip answers only for the part of the page nearer to it than to its neighbours (its
`own` span, cut at the middle of each overlap), judged by the centre of each line or word. Since an overlap is
taller than any line of text, every line lies whole inside the strip that owns its centre.

Ordinary pages (A4 at any DPI, photos, square scans) need no strips: `plan_strips` returns None for them, and the
engine reads them exactly as before.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image

#: The smallest text height (pixels, after the engine's own resize) that engines still read reliably.
MIN_TEXT_PX = 8.0
#: The smallest text worth reading on a page, as a fraction of the page's short side (10-point text on an A4
#: page is about 1/60 of its width; screenshots and receipts have larger text for their width).
TEXT_FRACTION = 1 / 60
#: How much neighbouring strips share, as a fraction of the strip length (and at least `MIN_OVERLAP_PX`).
OVERLAP_FRACTION = 0.2
MIN_OVERLAP_PX = 96

T = TypeVar("T")


@dataclass(frozen=True)
class Strip:
    """One strip: `box` = (x1, y1, x2, y2) in page pixels; `own` = the [start, end) span along the long axis
    whose lines this strip answers for."""

    box: tuple[int, int, int, int]
    own: tuple[float, float]

    @property
    def offset(self) -> tuple[int, int]:
        """The strip's top-left corner (x, y) in page pixels."""
        return self.box[0], self.box[1]


@dataclass(frozen=True)
class StripPlan:
    """`axis` is "y" for a tall page (strips stacked top to bottom) or "x" for a wide one (left to right)."""

    axis: str
    strips: tuple[Strip, ...]
    width: int
    height: int

    def owns(self, index: int, box: Sequence[float]) -> bool:
        """Whether strip `index` answers for a box given in page coordinates (x1, y1, x2, y2), by its centre."""
        start, end = self.strips[index].own
        centre = (box[1] + box[3]) / 2 if self.axis == "y" else (box[0] + box[2]) / 2
        return start <= centre < end


def needs_strips(width: int, height: int, *, max_side: int) -> bool:
    """True when reading the whole page at once would shrink its smallest expected text below `MIN_TEXT_PX`:
    the engine scales the long side down to `max_side`, and text is expected at `TEXT_FRACTION` of the short side.
    Only pages much longer than wide (or wider than long) qualify; an A4 page at 300 DPI does not."""
    long_side, short_side = max(width, height), min(width, height)
    if long_side <= max_side or short_side < 1:
        return False
    text_px = short_side * TEXT_FRACTION * (max_side / long_side)
    return text_px < MIN_TEXT_PX


def plan_strips(width: int, height: int, *, max_side: int, strip_side: int | None = None) -> StripPlan | None:
    """Strips for a `width`×`height` page read by an engine that shrinks the long side to `max_side` pixels, or
    None when the page is read whole. Each strip is `strip_side` (default `max_side`) long along the page's long
    side, or as long as the short side if that is more (the strip is then square), and the strips overlap by
    `OVERLAP_FRACTION` of that, spread evenly so the first starts at 0 and the last ends at the page's edge."""
    if not needs_strips(width, height, max_side=max_side):
        return None
    axis = "y" if height >= width else "x"
    long_side, short_side = max(width, height), min(width, height)
    length = max(strip_side or max_side, short_side)
    overlap = max(round(length * OVERLAP_FRACTION), MIN_OVERLAP_PX)
    if long_side <= length:
        return None
    count = math.ceil((long_side - overlap) / (length - overlap))
    starts = [round(i * (long_side - length) / (count - 1)) for i in range(count)]
    strips = []
    for i, start in enumerate(starts):
        end = start + length
        own_start = 0.0 if i == 0 else (starts[i] + starts[i - 1] + length) / 2
        own_end = math.inf if i == count - 1 else (end + starts[i + 1]) / 2
        box = (0, start, width, end) if axis == "y" else (start, 0, end, height)
        strips.append(Strip(box=box, own=(own_start, own_end)))
    return StripPlan(axis=axis, strips=tuple(strips), width=width, height=height)


def crops(image: Image.Image, plan: StripPlan) -> list[Image.Image]:
    """The strips' images, in plan order."""
    return [image.crop(strip.box) for strip in plan.strips]


def shift(box: Sequence[float], offset: tuple[int, int]) -> list[float]:
    """`box` ([x1, y1, x2, y2], pixels in a strip) moved by the strip's (dx, dy) offset into page pixels."""
    dx, dy = offset
    return [box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy]


def keep_owned(plan: StripPlan, per_strip: Sequence[Sequence[T]], box_of: Callable[[T], Sequence[float]]) -> list[T]:
    """The items each strip owns (their boxes already in page coordinates), strip by strip."""
    kept: list[T] = []
    for index, items in enumerate(per_strip):
        kept += [item for item in items if plan.owns(index, box_of(item))]
    return kept


def merge_text_runs(texts: Sequence[str]) -> str:
    """Join the texts of consecutive tall strips that carry no boxes: the longest run of lines the end of one and
    the start of the next share is kept once (lines cut by a strip's edge fall before or after that run and are
    dropped with it). Texts that share no line are joined as they are."""
    merged: list[str] = []
    for text in texts:
        lines = text.split("\n")
        if not merged:
            merged = lines
            continue
        tail = merged[-len(lines) :] if len(merged) > len(lines) else merged
        base = len(merged) - len(tail)
        matcher = difflib.SequenceMatcher(a=[_norm(x) for x in tail], b=[_norm(x) for x in lines], autojunk=False)
        match = matcher.find_longest_match(0, len(tail), 0, len(lines))
        if match.size and any(_norm(x) for x in tail[match.a : match.a + match.size]):
            merged = merged[: base + match.a + match.size] + lines[match.b + match.size :]
        else:
            merged += lines
    return "\n".join(merged).strip()


def _norm(line: str) -> str:
    return " ".join(line.split()).casefold()
