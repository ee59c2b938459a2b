import pytest

from devtools.fake_vllm_answers import CHART, DOCUMENT, OCR
from inference import deepseek_output as out


def test_document_blocks_get_labels_and_pixel_boxes_scaled_per_axis():
    page = out.parse(DOCUMENT, 1998, 999)
    assert [b.type for b in page.blocks] == [
        "title",
        "text",
        "table",
        "table_caption",
        "equation",
        "image",
        "image_caption",
    ]
    title = page.blocks[0]
    assert title.text == "# Quarterly Report 2025"
    assert title.bbox == [146, 52, 1148, 86]  # x scaled by 1998/999, y by 999/999
    assert page.image_blocks == [5]


def test_markdown_is_clean_of_tags_and_special_tokens_and_links_the_figure():
    text = out.parse(DOCUMENT, 1000, 1000).text
    for junk in ("<|ref|>", "<|det|>", "end▁of▁sentence", "<center>"):
        assert junk not in text
    assert text.startswith("# Quarterly Report 2025\n\nRevenue grew")
    assert f"![image 1]({out.image_placeholder(1)})" in text
    assert text.endswith("Figure 1: Monthly revenue.")


def test_ocr_prompt_refs_hold_the_text_itself():
    page = out.parse(OCR, 999, 999, refs_are_text=True)
    assert [b.text for b in page.blocks][:2] == [
        "Quarterly Report 2025",
        "Revenue grew by 12% over the quarter, driven by the northern region.",
    ]
    assert all(b.type == "text" for b in page.blocks)
    assert page.text.splitlines()[0] == "Quarterly Report 2025"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[[0, 0, 999, 999]]", [[0, 0, 500, 200]]),
        ("[[-50, 10, 1400, 2000]]", [[0, 2, 500, 200]]),  # clamped into the image
        ("[[500, 500, 100, 100]]", [[50, 20, 250, 100]]),  # corners put in order
        ("[[1, 2, 3]]", []),
        ("__import__('os').system('true')", []),  # never evaluated
        ("[[1, 2, 3, 'x']]", []),
        ("[[10, 10, 20, 20], [30, 30, 40, 40]]", [[5, 2, 10, 4], [15, 6, 20, 8]]),
    ],
)
def test_boxes_are_parsed_safely_scaled_and_clamped(raw, expected):
    assert out.parse_boxes(raw, 500, 200) == expected


def test_html_table_with_rowspan_and_colspan_becomes_a_grid_and_csv():
    page = out.parse(DOCUMENT, 1000, 1000)
    (table,) = out.tables(page.blocks)
    assert table["rows"] == [
        ["Region", "Revenue", "Revenue"],
        ["Region", "Q1", "Q2"],
        ["North", "1,200", "1,350"],
        ["South", "980", "1,010"],
    ]
    assert table["csv"].splitlines()[2] == 'North,"1,200","1,350"'
    # The model wrote the table's tag, then the caption's tag, then caption and HTML: the HTML joins the table.
    assert table["bbox"] == page.blocks[2].bbox
    assert page.blocks[2].type == "table"
    assert page.blocks[3].text == "Table 1: Revenue by region (k€)."


def test_formulas_in_reading_order_inline_and_display():
    formulas = out.formulas(out.parse(DOCUMENT, 1000, 1000).text)
    assert formulas == [
        {"latex": "C = 4.2", "display": False},
        {"latex": "G = \\frac{R_{Q2} - R_{Q1}}{R_{Q1}}", "display": True},
    ]


def test_chart_data_with_numbers_as_numbers():
    chart = out.chart(out.parse(CHART, 1000, 1000).text)
    assert chart["title"] == "Monthly revenue (k€)"
    assert chart["columns"] == ["Month", "Revenue", "Costs"]
    assert chart["rows"] == [["Jan", 410.0, 300.0], ["Feb", 455.0, 310.0], ["Mar", 485.0, 305.0]]


def test_chart_from_a_pipe_table_and_no_chart_from_prose():
    chart = out.chart("Sales\n\n| Year | Units |\n|---|---|\n| 2024 | 1,500 |\n")
    assert chart["columns"] == ["Year", "Units"]
    assert chart["rows"] == [["2024", 1500.0]]
    assert out.chart("No data here.") is None


def test_untagged_output_is_one_text_block():
    page = out.parse("Plain words." + "<｜end▁of▁sentence｜>", 100, 50)
    assert page.text == "Plain words."
    assert [(b.type, b.bbox) for b in page.blocks] == [("text", [0, 0, 100, 50])]
