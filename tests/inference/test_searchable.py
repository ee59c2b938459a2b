"""Searchable PDF and hOCR: the text layer is read back with pypdfium2 and compared with the result, word by word,
each character inside its word's box, for an image, a multi-page PDF and rotated pages."""

import ctypes
import io
import xml.etree.ElementTree as ET

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image

from devtools.samples import encode, render_lines
from inference.documents import inspect_document, iter_pages
from inference.searchable import block_words, hocr, page_words, plain_lines, searchable_pdf

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LIMITS = {"max_pixels": 60_000_000, "max_pages": 100}


def _result_pages(data: bytes, texts: list[list[str]]) -> list[dict]:
    """A result as an engine gives it: per page, one block per line with a pixel box on the rendered page."""
    info = inspect_document(data, **LIMITS)
    pages = []
    for page, lines in zip(iter_pages(data, info, dpi=144, max_pixels=LIMITS["max_pixels"]), texts, strict=True):
        w, h = page.image.size
        blocks = [
            {
                "type": "text",
                "text": line,
                "bbox": [w // 20, h // 10 + i * h // 8, w - w // 10, h // 10 + i * h // 8 + h // 12],
            }
            for i, line in enumerate(lines)
        ]
        pages.append({"page": page.number, "width": w, "height": h, "blocks": blocks})
    return pages


def _text_layer(pdf_bytes_: bytes, page_index: int, size: tuple[int, int]):
    """(text, [(char, (x, y) of its box's centre in the rendered page's pixels)]) of one page."""
    pdf = pdfium.PdfDocument(pdf_bytes_)
    page = pdf[page_index]
    textpage = page.get_textpage()
    chars = []
    for i in range(textpage.count_chars()):
        char = textpage.get_text_range(i, 1)
        if not char.strip():
            continue
        left, bottom, right, top = textpage.get_charbox(i)
        dx, dy = ctypes.c_int(), ctypes.c_int()
        pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, size[0], size[1], 0, (left + right) / 2, (bottom + top) / 2, dx, dy)
        chars.append((char, (dx.value, dy.value)))
    return textpage.get_text_range(), chars


def _assert_layer_matches(pdf: bytes, pages: list[dict]):
    for index, page in enumerate(pages):
        text, chars = _text_layer(pdf, index, (page["width"], page["height"]))
        words = page_words(page)
        assert text.split() == [w.text for w in words]
        assert "".join(c for c, _ in chars) == "".join(w.text for w in words)
        flat = [(c, w) for w in words for c in w.text]
        for (char, (x, y)), (expected, word) in zip(chars, flat, strict=True):
            assert char == expected
            x1, y1, x2, y2 = word.box
            assert x1 - 2 <= x <= x2 + 2, (char, x, word)
            assert y1 - 2 <= y <= y2 + 2, (char, y, word)


def _render(pdf: bytes, index: int) -> Image.Image:
    return pdfium.PdfDocument(pdf)[index].render(scale=1).to_pil().convert("RGB")


def test_an_image_becomes_a_page_whose_text_layer_is_the_result_and_invisible():
    image = render_lines(["Invoice 2041", "Total due: 99.50 café"])
    data = encode(image, "PNG")
    pages = _result_pages(data, [["Invoice 2041", "Total due: 99.50 café"]])
    pdf = searchable_pdf(data, inspect_document(data, **LIMITS), pages, dpi=144, max_pixels=60_000_000)
    _assert_layer_matches(pdf, pages)
    doc = pdfium.PdfDocument(pdf)
    assert len(doc) == 1
    width_pt, height_pt = doc[0].get_size()
    assert (round(width_pt), round(height_pt)) == (round(image.width * 72 / 150), round(image.height * 72 / 150))
    # the layer is invisible: the page looks exactly as the same PDF without any text
    bare = searchable_pdf(data, inspect_document(data, **LIMITS), [], dpi=144, max_pixels=60_000_000)
    assert _render(pdf, 0).tobytes() == _render(bare, 0).tobytes()


