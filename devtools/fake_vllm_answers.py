"""What the fake vLLM server (devtools/fake_vllm.py) answers: DeepSeek-OCR's outputs as the model writes them (grounding
tags, boxes in 0–999 units, an HTML table, LaTeX, the end-of-sentence token), the prompts it tells apart, its token
arithmetic for both models, and the trigger colours drawn into a test image."""

from __future__ import annotations

import math

from PIL import Image

EOS = "<｜end▁of▁sentence｜>"
PROMPT_OCR = "<|grounding|>OCR this image."
PROMPT_MARKDOWN = "<|grounding|>Convert the document to markdown."
PROMPT_CHART = "Parse the figure."
PROMPT_FREE = "Free OCR."

DOCUMENT = (
    "<|ref|>title<|/ref|><|det|>[[73, 52, 574, 86]]<|/det|>\n# Quarterly Report 2025\n\n"
    "<|ref|>text<|/ref|><|det|>[[73, 110, 925, 190]]<|/det|>\n"
    "Revenue grew by 12% over the quarter, driven by the northern region. Costs stayed flat at \\(C = 4.2\\) "
    "million.\n\n"
    # As the model writes it: the table's tag, straight away the caption's tag, then the caption and the HTML.
    "<|ref|>table<|/ref|><|det|>[[73, 215, 925, 452]]<|/det|>\n"
    "<|ref|>table_caption<|/ref|><|det|>[[73, 458, 540, 482]]<|/det|>\nTable 1: Revenue by region (k€).  \n\n"
    '<table><tr><td rowspan="2">Region</td><td colspan="2">Revenue</td></tr><tr><td>Q1</td><td>Q2</td></tr>'
    "<tr><td>North</td><td>1,200</td><td>1,350</td></tr><tr><td>South</td><td>980</td><td>1,010</td></tr>"
    "</table>  \n\n"
    "<|ref|>equation<|/ref|><|det|>[[300, 510, 700, 560]]<|/det|>\n"
    "\\[\nG = \\frac{R_{Q2} - R_{Q1}}{R_{Q1}}\n\\]\n\n"
    "<|ref|>image<|/ref|><|det|>[[120, 600, 880, 900]]<|/det|>\n\n\n"
    "<|ref|>image_caption<|/ref|><|det|>[[300, 910, 700, 940]]<|/det|>\n"
    "<center>Figure 1: Monthly revenue.</center>" + EOS
)
OCR_LINES = [
    ("Quarterly Report 2025", [73, 52, 574, 86]),
    ("Revenue grew by 12% over the quarter, driven by the northern region.", [73, 110, 925, 148]),
    ("Costs stayed flat at 4.2 million.", [73, 152, 560, 190]),
    ("Region Revenue Q1 Q2", [73, 215, 925, 300]),
    ("North 1,200 1,350", [73, 305, 925, 378]),
    ("South 980 1,010", [73, 380, 925, 452]),
]
OCR = "".join(f"<|ref|>{text}<|/ref|><|det|>[{box}]<|/det|>\n" for text, box in OCR_LINES) + EOS
CHART = (
    "Monthly revenue (k€)\n\n<table><tr><td>Month</td><td>Revenue</td><td>Costs</td></tr>"
    "<tr><td>Jan</td><td>410</td><td>300</td></tr><tr><td>Feb</td><td>455</td><td>310</td></tr>"
    "<tr><td>Mar</td><td>485</td><td>305</td></tr></table>" + EOS
)
FREE = (
    "Quarterly Report 2025\n\nRevenue grew by 12% over the quarter, driven by the northern region. Costs stayed "
    "flat at 4.2 million.\n\nRegion Revenue Q1 Q2\nNorth 1,200 1,350\nSouth 980 1,010" + EOS
)
LOOP_LINE = "<td>1,200</td><td>1,350</td></tr><tr><td>North</td>"


def crop_grid(width: int, height: int, *, tile: int) -> tuple[int, int]:
    """(columns, rows) of `tile`-pixel local crops over a `width`×`height` image, at most 6 crops: the longer side
    gives up a crop until they fit."""
    cols, rows = max(1, math.ceil(width / tile)), max(1, math.ceil(height / tile))
    while cols * rows > 6:
        if cols >= rows:
            cols -= 1
        else:
            rows -= 1
    return cols, rows


def image_tokens(width: int, height: int) -> int:
    """DeepSeek-OCR's "Gundam" tiling as vLLM serves it: a 1024 global view (256 tokens, a newline per row and a
    separator) plus up to 6 local 640-pixel crops (100 tokens and 10 newlines each) for images past 640 px."""
    tokens = 256 + 16 + 1
    if max(width, height) <= 640:
        return tokens
    cols, rows = crop_grid(width, height, tile=640)
    return tokens + cols * rows * 100 + rows * 10


def image_tokens_v2(width: int, height: int) -> int:
    """DeepSeek-OCR 2: a 1024 global view of 256 tokens plus 0–6 local crops of 768 pixels at 144 tokens each."""
    if max(width, height) <= 768:
        return 256
    cols, rows = crop_grid(width, height, tile=768)
    return 256 + cols * rows * 144


def text_tokens(text: str) -> int:
    """About 3.2 characters a token, at least one."""
    return max(1, math.ceil(len(text) / 3.2))


def marker(image: Image.Image) -> str | None:
    """The trigger colour in the top-left corner, with a tolerance for JPEG encoding."""
    if min(image.size) <= 8:
        return None
    r, g, b = image.convert("RGB").getpixel((3, 3))
    for name, (er, eg, eb) in {"magenta": (255, 0, 255), "cyan": (0, 255, 255), "yellow": (255, 255, 0)}.items():
        if abs(r - er) + abs(g - eg) + abs(b - eb) < 60:
            return name
    return None
