"""Input files: type detection from magic bytes, limits, and page images (PDF pages rendered with pypdfium2).

Every refusal raises InputError with a message a person can act on.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, ImageOps

from inference.images import EncodedImage, pass_through_source

#: pdfium is not thread-safe; a gpu worker renders pages from many threads, so every pdfium call holds this.
PDFIUM_LOCK = threading.RLock()

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
    """`kind` says what is wrong: `format` (not a file type we read, or damaged), `too_large` (pixels, pages),
    or `invalid`."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


@dataclass(frozen=True)
class DocumentInfo:
    """An upload's detected format and page count, found without decoding pixels."""

    kind: str  # png, jpeg, bmp, tiff, pdf
    page_count: int

    @property
    def mime_type(self) -> str:
        """The MIME type of the detected format, e.g. "image/png", "application/pdf"."""
        return MIME_TYPES[self.kind]

    @property
    def extension(self) -> str:
        """The usual file extension without a dot ("jpg", "tif", "pdf", …)."""
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


def _open_pdf(data: bytes, *, forms: bool = False) -> pdfium.PdfDocument:
    """The document; with `forms`, pdfium's form environment is set up before any page is loaded, so rendering
    draws AcroForm/XFA field values, check boxes and other widgets as a viewer shows them."""
    try:
        with PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(data)
            if forms:
                pdf.init_forms()
            return pdf
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise InputError("The PDF is encrypted; upload it without a password.", "format") from exc
        raise InputError("The PDF is damaged and could not be read.", "format") from exc


def _check_pdf_pages(pdf: pdfium.PdfDocument, pages: int) -> None:
    """Every page's size from the page tree, before any page is loaded or rendered. A page without a usable
    size cannot be rendered; a page too large for the pixel limit is rendered at a lower scale (`_fit_scale`)."""
    for index in range(pages):
        try:
            width, height = pdf.get_page_size(index)
        except pdfium.PdfiumError as exc:
            raise InputError(f"Page {index + 1} of the PDF is damaged and could not be read.", "format") from exc
        if not (width >= 1 and height >= 1):
            raise InputError(f"Page {index + 1} of the PDF has no size ({width:g}×{height:g} pt).", "format")


def _check_frames(img: Image.Image, kind: str, *, max_pixels: int, max_pages: int) -> int:
    """The frame count, after checking every frame's pixel count from its header (a TIFF's IFDs are read one by
    one; no pixel data is decoded). Raises InputError naming the first frame over the limit."""
    frames = getattr(img, "n_frames", 1) if kind == "tiff" else 1
    if frames > max_pages:
        raise InputError(f"The TIFF has {frames} frames; the limit is {max_pages} pages per file.", "too_large")
    for index in range(frames):
        if frames > 1:
            img.seek(index)
        width, height = img.size
        if width * height > max_pixels:
            where = f"Frame {index + 1} of the TIFF is" if frames > 1 else "The image is"
            raise InputError(
                f"{where} {width}×{height} pixels; the limit is {max_pixels:,} pixels. Scale it down.", "too_large"
            )
    if frames > 1:
        img.seek(0)
    return frames


def inspect_document(data: bytes, *, max_pixels: int, max_pages: int) -> DocumentInfo:
    """Check a file without decoding its pixels: type, pixel count, page count.

    Raises InputError for an empty or unsupported file, too many pixels or pages, a corrupt or truncated image, or a
    PDF without pages.
    """
    if not data:
        raise InputError("The file is empty.", "format")
    kind = detect_kind(data[:32])
    if kind is None:
        raise InputError("Unsupported file type: upload a PNG, JPEG, BMP, TIFF or PDF file.", "format")
    if kind == "pdf":
        pdf = _open_pdf(data)
        with PDFIUM_LOCK:
            try:
                pages = len(pdf)
                if pages == 0:
                    raise InputError("The PDF has no pages.", "format")
                if pages > max_pages:
                    raise InputError(
                        f"The PDF has {pages} pages; the limit is {max_pages} pages per file.", "too_large"
                    )
                _check_pdf_pages(pdf, pages)
            finally:
                pdf.close()
        return DocumentInfo(kind=kind, page_count=pages)
    try:
        with Image.open(io.BytesIO(data)) as img:
            frames = _check_frames(img, kind, max_pixels=max_pixels, max_pages=max_pages)
            img.verify()
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputError(
            f"The image has too many pixels; the limit is {max_pixels:,} pixels. Scale it down.", "too_large"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"The {kind.upper()} image is corrupt or truncated.", "format") from exc
    return DocumentInfo(kind=kind, page_count=frames)


def _fit_scale(width_pt: float, height_pt: float, dpi: int, max_pixels: int) -> float:
    scale = dpi / 72
    pixels = width_pt * height_pt * scale * scale
    if pixels > max_pixels:
        scale *= (max_pixels / pixels) ** 0.5 * 0.995  # margin for rounding up to whole pixels
    return scale


