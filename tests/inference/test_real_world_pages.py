"""Real-world page images (issue 12): transparency, filled PDF forms, and every TIFF frame checked before decoding.
Each class is tried on generated siblings (modes, formats, frames, field types) and on the public field file, with
the CPU engine and with the vLLM engine (the fake server reading what it is sent)."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw, ImageFont, TiffImagePlugin

from devtools.fake_vllm import FakeVllm
from devtools.ocr_reader import RapidReader
from inference.base import ModeSpec
from inference.documents import InputError, flatten, inspect_document, iter_pages, page_image
from inference.images import encode_for_model
from inference.metrics import cer
from inference.vllm_engine import VllmEngine
from modes.builtin import BUILTIN_MODES
from tests.field import assert_reads, field_file
from tests.pdf_forms import Field, form_pdf

TEXT = ModeSpec("ocr", "ocr", "", "Free OCR.", "text")
LIMITS = {"max_pixels": 60_000_000, "max_pages": 10}
LINES = ["Transparent receipt 4417", "Paid to Harbour Cafe"]


@pytest.fixture(scope="module")
def rapid():
    from inference.rapid import RapidOcrEngine

    return RapidOcrEngine(threads=1)


@pytest.fixture(scope="module")
def reading_vllm():
    fake = FakeVllm(capacity=64, latency=0.0, reader=RapidReader()).start()
    yield VllmEngine(base_urls=[fake.base_url], backoff_s=0.01)
    fake.stop()


def ink(lines: list[str] = LINES, size: int = 36) -> Image.Image:
    """The text as an 8-bit coverage mask: 255 where the ink is, 0 on the background."""
    font = ImageFont.load_default(size=size)
    mask = Image.new("L", (760, 60 + len(lines) * size * 2), 0)
    draw = ImageDraw.Draw(mask)
    for i, line in enumerate(lines):
        draw.text((30, 30 + i * size * 2), line, fill=255, font=font)
    return mask


def _rgba() -> Image.Image:
    """As the field file: transparent pixels are RGB 0 with alpha 0; the text is opaque black."""
    black = Image.new("RGBA", ink().size, (0, 0, 0, 0))
    black.putalpha(ink())
    return black


def _la() -> Image.Image:
    image = Image.new("LA", ink().size, (0, 0))
    image.putalpha(ink())
    return image


def _palette_trns() -> Image.Image:
    """A palette image whose entry 0 (black) is the transparent background, entry 1 dark blue text."""
    image = ink().point(lambda v: 1 if v > 100 else 0).convert("P")
    image.putpalette([0, 0, 0, 20, 20, 120] + [0] * 762)
    image.info["transparency"] = 0
    return image


def _rgb_key() -> Image.Image:
    """An RGB image with a transparent colour key: black background keyed out, text dark green."""
    image = Image.new("RGB", ink().size, (0, 0, 0))
    image.paste((10, 90, 10), mask=ink().point(lambda v: 255 if v > 100 else 0))
    image.info["transparency"] = (0, 0, 0)
    return image


def _l_key() -> Image.Image:
    """A greyscale image with a transparent grey key: background 0 keyed out, text grey 40."""
    image = Image.new("L", ink().size, 0)
    image.paste(40, mask=ink().point(lambda v: 255 if v > 100 else 0))
    image.info["transparency"] = 0
    return image


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    if "transparency" in image.info and fmt == "PNG":
        options.setdefault("transparency", image.info["transparency"])
    image.save(out, format=fmt, **options)
    return out.getvalue()


TRANSPARENT = {
    "rgba-png": lambda: _save(_rgba(), "PNG"),
    "la-png": lambda: _save(_la(), "PNG"),
    "palette-trns-png": lambda: _save(_palette_trns(), "PNG"),
    "rgb-colour-key-png": lambda: _save(_rgb_key(), "PNG"),
    "grey-colour-key-png": lambda: _save(_l_key(), "PNG"),
    "rgba-tiff": lambda: _save(_rgba(), "TIFF", compression="tiff_deflate"),
    "la-tiff": lambda: _save(_la(), "TIFF"),
}


@pytest.mark.parametrize("variant", sorted(TRANSPARENT))
def test_transparent_images_are_flattened_onto_white_and_read(variant, rapid):
    data = TRANSPARENT[variant]()
    info = inspect_document(data, **LIMITS)
    page = next(iter_pages(data, info, dpi=144, max_pixels=LIMITS["max_pixels"]))
    assert page.image.mode == "RGB"
    assert page.image.getpixel((2, 2)) == (255, 255, 255)  # the transparent background is white, not black
    assert page.source is None  # never passed through with its alpha: every engine gets the flattened pixels
    assert page_image(data, info, 1, dpi=144, max_pixels=LIMITS["max_pixels"]).image.tobytes() == page.image.tobytes()
    assert cer("\n".join(LINES), rapid.recognize(page.image, TEXT).text) <= 0.05


def test_every_frame_of_a_tiff_is_flattened(rapid):
    opaque = Image.new("RGB", ink().size, "white")
    opaque.paste((0, 0, 0), mask=ink(["Opaque first page 1"]))
    data = _save(opaque, "TIFF", save_all=True, append_images=[_rgba(), _la()])
    info = inspect_document(data, **LIMITS)
    pages = list(iter_pages(data, info, dpi=144, max_pixels=LIMITS["max_pixels"]))
    assert [p.number for p in pages] == [1, 2, 3]
    for page in pages[1:]:
        assert page.image.getpixel((2, 2)) == (255, 255, 255)
        assert cer("\n".join(LINES), rapid.recognize(page.image, TEXT).text) <= 0.05


def test_partly_transparent_pixels_are_blended_onto_white():
    image = Image.new("RGBA", (4, 4), (0, 0, 0, 64))  # black at a quarter opacity reads as light grey
    assert flatten(image).getpixel((0, 0)) == (191, 191, 191)
    opaque = Image.new("RGB", (4, 4), (10, 20, 30))
    assert flatten(opaque) is opaque  # nothing to do for an opaque image


def test_a_transparent_image_goes_to_vllm_flattened(reading_vllm):
    data = TRANSPARENT["rgba-png"]()
    page = next(iter_pages(data, inspect_document(data, **LIMITS), dpi=144, max_pixels=LIMITS["max_pixels"]))
    sent = Image.open(io.BytesIO(encode_for_model(page.image, source=page.source).data))
    assert sent.mode == "RGB"
    assert sent.getpixel((2, 2))[0] >= 250
    assert cer("\n".join(LINES), reading_vllm.recognize(page.image, BUILTIN_MODES["ocr"]).text) <= 0.05


@pytest.mark.vllm
@pytest.mark.parametrize("engine", ["rapid", "vllm"])
def test_field_file_transparent_background(engine, rapid, reading_vllm):
    data, expected = field_file("01-rgba-transparent-bg.png")
    page = next(iter_pages(data, inspect_document(data, **LIMITS), dpi=144, max_pixels=LIMITS["max_pixels"]))
    reader = rapid if engine == "rapid" else reading_vllm
    assert_reads(expected, reader.recognize(page.image, BUILTIN_MODES["ocr"]).text)


# --- PDF forms ------------------------------------------------------------------------------------------------------
FORM_LABELS = [(40, 340, "Registration form"), (40, 280, "Name:"), (40, 220, "Colour:"), (40, 160, "Member:")]
FORM_FIELDS = [
    Field("name", "Ada Lovelace", (140, 270, 420, 300)),
    Field("colour", "Green", (140, 210, 300, 240), "combo", ("Red", "Green")),
    Field("member", "Yes", (140, 155, 162, 177), "check"),
]


def _dark_pixels(image: Image.Image, box_pt: tuple[float, float, float, float], scale: float = 2.0) -> int:
    """Dark pixels inside a box given in PDF points from the bottom-left of a 400 pt tall page."""
    x1, y1, x2, y2 = box_pt
    crop = image.convert("L").crop(
        (round(x1 * scale), round((400 - y2) * scale), round(x2 * scale), round((400 - y1) * scale))
    )
    return sum(1 for v in crop.tobytes() if v < 128)


@pytest.mark.parametrize("appearances", [True, False], ids=["with-appearance-streams", "need-appearances"])
def test_filled_form_fields_are_drawn_and_read(appearances, rapid):
    data = form_pdf(labels=FORM_LABELS, fields=FORM_FIELDS, appearances=appearances)
    page = next(iter_pages(data, inspect_document(data, **LIMITS), dpi=144, max_pixels=LIMITS["max_pixels"]))
    text = rapid.recognize(page.image, TEXT).text
    assert "Name: Ada Lovelace" in text.splitlines(), text
    assert "Green" in text.split()
    assert _dark_pixels(page.image, (140, 155, 162, 177)) > 40  # the check box's mark is drawn


def test_an_unchecked_box_stays_empty_and_a_checked_one_is_marked():
    fields = [Field("yes", "Yes", (140, 155, 162, 177), "check"), Field("no", "Off", (240, 155, 262, 177), "check")]
    data = form_pdf(labels=[(40, 160, "Tick:")], fields=fields)
    page = next(iter_pages(data, inspect_document(data, **LIMITS), dpi=144, max_pixels=LIMITS["max_pixels"]))
    assert _dark_pixels(page.image, (140, 155, 162, 177)) > 40
    assert _dark_pixels(page.image, (240, 155, 262, 177)) == 0


@pytest.mark.vllm
@pytest.mark.parametrize("engine", ["rapid", "vllm"])
def test_field_file_acroform(engine, rapid, reading_vllm):
    data, expected = field_file("04-acroform-filled.pdf")
    info = inspect_document(data, **LIMITS)
    page = page_image(data, info, 1, dpi=144, max_pixels=LIMITS["max_pixels"])
    reader = rapid if engine == "rapid" else reading_vllm
    assert_reads(expected, reader.recognize(page.image, BUILTIN_MODES["ocr"]).text)


# --- pixel limits on every frame, before decoding -------------------------------------------------------------------
def tiff_with_a_huge_second_frame(side: int = 12000) -> bytes:
    """A few kilobytes: a small first frame, then a `side`×`side` bilevel frame compressed with CCITT G4."""
    small = Image.new("1", (200, 100), 1)
    huge = Image.new("1", (side, side), 1)
    out = io.BytesIO()
    small.save(out, format="TIFF", save_all=True, append_images=[huge], compression="group4")
    return out.getvalue()


def test_a_tiff_whose_second_frame_is_too_large_is_refused_before_decoding(monkeypatch):
    data = tiff_with_a_huge_second_frame()
    assert len(data) < 12_000

    def no_decoding(self):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(TiffImagePlugin.TiffImageFile, "load", no_decoding)
    with pytest.raises(InputError) as caught:
        inspect_document(data, **LIMITS)
    assert caught.value.kind == "too_large"
    assert "Frame 2 of the TIFF is 12000×12000 pixels" in caught.value.message


def test_every_frame_within_the_limit_passes():
    data = tiff_with_a_huge_second_frame(side=3000)
    assert inspect_document(data, **LIMITS).page_count == 2


@pytest.mark.parametrize("size", [(0.5, 0.5), (0.2, 500)])
def test_a_pdf_page_without_a_usable_size_is_refused_up_front(size):
    data = form_pdf(labels=[(0, 0, "x")], fields=[], size=size)
    with pytest.raises(InputError) as caught:
        inspect_document(data, **LIMITS)
    assert caught.value.kind == "format"
    assert "Page 1 of the PDF has no size" in caught.value.message


def test_a_filled_form_is_not_answered_from_its_text_layer():
    """The job API's text-layer shortcut reads only the page's own text: the field values would vanish again."""
    from inference.shortcuts import text_layer_page

    labels = [
        *FORM_LABELS,
        *((40, 120 - 18 * i, f"Static instruction line number {i} for applicants") for i in range(5)),
    ]
    filled = form_pdf(labels=labels, fields=FORM_FIELDS)
    page = page_image(filled, inspect_document(filled, **LIMITS), 1, dpi=144, max_pixels=LIMITS["max_pixels"])
    answer, why = text_layer_page(filled, 1, page.image.size)
    assert answer is None
    assert "form fields" in why
    plain = form_pdf(labels=labels, fields=[])  # the same page without fields keeps its shortcut
    answer, why = text_layer_page(plain, 1, page.image.size)
    assert answer is not None, why
    assert "Static instruction line number 4 for applicants" in answer.text
