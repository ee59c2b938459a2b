"""PDFs for tests and benches, written with pypdfium2: born-digital pages (real, visible text objects), scanned
pages (an image only), blank pages, and scans with somebody else's invisible OCR layer over them."""

from __future__ import annotations

import ctypes
import io

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from devtools.samples import render_lines

A4 = (595.0, 842.0)


def _text(pdf, page, text: str, x: float, y: float, size: float, mode: int) -> None:
    font = pdfium_c.FPDFText_LoadStandardFont(pdf.raw, b"Helvetica")
    obj = pdfium_c.FPDFPageObj_CreateTextObj(pdf.raw, font, ctypes.c_float(size))
    encoded = (text + "\x00").encode("utf-16-le")
    buffer = ctypes.create_string_buffer(encoded, len(encoded))
    pdfium_c.FPDFText_SetText(obj, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
    pdfium_c.FPDFTextObj_SetTextRenderMode(obj, mode)
    pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, x, y)
    pdfium_c.FPDFPage_InsertObject(page.raw, obj)


def build_pdf(pages: list[tuple[str, list[str]]]) -> bytes:
    """`pages`: (kind, lines) with kind `digital` (visible text), `scan` (the lines as an image), `blank`, or
    `ocr_layer` (the image with the lines again as invisible text over it)."""
    pdf = pdfium.PdfDocument.new()
    for kind, lines in pages:
        page = pdf.new_page(*A4)
        if kind in ("scan", "ocr_layer"):
            picture = pdfium.PdfImage.new(pdf)
            picture.set_bitmap(pdfium.PdfBitmap.from_pil(render_lines(lines, width=1190).convert("RGB")))
            picture.set_matrix(pdfium.PdfMatrix().scale(A4[0], A4[1]))
            page.insert_obj(picture)
        if kind in ("digital", "ocr_layer"):
            mode = pdfium_c.FPDF_TEXTRENDERMODE_FILL if kind == "digital" else pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE
            for n, line in enumerate(lines):
                _text(pdf, page, line, 60, A4[1] - 80 - n * 18, 11, mode)
        page.gen_content()
        page.close()
    out = io.BytesIO()
    pdf.save(out)
    pdf.close()
    return out.getvalue()


PROSE = [
    "Quarterly statement for Northwind Traders, account 0042-7781.",
    "Opening balance on 1 October 2026 was 12,480.00 EUR.",
    "Payments received during the quarter amount to 3,120.50 EUR.",
    "Closing balance on 31 December 2026 is 15,600.50 EUR.",
]
