"""A recognised document as a searchable PDF (the original pages, or the uploaded images, under an invisible text
layer at the recognised boxes) and as hOCR.

Written with pypdfium2, which DeepRead already uses to read PDFs: PDFium imports the original pages as they are
(vector content, fonts, annotations untouched) and writes text objects with render mode 3 (invisible,
`FPDF_TEXTRENDERMODE_INVISIBLE`), so no second PDF library is needed. Each word is one text object whose matrix
stretches it over the word's box; the page's own /Rotate and crop box are honoured by mapping the box from the
rendered page's pixels to PDF space with PDFium's `FPDF_DeviceToPage`, the inverse of how the page was rendered.

Words: the engines give a box per block (a line for `ocr`, a paragraph or table for `document`); a block's text is
split into its lines (equal slices of the box's height) and each line into words (slices of its width in
proportion to their characters). Text that the standard Helvetica font cannot encode (outside Latin-1) is written
with a TrueType font when one is given (`font_path`), and left out of the layer otherwise.
"""

from __future__ import annotations

import ctypes
import html
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from inference.documents import PDFIUM_LOCK, DocumentInfo, iter_pages

IMAGE_DPI = 150  # the page size given to an uploaded image that says no resolution of its own
_TAG = re.compile(r"<[^>]+>")
_MARKUP = re.compile(r"^\s{0,3}(?:#{1,6}\s+|[-*+]\s+|>\s*)|\*\*|__|\\[()\[\]]|\$\$")


@dataclass(frozen=True)
class Word:
    """A word of the text layer with its box in page pixels."""

    text: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the page image


def plain_lines(text: str) -> list[str]:
    """A block's text as plain lines: HTML tags (tables) and Markdown markup removed, blank lines dropped."""
    lines = []
    for raw in (text or "").replace("</tr>", "\n").splitlines():
        line = _MARKUP.sub("", html.unescape(_TAG.sub(" ", raw)))
        line = " ".join(line.split())
        if line:
            lines.append(line)
    return lines


def block_words(text: str, bbox: Iterable[float]) -> list[Word]:
    """The words of one block laid out over its box (lines stacked, words side by side by character count)."""
    x1, y1, x2, y2 = (float(v) for v in bbox)
    lines = plain_lines(text)
    if not lines or x2 <= x1 or y2 <= y1:
        return []
    words = []
    line_h = (y2 - y1) / len(lines)
    for n, line in enumerate(lines):
        top = y1 + n * line_h
        tokens = line.split(" ")
        unit = (x2 - x1) / max(1, sum(len(t) for t in tokens) + len(tokens) - 1)
        x = x1
        for token in tokens:
            width = len(token) * unit
            words.append(Word(token, (x, top, x + width, top + line_h)))
            x += width + unit
    return words


def page_words(page: dict) -> list[Word]:
    """Every word of a result page, in the page's reading order."""
    words = []
    for block in page.get("blocks") or []:
        words.extend(block_words(block.get("text", ""), block.get("bbox") or (0, 0, 0, 0)))
    return words


# --- hOCR --------------------------------------------------------------------------------------------------------
def hocr(pages: list[dict], *, title: str = "DeepRead", engine: str = "DeepRead") -> str:
    """The result as an hOCR 1.2 document: one `ocr_page` per page (`bbox` of the page image, `ppageno` from 0),
    an `ocr_carea` per block, an `ocr_line` per line and an `ocrx_word` per word, boxes in page-image pixels."""
    esc = html.escape
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
        "<head>",
        f"<title>{esc(title)}</title>",
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8"/>',
        f'<meta name="ocr-system" content="{esc(engine)}"/>',
        '<meta name="ocr-capabilities" content="ocr_page ocr_carea ocr_line ocrx_word"/>',
        "</head>",
        "<body>",
    ]
    word_id = line_id = 0
    for index, page in enumerate(pages):
        number = page.get("page", index + 1)
        out.append(
            f'<div class="ocr_page" id="page_{number}" title="image page-{number}; '
            f'bbox 0 0 {page["width"]} {page["height"]}; ppageno {index}">'
        )
        for n, block in enumerate(page.get("blocks") or [], start=1):
            x1, y1, x2, y2 = (round(v) for v in block.get("bbox") or (0, 0, 0, 0))
            out.append(f'<div class="ocr_carea" id="block_{number}_{n}" title="bbox {x1} {y1} {x2} {y2}">')
            words = block_words(block.get("text", ""), block.get("bbox") or (0, 0, 0, 0))
            for line_top in sorted({w.box[1] for w in words}):
                line = [w for w in words if w.box[1] == line_top]
                line_id += 1
                lx1, ly1 = round(line[0].box[0]), round(line[0].box[1])
                lx2, ly2 = round(line[-1].box[2]), round(line[-1].box[3])
                out.append(f'<span class="ocr_line" id="line_{line_id}" title="bbox {lx1} {ly1} {lx2} {ly2}">')
                for word in line:
                    word_id += 1
                    wx1, wy1, wx2, wy2 = (round(v) for v in word.box)
                    out.append(
                        f'<span class="ocrx_word" id="word_{word_id}" title="bbox {wx1} {wy1} {wx2} {wy2}">'
                        f"{esc(word.text)}</span>"
                    )
                out.append("</span>")
            out.append("</div>")
        out.append("</div>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


# --- searchable PDF ----------------------------------------------------------------------------------------------
class _Fonts:
    def __init__(self, pdf: pdfium.PdfDocument, font_path: str | None) -> None:
        self.helvetica = pdfium_c.FPDFText_LoadStandardFont(pdf.raw, b"Helvetica")
        self.unicode = None
        if font_path:
            with open(font_path, "rb") as fh:
                self._data = fh.read()  # PDFium reads from this buffer until the document is saved
            buf = (ctypes.c_uint8 * len(self._data)).from_buffer_copy(self._data)
            self._buf = buf
            self.unicode = pdfium_c.FPDFText_LoadFont(pdf.raw, buf, len(self._data), pdfium_c.FPDF_FONT_TRUETYPE, 1)

    def for_text(self, text: str):
        """Helvetica for Latin-1 text, else the loaded Unicode TrueType font (None when none was given)."""
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            return self.unicode
        return self.helvetica


def _device_to_page(page, size: tuple[int, int], x: float, y: float) -> tuple[float, float]:
    px, py = ctypes.c_double(), ctypes.c_double()
    pdfium_c.FPDF_DeviceToPage(page.raw, 0, 0, size[0], size[1], 0, round(x), round(y), px, py)
    return px.value, py.value


def _set_text(obj, text: str) -> None:
    encoded = (text + "\x00").encode("utf-16-le")
    buffer = ctypes.create_string_buffer(encoded, len(encoded))
    pdfium_c.FPDFText_SetText(obj, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))


