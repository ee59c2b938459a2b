"""Preparing page images for a model, and cutting figures out of pages.

Image preparation is the orchestrator's main CPU cost (DESIGN.md, "Feeding the GPU"). Uploaded PNG and JPEG files
are sent as they are when the model can take them; rendered PDF pages are encoded once, in the format chosen by
measurement (`bench/encode_choice.py`): JPEG at quality 95 reads as well as PNG and costs a small fraction of it.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image

PASS_THROUGH = {"PNG": "image/png", "JPEG": "image/jpeg"}
PASS_THROUGH_MODES = {"RGB", "L"}
PASS_THROUGH_MAX_BYTES = 20 * 1024 * 1024
FIGURE_LABELS = frozenset({"image", "figure"})


@dataclass(frozen=True)
class EncodedImage:
    """An encoded page image: bytes and their MIME type."""

    data: bytes
    mime: str


def encode(image: Image.Image, page_format: str = "jpeg") -> EncodedImage:
    """Encode a page for the model: PNG (lossless) or JPEG quality 95, converting other modes to RGB for JPEG."""
    out = io.BytesIO()
    if page_format == "png":
        image.save(out, format="PNG", compress_level=1)
        return EncodedImage(out.getvalue(), "image/png")
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(out, format="JPEG", quality=95)
    return EncodedImage(out.getvalue(), "image/jpeg")


def encode_for_model(
    image: Image.Image, *, source: EncodedImage | None = None, page_format: str = "jpeg"
) -> EncodedImage:
    """The uploaded bytes when they are a plain PNG/JPEG the model reads as is; otherwise one fresh encoding."""
    if source is not None and len(source.data) <= PASS_THROUGH_MAX_BYTES:
        return source
    return encode(image, page_format)


#: How a whole file of each passed-through format ends: a JPEG with its End Of Image marker, a PNG with its IEND
#: chunk (and that chunk's fixed CRC). A file cut short lacks it.
COMPLETE_ENDING = {"image/jpeg": b"\xff\xd9", "image/png": b"IEND\xae\x42\x60\x82"}


def pass_through_source(data: bytes, image: Image.Image) -> EncodedImage | None:
    """The upload itself, when it is a single-frame RGB or greyscale PNG/JPEG (no alpha, palette or CMYK) that is
    whole. A file cut short (no end marker, trailing zeros aside) is not passed through: the caller decodes it
    at once, so its damage is an input error there rather than an OSError wherever its pixels are first read."""
    mime = PASS_THROUGH.get(image.format or "")
    if mime is None or image.mode not in PASS_THROUGH_MODES or getattr(image, "n_frames", 1) != 1:
        return None
    if len(data) > PASS_THROUGH_MAX_BYTES:
        return None
    if not data.rstrip(b"\x00").endswith(COMPLETE_ENDING[mime]):
        return None
    return EncodedImage(data, mime)


def crop_figures(image: Image.Image, blocks: Iterable[object]) -> list[bytes]:
    """PNG crops of the figure blocks (type `image`/`figure`), in order; a degenerate box gives b""."""
    crops = []
    for block in blocks:
        if getattr(block, "type", "") not in FIGURE_LABELS:
            continue
        x1, y1, x2, y2 = block.bbox  # type: ignore[attr-defined]
        if x2 - x1 < 2 or y2 - y1 < 2:
            crops.append(b"")
            continue
        out = io.BytesIO()
        image.crop((x1, y1, x2, y2)).convert("RGB").save(out, format="PNG", compress_level=1)
        crops.append(out.getvalue())
    return crops
