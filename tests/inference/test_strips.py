"""Very long and very wide pages (issue 12, item 3): overlapping strips, read by both engines, joined into one page
in reading order with nothing read twice; ordinary pages are never cut."""

from __future__ import annotations

import io
import itertools
import math
import threading

import pytest
from PIL import Image, ImageDraw, ImageFont

from devtools.fake_vllm import FakeVllm
from devtools.ocr_reader import RapidReader
from inference import strips
from inference.annotate import annotate, mark_sizes
from inference.documents import inspect_document, iter_pages
from inference.metrics import cer
from inference.vllm_engine import VllmEngine
from modes.builtin import BUILTIN_MODES
from tests.field import assert_reads, field_file

OCR = BUILTIN_MODES["ocr"]
LIMITS = {"max_pixels": 60_000_000, "max_pages": 10}


@pytest.fixture(scope="module")
def rapid():
    from inference.rapid import RapidOcrEngine

    return RapidOcrEngine(threads=1)


@pytest.fixture(scope="module")
def reader():
    return RapidReader()


@pytest.fixture(scope="module")
def reading_vllm(reader):
    fake = FakeVllm(capacity=64, latency=0.0, reader=reader).start()
    yield VllmEngine(base_urls=[fake.base_url], backoff_s=0.01)
    fake.stop()