def _add_word(pdf: pdfium.PdfDocument, page, fonts: _Fonts, word: Word, size: tuple[int, int]) -> bool:
    font = fonts.for_text(word.text)
    if font is None or not word.text:
        return False
    obj = pdfium_c.FPDFPageObj_CreateTextObj(pdf.raw, font, ctypes.c_float(1.0))
    _set_text(obj, word.text)
    pdfium_c.FPDFTextObj_SetTextRenderMode(obj, pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE)
    left, bottom, right, top = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top)
    natural = right.value - left.value
    if natural <= 0:
        pdfium_c.FPDFPageObj_Destroy(obj)
        return False
    _set_text(obj, word.text + " ")  # a trailing space, in the gap after the word: extraction keeps words apart
    x1, y1, x2, y2 = word.box
    origin = _device_to_page(page, size, x1, y2)
    along = _device_to_page(page, size, x2, y2)
    up = _device_to_page(page, size, x1, y1)
    ux, uy = along[0] - origin[0], along[1] - origin[1]  # the baseline, the word's whole width
    vx, vy = up[0] - origin[0], up[1] - origin[1]  # up the box, its whole height
    em = 0.8  # glyphs (ascender ~0.72 em, descender ~0.21 em) fit inside the box with the baseline 0.2 up
    pdfium_c.FPDFPageObj_Transform(
        obj,
        ux / natural,
        uy / natural,
        vx * em,
        vy * em,
        origin[0] + vx * 0.2,
        origin[1] + vy * 0.2,
    )
    pdfium_c.FPDFPage_InsertObject(page.raw, obj)
    return True


def _image_page(pdf: pdfium.PdfDocument, image: Image.Image, dpi: float):
    width_pt, height_pt = image.width * 72 / dpi, image.height * 72 / dpi
    page = pdf.new_page(width_pt, height_pt)
    picture = pdfium.PdfImage.new(pdf)
    bitmap = pdfium.PdfBitmap.from_pil(image.convert("RGB"))
    picture.set_bitmap(bitmap)
    picture.set_matrix(pdfium.PdfMatrix().scale(width_pt, height_pt))
    page.insert_obj(picture)
    return page


def searchable_pdf(
    data: bytes,
    info: DocumentInfo,
    pages: list[dict],
    *,
    dpi: int,
    max_pixels: int,
    font_path: str | None = None,
) -> bytes:
    """The searchable PDF of an upload (`data`, as `info` describes it) and its result `pages` (the result
    document's `pages`: `page`, `width`, `height`, `blocks`). A PDF keeps its own pages; an image becomes a page of
    its pixels at its own resolution (or IMAGE_DPI). A page answered from its own text layer (`source:
    "text_layer"`) gets no second layer. Returns the PDF's bytes."""
    by_number = {p["page"]: p for p in pages}
    targets = []
    with PDFIUM_LOCK:
        out = pdfium.PdfDocument.new()
        fonts = _Fonts(out, font_path)
        if info.kind == "pdf":
            source = pdfium.PdfDocument(data)
            try:
                out.import_pages(source)
            finally:
                source.close()
            targets = [(n, out[n - 1]) for n in range(1, len(out) + 1)]
    if info.kind != "pdf":
        for page_image in iter_pages(data, info, dpi=dpi, max_pixels=max_pixels):
            image = page_image.image
            image_dpi = float((image.info.get("dpi") or (IMAGE_DPI,))[0] or IMAGE_DPI)
            with PDFIUM_LOCK:
                targets.append((page_image.number, _image_page(out, image, image_dpi)))
    with PDFIUM_LOCK:
        try:
            for number, page in targets:
                result = by_number.get(number)
                if result and result.get("source") != "text_layer":  # that page's own text is already there
                    size = (int(result["width"]), int(result["height"]))
                    for word in page_words(result):
                        _add_word(out, page, fonts, word, size)
                page.gen_content()
                page.close()
            buffer = io.BytesIO()
            out.save(buffer)
            return buffer.getvalue()
        finally:
            out.close()
