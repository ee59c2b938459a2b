"""The CPU engine on images rendered from known text. The CER bound was measured: see the README."""

import pytest

from devtools.samples import LINES, cer, render_lines, render_table
from inference.base import ModeNotSupported
from inference.registry import get_engine
from modes.builtin import BUILTIN_MODES

CER_BOUND = 0.02  # measured 0.0 on these renders; a bound with room for onnxruntime version drift


@pytest.fixture(scope="module")
def engine():
    return get_engine("rapidocr", threads=2)


def test_ocr_mode_reads_rendered_text_with_line_boxes(engine):
    image = render_lines(LINES)
    result = engine.recognize(image, BUILTIN_MODES["ocr"])
    assert cer("\n".join(LINES), result.text) <= CER_BOUND
    assert [b.type for b in result.blocks] == ["text"] * len(LINES)
    assert (result.width, result.height) == image.size
    for block, line_no in zip(result.blocks, range(len(LINES)), strict=True):
        x1, y1, x2, y2 = block.bbox
        top = 30 + line_no * 60  # where render_lines drew the line
        assert 0 <= x1 < x2 <= image.width
        assert top - 15 <= y1 < y2 <= top + 55


def test_document_mode_groups_lines_into_paragraphs():
    engine = get_engine("rapidocr", threads=2)
    image = render_lines(["Heading Line", "", "First paragraph line one", "continues on line two"], size=30)
    result = engine.recognize(image, BUILTIN_MODES["document"])
    assert cer("Heading Line First paragraph line one continues on line two", result.text) <= CER_BOUND
    assert "\n\n" in result.text  # more than one paragraph


def test_table_mode_rebuilds_a_grid_from_geometry(engine):
    rows = [["Region", "Q1", "Q2"], ["North", "120.5", "98.0"], ["South", "77.25", "101.4"]]
    result = engine.recognize(render_table(rows), BUILTIN_MODES["table"])
    assert len(result.extra["tables"]) == 1
    table = result.extra["tables"][0]
    assert table["rows"] == rows
    assert table["csv"] == "Region,Q1,Q2\nNorth,120.5,98.0\nSouth,77.25,101.4\n"
    assert "| Region | Q1 | Q2 |" in result.text
    assert [b.type for b in result.blocks] == ["table"]


def test_table_mode_reports_no_table_for_prose(engine):
    result = engine.recognize(render_lines(LINES), BUILTIN_MODES["table"])
    assert result.extra["tables"] == []
    assert cer(" ".join(LINES), result.text) <= CER_BOUND


@pytest.mark.parametrize("mode", ["formula", "chart"])
def test_formula_and_chart_say_they_need_deepseek_ocr(engine, mode):
    with pytest.raises(ModeNotSupported, match="needs the DeepSeek-OCR engine"):
        engine.recognize(render_lines(["x"]), BUILTIN_MODES[mode])


def test_engine_is_loaded_once_per_process():
    assert get_engine("rapidocr", threads=2) is get_engine("rapidocr", threads=2)