def tall_page(lines: list[str], *, width: int = 520, pitch: int = 56, size: int = 22) -> Image.Image:
    font = ImageFont.load_default(size=size)
    image = Image.new("RGB", (width, 40 + pitch * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((24, 24 + i * pitch), line, fill="black", font=font)
    return image


# --- the plan -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dpi", [72, 144, 200, 300, 600])
@pytest.mark.parametrize("max_side", [1280, 3840])
def test_a4_pages_and_photos_are_never_cut(dpi, max_side):
    a4 = (round(8.27 * dpi), round(11.69 * dpi))
    assert strips.plan_strips(*a4, max_side=max_side) is None
    assert strips.plan_strips(*reversed(a4), max_side=max_side) is None  # landscape
    assert strips.plan_strips(4000, 3000, max_side=max_side) is None
    assert strips.plan_strips(1080, 2400, max_side=max_side) is None  # a phone screenshot


@pytest.mark.parametrize(("width", "height", "axis"), [(600, 15000, "y"), (454, 5102, "y"), (15000, 600, "x")])
def test_strips_cover_the_page_overlap_and_own_every_point_once(width, height, axis):
    plan = strips.plan_strips(width, height, max_side=1280)
    assert plan is not None
    assert plan.axis == axis
    long_side = max(width, height)
    spans = [(s.box[1], s.box[3]) if axis == "y" else (s.box[0], s.box[2]) for s in plan.strips]
    assert spans[0][0] == 0
    assert spans[-1][1] == long_side
    assert all(end - start <= 1280 for start, end in spans)
    assert all(prev[1] - nxt[0] >= strips.MIN_OVERLAP_PX for prev, nxt in itertools.pairwise(spans))
    owns = [s.own for s in plan.strips]
    assert owns[0][0] == 0
    assert owns[-1][1] == math.inf
    assert all(a[1] == b[0] for a, b in itertools.pairwise(owns))  # the own spans tile the page
    for (start, end), (own_start, own_end) in zip(spans, owns, strict=True):  # a line owned lies whole inside
        assert own_start >= start
        assert min(own_end, long_side) <= end


def test_text_of_boxless_strips_is_joined_where_they_repeat():
    first = "line 1\nline 2\nline 3\nline 4\nli"
    second = "ne 2 cut\nline 3\nline 4\nline 5\nline 6"
    assert strips.merge_text_runs([first, second]) == "line 1\nline 2\nline 3\nline 4\nline 5\nline 6"
    assert strips.merge_text_runs(["a\nb", "c\nd"]) == "a\nb\nc\nd"


# --- the CPU engine -------------------------------------------------------------------------------------------------
def test_a_long_page_is_read_whole_in_order_by_the_cpu_engine(rapid):
    lines = [f"Entry {n:03d} posted by Morgan at noon" for n in range(1, 91)]
    image = tall_page(lines)
    result = rapid.recognize(image, OCR)
    assert_reads(lines, result.text)
    assert result.text.splitlines() == lines  # in reading order
    assert (result.width, result.height) == image.size
    last = result.blocks[-1].bbox  # boxes are in page coordinates
    assert last[1] > image.height - 120
    assert last[3] <= image.height


def test_an_ordinary_page_is_read_in_one_pass(rapid, monkeypatch):
    calls = []
    original = rapid._read
    monkeypatch.setattr(rapid, "_read", lambda image: calls.append(image.size) or original(image))
    page = Image.new("RGB", (1191, 1684), "white")  # A4 at 144 DPI
    page.paste(tall_page(["Quarterly statement for March"], width=900), (100, 100))
    assert "Quarterly statement for March" in rapid.recognize(page, OCR).text
    assert calls == [(1191, 1684)]


def receipt_pdf(lines: list[str]) -> bytes:
    """An 80×900 mm receipt, drawn at 144 DPI (454×5102 px) and stored as a one-page PDF of that size."""
    font = ImageFont.load_default(size=17)
    image = Image.new("RGB", (454, 5102), "white")
    draw = ImageDraw.Draw(image)
    pitch = (5102 - 80) // len(lines)
    for i, line in enumerate(lines):
        draw.text((18, 40 + i * pitch), line, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, format="PDF", resolution=144)
    return out.getvalue()


def test_a_long_receipt_pdf_is_read_whole(rapid):
    lines = [f"Item {n:03d} oat milk latte 4.{n % 100:02d}" for n in range(1, 101)]
    data = receipt_pdf(lines)
    page = next(iter_pages(data, inspect_document(data, **LIMITS), dpi=144, max_pixels=LIMITS["max_pixels"]))
    assert page.image.size == (454, 5102)
    assert_reads(lines, rapid.recognize(page.image, OCR).text)


def test_a_wide_page_is_cut_across_and_its_lines_joined_again(rapid):
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo"]
    lines = [" ".join(f"{w}{row}" for w in words * 4) for row in range(1, 4)]
    font = ImageFont.load_default(size=26)
    width = 40 + round(max(font.getlength(line) for line in lines))
    image = Image.new("RGB", (width, 260), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((20, 30 + i * 70), line, fill="black", font=font)
    assert strips.plan_strips(*image.size, max_side=1280).axis == "x"
    result = rapid.recognize(image, OCR)
    got = result.text.splitlines()
    assert len(got) == 3, result.text
    for want, have in zip(lines, got, strict=True):
        assert cer(want, have) <= 0.02, (want, have)


@pytest.mark.parametrize("engine", ["rapid", "vllm"])
def test_field_file_long_screenshot(engine, rapid, reading_vllm):
    data, expected = field_file("08-long-screenshot.png")
    page = next(iter_pages(data, inspect_document(data, **LIMITS), dpi=144, max_pixels=LIMITS["max_pixels"]))
    result = (rapid if engine == "rapid" else reading_vllm).recognize(page.image, OCR)
    assert_reads(expected, result.text)
    assert result.text.splitlines() == expected
    assert len(result.blocks) == 210
    centres = [(b.bbox[1] + b.bbox[3]) / 2 for b in result.blocks]
    # One line every 70 px: each box sits where its line is drawn.
    assert all(abs(c - (c // 70) * 70 - 35) < 35 for c in centres)
    assert [round(c // 70) for c in centres] == list(range(210))


# --- the vLLM engine ------------------------------------------------------------------------------------------------
def test_vllm_strips_are_sent_together_one_request_each():
    image = tall_page([f"Row {n}" for n in range(1, 200)], width=600)
    plan = strips.plan_strips(*image.size, max_side=3840, strip_side=2048)
    count = len(plan.strips)
    barrier = threading.Barrier(count, timeout=60)
    seen: list[tuple[int, int]] = []

    def wait_for_all(strip: Image.Image) -> str:
        seen.append(strip.size)
        barrier.wait()  # raises if the strips were not all in flight at once (then the engine would hang here)
        return "<|ref|>Row<|/ref|><|det|>[[10, 10, 200, 20]]<|/det|>\n"

    fake = FakeVllm(capacity=64, latency=0.0, reader=wait_for_all).start()
    try:
        result = VllmEngine(base_urls=[fake.base_url], retries=0).recognize(image, OCR)
    finally:
        fake.stop()
    assert not barrier.broken
    assert sorted(seen) == sorted((600, s.box[3] - s.box[1]) for s in plan.strips)
    assert fake.stats()["received"] == count
    assert result.usage.prompt_tokens > 0
    assert (result.width, result.height) == image.size


def test_a_long_page_is_read_whole_through_vllm(reading_vllm, reader):
    lines = [f"Note {n:03d} filed by Quinn on Tuesday" for n in range(1, 121)]
    image = tall_page(lines, pitch=60)
    result = reading_vllm.recognize(image, OCR)
    assert_reads(lines, result.text)
    assert result.text.splitlines() == lines
    assert result.blocks[-1].bbox[3] <= image.height
    assert result.blocks[-1].bbox[1] > image.height - 150


# --- the annotated image --------------------------------------------------------------------------------------------
def test_label_marks_follow_the_text_not_the_page():
    line_boxes = [[20, 40 + 70 * i, 460, 67 + 70 * i] for i in range(210)]
    width, font = mark_sizes((600, 15000), line_boxes)
    assert font <= 22
    assert width <= 4  # sized by the page it would be 167 px, taller than six lines
    a4_width, a4_font = mark_sizes((1191, 1684), [[100, 100, 900, 130]] * 30)
    assert (a4_width, a4_font) == (3, 19)  # an ordinary page keeps the marks it always had


def test_the_annotated_long_page_keeps_its_size_and_draws_each_box_at_its_line():
    image = tall_page([f"Message {n:03d}" for n in range(1, 40)], pitch=70)
    blocks = [{"type": "text", "bbox": [20, 20 + 70 * i, 300, 50 + 70 * i]} for i in range(39)]
    out = annotate(image, blocks)
    assert out.size == image.size
    for i in (0, 20, 38):  # the outline's left edge, half way down each box, is drawn in the text colour
        r, g, b = out.getpixel((20, 35 + 70 * i))
        assert b > 150, (i, (r, g, b))
        assert r < 120, (i, (r, g, b))