@dataclass
class PageImage:
    """One page ready for an engine: its 1-based number, the decoded image, and the upload's bytes when usable as is."""

    number: int  # from 1
    image: Image.Image
    #: The upload's own bytes when they can go to a model as they are (a plain PNG/JPEG), else None.
    source: EncodedImage | None = None


def _render_pdf_page(pdf: pdfium.PdfDocument, index: int, *, dpi: int, max_pixels: int) -> Image.Image:
    """One page on opaque white, with its form fields and annotations drawn (the document was opened with
    `forms=True`)."""
    with PDFIUM_LOCK:
        page = pdf[index]
        try:
            width, height = page.get_size()
            bitmap = page.render(
                scale=_fit_scale(width, height, dpi, max_pixels),
                may_draw_forms=True,
                draw_annots=True,
                fill_color=(255, 255, 255, 255),
            )
            return bitmap.to_pil().convert("RGB")
        finally:
            page.close()


def has_transparency(img: Image.Image) -> bool:
    """An alpha channel (RGBA, LA, PA, La, RGBa), a palette with a tRNS entry, or a transparent colour key on an
    RGB/greyscale image (PNG tRNS). Reads only the header's metadata."""
    return img.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in img.info


def flatten(img: Image.Image) -> Image.Image:
    """The image as opaque RGB (or L when it is greyscale without transparency): transparent pixels become white,
    partly transparent ones are blended onto white, as a viewer shows the file. `.convert("RGB")` alone would keep
    whatever colour lies under a transparent pixel (often black). Every page image passes through here."""
    if has_transparency(img):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in {"RGB", "L"}:
        return img
    if img.mode in {"I", "I;16", "I;16B", "I;16L", "F"}:  # 16/32-bit greyscale: scale to 8 bits, not clip
        return _eight_bit(img)
    return img.convert("RGB")


def _eight_bit(img: Image.Image) -> Image.Image:
    grey = img.convert("F")
    _, high = grey.getextrema()
    if high > 255:
        grey = grey.point(lambda v: v * 255.0 / high)
    return grey.convert("L")


def _upright(img: Image.Image) -> bool:
    """No EXIF rotation to apply. A JPEG's EXIF comes before its pixels; a PNG's eXIf chunk may come after them,
    and asking for it would decode the image, so a PNG counts as upright unless its header already carried EXIF."""
    if img.format == "PNG" and "exif" not in img.info:
        return True
    return img.getexif().get(0x0112, 1) == 1


def _image_page(img: Image.Image, data: bytes, index: int) -> PageImage:
    img.seek(index)
    if index == 0:
        if _upright(img) and not has_transparency(img):
            source = pass_through_source(data, img)
            if source is not None:
                return PageImage(1, img, source)  # decoded lazily, only if a crop or a CPU engine needs pixels
        return PageImage(1, flatten(ImageOps.exif_transpose(img)).convert("RGB"))
    return PageImage(index + 1, flatten(img).convert("RGB"))


def iter_pages(
    data: bytes, info: DocumentInfo, *, dpi: int, max_pixels: int, skip: frozenset[int] = frozenset()
) -> Iterator[PageImage]:
    """The pages in order, as images; pages in `skip` are not rendered. pdfium is held only while rendering.

    Raises InputError when an image is corrupt or truncated.
    """
    if info.kind == "pdf":
        pdf = _open_pdf(data, forms=True)
        try:
            for index in range(info.page_count):
                if index + 1 not in skip:
                    yield PageImage(index + 1, _render_pdf_page(pdf, index, dpi=dpi, max_pixels=max_pixels))
        finally:
            with PDFIUM_LOCK:
                pdf.close()
        return
    try:
        img = Image.open(io.BytesIO(data))
        for index in range(info.page_count):
            if index + 1 not in skip:
                yield _image_page(img, data, index)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"The {info.kind.upper()} image is corrupt or truncated.", "format") from exc


def page_image(data: bytes, info: DocumentInfo, number: int, *, dpi: int, max_pixels: int) -> PageImage:
    """One page alone (a PDF page fanned out to its own task).

    Raises InputError when the document has no page `number` or the image is corrupt or truncated.
    """
    if not 1 <= number <= info.page_count:
        raise InputError(f"The document has no page {number}.")
    if info.kind == "pdf":
        pdf = _open_pdf(data, forms=True)
        try:
            return PageImage(number, _render_pdf_page(pdf, number - 1, dpi=dpi, max_pixels=max_pixels))
        finally:
            with PDFIUM_LOCK:
                pdf.close()
    try:
        return _image_page(Image.open(io.BytesIO(data)), data, number - 1)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"The {info.kind.upper()} image is corrupt or truncated.", "format") from exc
