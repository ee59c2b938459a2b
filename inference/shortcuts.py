"""Pages that need no model: blank pages, and PDF pages whose own text layer is good.

- `is_blank`: no ink. The page in grey, reduced (if over 4 megapixels) by keeping the darkest pixel of each
  square block, so that text of any size survives on any page shape (a 600×15000 screenshot shrunk to 256 px a
  side loses its text); blank when almost no pixel (under 0.05 %, and under BLANK_MIN_INK pixels of the page) is
  clearly darker than the paper (the median grey, less 48 levels): dust and JPEG noise stay under that, a single
  short word does not, on a page of any size.
- `text_layer_page`: a born-digital PDF page answered from its text layer, extracted with pypdfium2. The layer is
  trusted only when it is good: enough characters (MIN_CHARS visible ones), hardly any mojibake (at most 2 % of
  replacement, control, private-use or unassigned characters, and at least half letters or digits), drawn visibly
  (an invisible layer, render mode 3, is somebody else's OCR over a scan), and not laid over an image covering
  most of the page. Lines come from pdfium's text runs, with their boxes mapped to the rendered page's pixels.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import unicodedata
from dataclasses import dataclass

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageOps

from inference.base import Block, PageResult, Usage
from inference.documents import PDFIUM_LOCK

MIN_CHARS = 40
MAX_BAD_SHARE = 0.02
MIN_ALNUM_SHARE = 0.5
BLANK_INK_SHARE = 0.0005
BLANK_CONTRAST = 48
IMAGE_COVER_SHARE = 0.8
TEXT_LAYER_MODEL = "pdf-text-layer"


BLANK_MAX_PIXELS = 4_000_000
#: Ink, in pixels of the full page, that always counts as something to read whatever the page's size: about one
#: short word at a readable size. Without it a very long or very large page with one line was "blank".
BLANK_MIN_INK = 150


def is_blank(image: Image.Image) -> bool:
    """True when the page has no ink worth reading (see the module's docstring for the rule)."""
    grey = np.asarray(ImageOps.grayscale(image))
    step = 1
    if grey.size > BLANK_MAX_PIXELS:  # min-pool: a dark stroke stays dark however far the page is reduced
        step = math.ceil(math.sqrt(grey.size / BLANK_MAX_PIXELS))
        h, w = (grey.shape[0] // step) * step, (grey.shape[1] // step) * step
        if h and w:
            grey = grey[:h, :w].reshape(h // step, step, w // step, step).min(axis=(1, 3))
    histogram = np.bincount(grey.ravel(), minlength=256)
    median = int(np.searchsorted(np.cumsum(histogram), (grey.size + 1) // 2))
    ink = int(histogram[: max(0, median - BLANK_CONTRAST)].sum())
    return ink <= grey.size * BLANK_INK_SHARE and ink * step * step < BLANK_MIN_INK


def image_digest(image: Image.Image, source: bytes | None = None) -> str:
    """SHA-256 of a page: of the upload's own bytes when it went to the model as it is, else of its pixels."""
    digest = hashlib.sha256()
    if source is not None:
        digest.update(b"bytes:" + source)
    else:
        rgb = image.convert("RGB")
        digest.update(f"pixels:{rgb.width}x{rgb.height}:".encode())
        digest.update(rgb.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class LayerQuality:
    """Whether a PDF page's own text layer can stand in for OCR: ok, why not, and its character count."""

    ok: bool
    reason: str
    chars: int = 0


def judge_text(text: str) -> LayerQuality:
    """Whether extracted text reads as text: enough visible characters, no mojibake."""
    visible = [c for c in text if not c.isspace()]
    if len(visible) < MIN_CHARS:
        return LayerQuality(False, f"only {len(visible)} characters", len(visible))
    bad = sum(1 for c in visible if c == "\ufffd" or unicodedata.category(c) in ("Cc", "Co", "Cs", "Cn"))
    if bad > len(visible) * MAX_BAD_SHARE:
        return LayerQuality(False, f"{bad} unreadable characters (mojibake)", len(visible))
    alnum = sum(1 for c in visible if c.isalnum())
    if alnum < len(visible) * MIN_ALNUM_SHARE:
        return LayerQuality(False, "mostly symbols (a broken font encoding)", len(visible))
    return LayerQuality(True, "good", len(visible))


def _page_objects(page) -> tuple[int, int, float]:
    """(visible text objects, invisible text objects, the largest image's share of the page area)."""
    width, height = page.get_size()
    area = max(1.0, width * height)
    visible = invisible = 0
    largest = 0.0
    for obj in page.get_objects(max_depth=2):
        if obj.type == pdfium_c.FPDF_PAGEOBJ_TEXT:
            if pdfium_c.FPDFTextObj_GetTextRenderMode(obj.raw) == pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE:
                invisible += 1
            else:
                visible += 1
        elif obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            left, bottom, right, top = obj.get_bounds()
            largest = max(largest, (right - left) * (top - bottom) / area)
    return visible, invisible, largest


#: Annotations that only link or pop up draw nothing a reader reads; every other kind (form fields, free text,
#: stamps, ink) is drawn over the page and its text is not in the page's text layer.
_SILENT_ANNOTATIONS = frozenset({pdfium_c.FPDF_ANNOT_LINK, pdfium_c.FPDF_ANNOT_POPUP})


def _drawn_annotations(page) -> bool:
    """Whether the page carries annotations drawn over it: filled form fields read only from the rendered page."""
    for index in range(pdfium_c.FPDFPage_GetAnnotCount(page.raw)):
        annot = pdfium_c.FPDFPage_GetAnnot(page.raw, index)
        try:
            if pdfium_c.FPDFAnnot_GetSubtype(annot) not in _SILENT_ANNOTATIONS:
                return True
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return False


def _to_pixels(page, size: tuple[int, int], x: float, y: float) -> tuple[int, int]:
    dx, dy = ctypes.c_int(), ctypes.c_int()
    pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, size[0], size[1], 0, x, y, dx, dy)
    return dx.value, dy.value


def text_layer_page(data: bytes, number: int, size: tuple[int, int]) -> tuple[PageResult | None, str]:
    """Page `number` (from 1) of the PDF `data` answered from its text layer, with line blocks in the pixels of
    the page rendered at `size`; or (None, why not) when the layer is not good enough to trust."""
    with PDFIUM_LOCK:
        pdf = pdfium.PdfDocument(data)
        try:
            page = pdf[number - 1]
            visible, invisible, image_share = _page_objects(page)
            if invisible and invisible >= visible:
                return None, "an invisible text layer (OCR over a scan)"
            if image_share >= IMAGE_COVER_SHARE:
                return None, "text over a page-sized image (a scan)"
            if _drawn_annotations(page):
                return None, "form fields or annotations drawn over the page (not in its text layer)"
            textpage = page.get_textpage()
            quality = judge_text(textpage.get_text_range())
            if not quality.ok:
                return None, quality.reason
            blocks = []
            for index in range(textpage.count_rects()):
                left, bottom, right, top = textpage.get_rect(index)
                text = " ".join(textpage.get_text_bounded(left, bottom, right, top).split())
                if not text:
                    continue
                corners = [_to_pixels(page, size, x, y) for x, y in ((left, top), (right, bottom))]
                xs, ys = sorted(c[0] for c in corners), sorted(c[1] for c in corners)
                blocks.append(Block(type="text", text=text, bbox=[xs[0], ys[0], xs[1], ys[1]]))
        finally:
            pdf.close()
    text = "\n".join(b.text for b in blocks)
    result = PageResult(text=text, blocks=blocks, width=size[0], height=size[1], usage=Usage())
    result.extra["source"] = "text_layer"
    return result, "good"
