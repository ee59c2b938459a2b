"""Input files: type detection from magic bytes, limits, and page images (PDF pages rendered with pypdfium2).

Every refusal raises InputError with a message a person can act on.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, ImageOps

# Pillow's own bomb guard stays on as a backstop; our explicit check below runs first with a clear message.
Image.MAX_IMAGE_PIXELS = 200_000_000

MIME_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "pdf": "application/pdf",
}
ALLOWED_CONTENT_TYPES = {*MIME_TYPES.values(), "image/jpg", "image/x-ms-bmp", "image/tif"}


class InputError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DocumentInfo:
    kind: str  # png, jpeg, bmp, tiff, pdf
    page_count: int

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.kind]

    @property
    def extension(self) -> str:
        return {"jpeg": "jpg", "tiff": "tif"}.get(self.kind, self.kind)


def detect_kind(head: bytes) -> str | None:
    """The file type from its first bytes, whatever its name or declared Content-Type say."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tiff"
    if head.startswith(b"%PDF-"):
        return "pdf"
    return None


def _open_pdf(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise InputError("The PDF is encrypted; upload it without a password.") from exc
        raise InputError("The PDF is damaged and could not be read.") from exc


def inspect_document(data: bytes, *, max_pixels: int, max_pages: int) -> DocumentInfo:
    """Check a file without decoding its pixels: type, pixel count, page count."""
    if not data:
        raise InputError("The file is empty.")
    kind = detect_kind(data[:32])
    if kind is None:
        raise InputError("Unsupported file type: upload a PNG, JPEG, BMP, TIFF or PDF file.")
    if kind == "pdf":
        pdf = _open_pdf(data)
        try:
            pages = len(pdf)
        finally:
            pdf.close()
        if pages == 0:
            raise InputError("The PDF has no pages.")
        if pages > max_pages:
            raise InputError(f"The PDF has {pages} pages; the limit is {max_pages} pages per file.")
        return DocumentInfo(kind=kind, page_count=pages)
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise InputError(
                    f"The image is {width}×{height} pixels; the limit is {max_pixels:,} pixels. Scale it down."
                )
            frames = getattr(img, "n_frames", 1) if kind == "tiff" else 1
            if frames > max_pages:
                raise InputError(f"The TIFF has {frames} frames; the limit is {max_pages} pages per file.")
            img.verify()
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(f"The image has too many pixels; the limit is {max_pixels:,} pixels. Scale it down.") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"The {kind.upper()} image is corrupt or truncated.") from exc
    return DocumentInfo(kind=kind, page_count=frames)


def _fit_scale(width_pt: float, height_pt: float, dpi: int, max_pixels: int) -> float:
    scale = dpi / 72
    pixels = width_pt * height_pt * scale * scale
    if pixels > max_pixels:
        scale *= (max_pixels / pixels) ** 0.5 * 0.995  # margin for rounding up to whole pixels
    return scale


def iter_page_images(
    data: bytes, info: DocumentInfo, *, dpi: int, max_pixels: int, skip: frozenset[int] = frozenset()
) -> Iterator[tuple[int, Image.Image | None]]:
    """Yield (page number from 1, RGB image) in order; pages in `skip` yield None without being rendered."""
    if info.kind == "pdf":
        pdf = _open_pdf(data)
        try:
            for index in range(len(pdf)):
                if index + 1 in skip:
                    yield index + 1, None
                    continue
                page = pdf[index]
                try:
                    width, height = page.get_size()
                    bitmap = page.render(scale=_fit_scale(width, height, dpi, max_pixels))
                    yield index + 1, bitmap.to_pil().convert("RGB")
                finally:
                    page.close()
        finally:
            pdf.close()
        return
    try:
        with Image.open(io.BytesIO(data)) as img:
            for index in range(info.page_count):
                if index + 1 in skip:
                    yield index + 1, None
                    continue
                img.seek(index)
                frame = ImageOps.exif_transpose(img) if index == 0 else img
                yield index + 1, frame.convert("RGB")
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"The {info.kind.upper()} image is corrupt or truncated.") from exc