def _pdf(pages: list[list[str]], rotations: list[int]) -> bytes:
    images = [render_lines(lines) for lines in pages]
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", save_all=True, append_images=images[1:], resolution=144)
    doc = pdfium.PdfDocument(buf.getvalue())
    for page_index, rotation in enumerate(rotations):
        doc[page_index].set_rotation(rotation)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@pytest.mark.parametrize("rotations", [[0, 0, 0], [90, 180, 270]])
def test_a_multi_page_pdf_keeps_its_pages_and_gets_a_layer_on_each(rotations):
    texts = [["First page here"], ["Second page", "two lines"], ["Third and last page"]]
    data = _pdf(texts, rotations)
    pages = _result_pages(data, texts)
    if rotations[0] == 90:  # 90 and 270 swap the rendered page's sides, 180 does not
        assert [p["height"] for p in (pages[0], pages[2])] == [1100, 1100]
        assert pages[1]["width"] == 1100
    pdf = searchable_pdf(data, inspect_document(data, **LIMITS), pages, dpi=144, max_pixels=60_000_000)
    out = pdfium.PdfDocument(pdf)
    assert len(out) == 3
    assert [out[i].get_rotation() for i in range(3)] == rotations
    _assert_layer_matches(pdf, pages)
    for index in range(3):  # the original pages, untouched to the eye
        assert _render(pdf, index).tobytes() == _render(data, index).tobytes()


def test_non_latin_text_needs_the_unicode_font():
    image = render_lines(["x"])
    data = encode(image, "PNG")
    pages = [{"page": 1, "width": image.width, "height": image.height,
              "blocks": [{"type": "text", "text": "Привет мир", "bbox": [10, 10, 400, 60]}]}]  # fmt: skip
    with_font = searchable_pdf(data, inspect_document(data, **LIMITS), pages, dpi=144, max_pixels=10**8, font_path=FONT)
    _assert_layer_matches(with_font, pages)
    without = searchable_pdf(data, inspect_document(data, **LIMITS), pages, dpi=144, max_pixels=10**8)
    assert _text_layer(without, 0, (image.width, image.height))[0] == ""  # left out, not garbled


def test_block_text_becomes_plain_words_in_lines():
    assert plain_lines("# Title\n\n<table><tr><td>A</td><td>B</td></tr></table>\n**bold** \\(x\\)") == [
        "Title",
        "A B",
        "bold x",
    ]
    words = block_words("ab cd\nef", [0, 0, 50, 20])
    assert [w.text for w in words] == ["ab", "cd", "ef"]
    assert words[0].box == (0.0, 0.0, 20.0, 10.0)
    assert words[1].box == (30.0, 0.0, 50.0, 10.0)
    assert words[2].box == (0.0, 10.0, 50.0, 20.0)


def test_hocr_has_every_word_with_its_box():
    pages = [
        {
            "page": 1,
            "width": 800,
            "height": 600,
            "blocks": [{"type": "text", "text": "a <3 & c", "bbox": [0, 0, 90, 10]}],
        },
        {"page": 2, "width": 800, "height": 600, "blocks": []},
    ]
    root = ET.fromstring(hocr(pages, title="t & u"))
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    page_divs = root.findall(".//h:div[@class='ocr_page']", ns)
    assert [d.get("title") for d in page_divs] == [
        "image page-1; bbox 0 0 800 600; ppageno 0",
        "image page-2; bbox 0 0 800 600; ppageno 1",
    ]
    words = root.findall(".//h:span[@class='ocrx_word']", ns)
    assert [w.text for w in words] == ["a", "<3", "&", "c"]
    assert words[0].get("title") == "bbox 0 0 11 10"


def test_a_born_digital_page_answered_from_its_text_layer_gets_no_second_layer():
    from devtools.pdfgen import PROSE, build_pdf

    data = build_pdf([("digital", PROSE), ("scan", ["Scanned page"])])
    pages = _result_pages(data, [PROSE, ["Scanned page"]])
    pages[0]["source"] = "text_layer"
    pdf = pdfium.PdfDocument(searchable_pdf(data, inspect_document(data, **LIMITS), pages, dpi=144, max_pixels=10**8))
    assert pdf[0].get_textpage().get_text_range().split() == " ".join(PROSE).split()  # once, not twice
    assert pdf[1].get_textpage().get_text_range().split() == ["Scanned", "page"]
