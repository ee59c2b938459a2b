"""The annotated image: the page with every recognised block drawn as a box, coloured by block type.

Colours follow DeepSeek-OCR's layout labels, so a title, a table and a figure are told apart at a glance; any other
label (and the CPU engine's text lines) is drawn in the text colour. Each box also carries its label, so the type
is never shown by colour alone.
"""

from __future__ import annotations

import io
import statistics
from collections.abc import Iterable

from PIL import Image, ImageDraw, ImageFont

COLOURS = {
    "title": (220, 38, 38),
    "sub_title": (234, 88, 12),
    "text": (37, 99, 235),
    "table": (22, 163, 74),
    "table_caption": (13, 148, 136),
    "table_footnote": (13, 148, 136),
    "image": (147, 51, 234),
    "figure": (147, 51, 234),
    "image_caption": (219, 39, 119),
    "figure_caption": (219, 39, 119),
    "equation": (161, 98, 7),
    "formula": (161, 98, 7),
    "header": (100, 116, 139),
    "footer": (100, 116, 139),
    "page_header": (100, 116, 139),
    "page_footer": (100, 116, 139),
    "page_number": (100, 116, 139),
}
DEFAULT = COLOURS["text"]


def colour(label: str) -> tuple[int, int, int]:
    """RGB outline colour for a block label (title, table, figure, …); DEFAULT for labels without one."""
    return COLOURS.get(label, DEFAULT)


def mark_sizes(page_size: tuple[int, int], boxes: list[list[int]]) -> tuple[int, int]:
    """(outline width, label font size) in pixels. They follow the page's size, but never grow past the text's
    own height (the median box height): on a 600×15000 screenshot a label sized by the page would be taller than
    three lines of its text and hide them."""
    by_page = max(page_size) / 90
    heights = [b[3] - b[1] for b in boxes if b[3] > b[1]]
    text = statistics.median(heights) if heights else by_page
    font = max(10, round(min(by_page, 0.8 * text)))
    return max(1, round(min(max(page_size) / 600, font / 6))), font


def annotate(image: Image.Image, blocks: Iterable[dict | object]) -> Image.Image:
    """A copy of the page (same size) with boxes and labels drawn over it."""
    page = image.convert("RGB").copy()
    overlay = Image.new("RGBA", page.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    blocks = list(blocks)
    boxes = [list(b["bbox"] if isinstance(b, dict) else b.bbox) for b in blocks]  # type: ignore[attr-defined]
    width, size = mark_sizes(page.size, boxes)
    width = max(width, 2) if size >= 12 else width
    font = ImageFont.load_default(size=size)
    for block, bbox in zip(blocks, boxes, strict=True):
        label = block["type"] if isinstance(block, dict) else block.type  # type: ignore[attr-defined]
        x1, y1, x2, y2 = bbox
        if x2 <= x1 or y2 <= y1:
            continue
        r, g, b = colour(label)
        draw.rectangle((x1, y1, x2, y2), fill=(r, g, b, 28), outline=(r, g, b, 255), width=width)
        text_box = draw.textbbox((x1, y1), label, font=font)
        tag_h = text_box[3] - text_box[1] + 4
        top = y1 - tag_h if y1 - tag_h >= 0 else y1
        draw.rectangle((x1, top, x1 + text_box[2] - text_box[0] + 6, top + tag_h), fill=(r, g, b, 230))
        draw.text((x1 + 3, top + 1), label, fill=(255, 255, 255, 255), font=font)
    return Image.alpha_composite(page.convert("RGBA"), overlay).convert("RGB")


def annotate_png(image: Image.Image, blocks: Iterable[dict | object]) -> bytes:
    """PNG bytes of `image` with each block's bbox (pixels, [x1, y1, x2, y2]) drawn in its label's colour."""
    out = io.BytesIO()
    annotate(image, blocks).save(out, format="PNG", compress_level=1)
    return out.getvalue()
