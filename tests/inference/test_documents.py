import io
import struct
import zlib

import pypdfium2 as pdfium
import pytest
from PIL import Image

from devtools.samples import encode, pdf_bytes, png_bytes, render_lines
from inference.documents import InputError, detect_kind, inspect_document, iter_pages, page_image

LIMITS = {"max_pixels": 40_000_000, "max_pages": 10}


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height: a decompression bomb in a few bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("fmt", "kind"), [("PNG", "png"), ("JPEG", "jpeg"), ("BMP", "bmp"), ("TIFF", "tiff"), ("PDF", "pdf")]
)
def test_type_comes_from_magic_bytes(fmt, kind):
    data = encode(render_lines(["hello"]), fmt)
    assert detect_kind(data[:32]) == kind
    assert inspect_document(data, **LIMITS).kind == kind


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"GIF89a" + b"\x00" * 64, "Unsupported file type"),
        (b"<html><script>alert(1)</script></html>", "Unsupported file type"),
        (png_bytes()[:60], "corrupt or truncated"),
        (b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\ntrailer<<>>\n%%EOF", "damaged"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(data, message):
    with pytest.raises(InputError, match=message):
        inspect_document(data, **LIMITS)


def test_decompression_bomb_is_refused_from_the_header_alone():
    with pytest.raises(InputError, match="the limit is 40,000,000 pixels"):
        inspect_document(_png_header_only(50_000, 50_000), **LIMITS)
    with pytest.raises(InputError, match="8000×8000 pixels; the limit is 40,000,000"):
        inspect_document(_png_header_only(8_000, 8_000), **LIMITS)


def test_pdf_page_cap():
    pdf = pdfium.PdfDocument.new()
    for _ in range(12):
        pdf.new_page(200, 200)
    buf = io.BytesIO()
    pdf.save(buf)
    with pytest.raises(InputError, match="12 pages; the limit is 10"):
        inspect_document(buf.getvalue(), **LIMITS)


def test_tiff_frame_cap():
    frames = [Image.new("RGB", (20, 20), "white") for _ in range(12)]
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="12 frames"):
        inspect_document(buf.getvalue(), **LIMITS)


def test_pdf_pages_render_in_order_at_the_requested_dpi_and_skip_done_pages():
    data = pdf_bytes([["page one"], ["page two"], ["page three"]])
    info = inspect_document(data, **LIMITS)
    assert info.page_count == 3
    pages = list(iter_pages(data, info, dpi=72, max_pixels=10_000_000, skip=frozenset({2})))
    assert [p.number for p in pages] == [1, 3]
    first = pages[0].image
    assert page_image(data, info, 3, dpi=72, max_pixels=10_000_000).image.size == pages[1].image.size
    # Saved at 144 DPI, so one page is (width/2) points; rendered at 72 DPI it is half the pixel width.
    assert first.size[0] == pytest.approx(render_lines(["x"]).size[0] / 2, abs=2)


def test_rendering_is_scaled_down_to_the_pixel_cap():
    data = pdf_bytes([["a page"]])
    info = inspect_document(data, **LIMITS)
    image = next(iter_pages(data, info, dpi=600, max_pixels=1_000_000)).image
    assert image.size[0] * image.size[1] <= 1_000_000


def test_plain_png_and_jpeg_uploads_pass_through_unchanged_and_others_are_decoded():
    image = render_lines(["pass me through"])
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        image.save(buf, format=fmt)
        data = buf.getvalue()
        page = next(iter_pages(data, inspect_document(data, **LIMITS), dpi=144, max_pixels=10_000_000))
        assert page.source is not None
        assert page.source.data == data
        assert page.image.size == image.size
    buf = io.BytesIO()
    image.convert("RGBA").save(buf, format="PNG")  # alpha: the model gets a fresh RGB encoding instead
    data = buf.getvalue()
    page = next(iter_pages(data, inspect_document(data, **LIMITS), dpi=144, max_pixels=10_000_000))
    assert page.source is None
    assert page.image.mode == "RGB"


def test_page_image_refuses_a_page_past_the_end():
    data = pdf_bytes([["only page"]])
    with pytest.raises(InputError, match="no page 2"):
        page_image(data, inspect_document(data, **LIMITS), 2, dpi=72, max_pixels=10_000_000)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_an_image_cut_short_is_an_input_error_when_prepared_not_later(fmt, keep):
    """A cut-off upload used to pass through undecoded and fail as an OSError wherever its pixels were first read
    (the blank-page check, the CPU engine): an internal error instead of "corrupt or truncated"."""
    from devtools.samples import encode, render_lines
    from inference.documents import InputError, inspect_document, iter_pages, page_image

    whole = encode(render_lines(["A page cut short", "in the middle of its pixels"]), fmt)
    info = inspect_document(whole, max_pixels=60_000_000, max_pages=10)
    assert page_image(whole, info, 1, dpi=144, max_pixels=60_000_000).source is not None  # a whole file passes
    cut = whole[: int(len(whole) * keep)]

    def first_page_pixels() -> None:
        cut_info = inspect_document(cut, max_pixels=60_000_000, max_pages=10)
        page_image(cut, cut_info, 1, dpi=144, max_pixels=60_000_000).image.load()

    def all_pages_pixels() -> None:
        cut_info = inspect_document(cut, max_pixels=60_000_000, max_pages=10)
        for page in iter_pages(cut, cut_info, dpi=144, max_pixels=60_000_000):
            page.image.load()

    with pytest.raises(InputError, match="corrupt or truncated"):
        first_page_pixels()
    with pytest.raises(InputError, match="corrupt or truncated"):
        all_pages_pixels()
