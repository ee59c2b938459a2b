"""Pages that need no model: blank pages and good PDF text layers (pure functions, real PDFs)."""

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from devtools.pdfgen import PROSE, build_pdf
from devtools.samples import encode, render_lines
from inference.documents import inspect_document, page_image
from inference.searchable import searchable_pdf
from inference.shortcuts import image_digest, is_blank, judge_text, text_layer_page

LIMITS = {"max_pixels": 60_000_000, "max_pages": 100}


def _rendered(data: bytes, number: int):
    info = inspect_document(data, **LIMITS)
    return page_image(data, info, number, dpi=144, max_pixels=LIMITS["max_pixels"]).image


def test_blank_pages_and_pages_with_a_little_ink():
    white = Image.new("RGB", (1240, 1754), "white")
    assert is_blank(white)
    grey_paper = Image.new("RGB", (1240, 1754), (236, 232, 225))
    dusty = grey_paper.copy()
    draw = ImageDraw.Draw(dusty)
    for x in range(0, 1240, 97):
        draw.point((x, x), fill=(120, 120, 120))  # specks
    assert is_blank(grey_paper)
    assert is_blank(dusty)
    one_word = white.copy()
    ImageDraw.Draw(one_word).text((600, 900), "Signed", fill="black", font_size=40)
    assert not is_blank(one_word)
    assert not is_blank(render_lines(["A normal page"]))
    assert is_blank(Image.open(__import__("io").BytesIO(encode(white, "JPEG"))))  # JPEG noise is not ink


def test_digests_tell_identical_pages_from_others():
    a, b = render_lines(["same"]), render_lines(["same"])
    assert image_digest(a) == image_digest(b)
    assert image_digest(a) != image_digest(render_lines(["other"]))
    assert image_digest(a, b"raw") != image_digest(a)


@pytest.mark.parametrize(
    ("text", "ok", "reason"),
    [
        (" ".join(PROSE), True, "good"),
        ("Page 3", False, "only 5 characters"),
        ("Ã©Ã¨" + "\ufffd" * 10 + " ".join(PROSE), False, "mojibake"),
        ("\x01\x02\x03" * 20 + " ".join(PROSE[:1]), False, "mojibake"),
        ("!#%&*+/<=>?@[]^{|}~" * 5, False, "mostly symbols"),
    ],
)
def test_text_quality(text, ok, reason):
    quality = judge_text(text)
    assert quality.ok is ok
    assert reason in quality.reason


def test_a_born_digital_page_is_answered_from_its_text_layer_with_pixel_boxes():
    data = build_pdf([("digital", PROSE)])
    image = _rendered(data, 1)
    page, why = text_layer_page(data, 1, image.size)
    assert why == "good"
    assert page.text.splitlines() == PROSE
    assert page.extra["source"] == "text_layer"
    assert page.usage.total_tokens == 0
    first = page.blocks[0].bbox
    # 60 pt from the left, 80 pt from the top, at 144 dpi: twice the points, in pixels
    assert abs(first[0] - 120) <= 3
    assert 130 <= first[1] <= 160
    assert first[1] < first[3] < page.blocks[1].bbox[1]
    assert all(0 <= b.bbox[2] <= image.width for b in page.blocks)


@pytest.mark.parametrize(
    ("pages", "reason"),
    [
        ([("scan", PROSE)], "page-sized image"),
        ([("ocr_layer", PROSE)], "invisible text layer"),
        ([("blank", [])], "only 0 characters"),
        ([("digital", ["Page 7"])], "only 5 characters"),
    ],
)
def test_layers_that_are_not_trusted(pages, reason):
    data = build_pdf(pages)
    page, why = text_layer_page(data, 1, _rendered(data, 1).size)
    assert page is None
    assert reason in why


def test_deepreads_own_searchable_pdf_is_not_mistaken_for_a_born_digital_one():
    image = render_lines(PROSE)
    data = encode(image, "PNG")
    pages = [{"page": 1, "width": image.width, "height": image.height,
              "blocks": [{"type": "text", "text": " ".join(PROSE), "bbox": [10, 10, 1000, 200]}]}]  # fmt: skip
    pdf = searchable_pdf(data, inspect_document(data, **LIMITS), pages, dpi=144, max_pixels=LIMITS["max_pixels"])
    page, why = text_layer_page(pdf, 1, _rendered(pdf, 1).size)
    assert page is None
    assert "invisible" in why


@pytest.mark.parametrize(
    ("size", "at"),
    [((600, 15000), (20, 7000)), ((15000, 600), (7000, 280)), ((2480, 3508), (1200, 1700)), ((8000, 7000), (10, 10))],
    ids=["long-screenshot", "wide-banner", "a4-300dpi", "huge-scan-corner"],
)
def test_one_line_on_a_page_of_any_shape_or_size_is_not_blank(size, at):
    page = Image.new("RGB", size, "white")
    assert is_blank(page)
    ImageDraw.Draw(page).text(at, "Message 001 from Alex", fill="black", font_size=28)
    assert not is_blank(page)


def test_the_long_screenshot_from_the_field_is_not_blank():
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "field" / "08-long-screenshot.png"
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared data sits beside the repository)")
    assert not is_blank(Image.open(path))
