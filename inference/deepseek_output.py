"""Parsing DeepSeek-OCR's raw output: grounding tags, Markdown, HTML tables, LaTeX and chart data.

The model writes each block as `<|ref|>LABEL<|/ref|><|det|>[[x1, y1, x2, y2], …]<|/det|>` followed by the block's
content, up to the next tag. With the `OCR this image.` prompt the `ref` holds the recognised text itself. Boxes are
0–999 per axis relative to the image sent; they are scaled to pixels and clamped. Coordinates are read with
`json`/`ast.literal_eval` and checked, never `eval`.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from inference.base import Block
from inference.layout import csv_text

# The tokens a model writes when asked not to skip special tokens; none belongs in a result.
_SPECIAL = re.compile(r"<｜end▁of▁sentence｜>|<\|end▁of▁sentence\|>|<｜begin▁of▁sentence｜>|<\|grounding\|>")
_TAG = re.compile(r"<\|ref\|>(.*?)<\|/ref\|>\s*<\|det\|>(.*?)<\|/det\|>", re.DOTALL)

#: The layout labels DeepSeek-OCR uses for its blocks.
LABELS = frozenset(
    {
        "title",
        "sub_title",
        "text",
        "table",
        "table_caption",
        "table_footnote",
        "image",
        "image_caption",
        "figure",
        "figure_caption",
        "equation",
        "formula",
        "header",
        "footer",
        "page_header",
        "page_footer",
        "page_number",
        "list",
        "code",
        "footnote",
        "reference",
        "abstract",
        "author",
    }
)
IMAGE_LABELS = frozenset({"image", "figure"})
_INLINE_MATH = re.compile(r"\\\((.+?)\\\)", re.DOTALL)
_DISPLAY_MATH = re.compile(r"\\\[(.+?)\\\]|\$\$(.+?)\$\$", re.DOTALL)
_TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL | re.IGNORECASE)
_CENTER = re.compile(r"</?center>", re.IGNORECASE)


@dataclass
class ParsedPage:
    """DeepSeek-OCR output parsed: cleaned text, blocks (bbox in page pixels) and which blocks are figures to crop."""

    text: str  # cleaned Markdown (or plain text for the OCR prompt)
    blocks: list[Block]
    image_blocks: list[int]  # indexes into blocks of the figures to crop, in order


def image_placeholder(n: int) -> str:
    """The Markdown link target of the n-th (1-based) figure; the caller rewrites it to the stored crop's name."""
    return f"#deepread-image-{n}"


def strip_special(raw: str) -> str:
    """DeepSeek-OCR output without its grounding tokens (`<|ref|>…`, `<|det|>…` and the like)."""
    return _SPECIAL.sub("", raw)


def parse_boxes(raw: str, width: int, height: int) -> list[list[int]]:
    """`[[x1,y1,x2,y2], …]` in 0–999 units → pixel boxes, clamped to the image. Malformed input gives []."""
    raw = raw.strip()
    try:
        value = json.loads(raw)
    except ValueError:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return []
    if isinstance(value, list | tuple) and len(value) == 4 and all(isinstance(v, int | float) for v in value):
        value = [value]
    boxes = []
    for box in value if isinstance(value, list | tuple) else []:
        if not (isinstance(box, list | tuple) and len(box) == 4):
            continue
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in box):
            continue
        x1, y1, x2, y2 = (min(max(float(v), 0.0), 999.0) for v in box)
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
        boxes.append(
            [
                min(round(x1 * width / 999), width),
                min(round(y1 * height / 999), height),
                min(round(x2 * width / 999), width),
                min(round(y2 * height / 999), height),
            ]
        )
    return boxes


def _union(boxes: list[list[int]]) -> list[int]:
    if not boxes:
        return [0, 0, 0, 0]
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def clean_markdown(text: str) -> str:
    """Model Markdown without special tokens, centring tags, trailing spaces and runs of blank lines."""
    text = _CENTER.sub("", strip_special(text))
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def parse(raw: str, width: int, height: int, *, refs_are_text: bool = False) -> ParsedPage:
    """Blocks with pixel boxes, and the page's cleaned Markdown with figures as placeholder links."""
    raw = strip_special(raw)
    matches = list(_TAG.finditer(raw))
    if not matches:
        text = clean_markdown(raw)
        blocks = [Block("text", text, [0, 0, width, height])] if text else []
        return ParsedPage(text=text, blocks=blocks, image_blocks=[])
    blocks: list[Block] = []
    parts: list[str] = []
    images: list[int] = []
    lead = clean_markdown(raw[: matches[0].start()])
    if lead:
        parts.append(lead)
    for i, match in enumerate(matches):
        label = match.group(1).strip()
        end = matches[i + 1].start() if i + 1 < len(matches) else len(raw)
        content = clean_markdown(raw[match.end() : end])
        bbox = _union(parse_boxes(match.group(2), width, height))
        if refs_are_text or label not in LABELS:
            # The OCR prompt puts the recognised text in `ref`; a stray unknown label is text too.
            text = (label + (" " + content if content else "")).strip() if refs_are_text else content or label
            blocks.append(Block("text", text, bbox))
            parts.append(text)
        elif label in IMAGE_LABELS:
            images.append(len(blocks))
            blocks.append(Block(label, content, bbox))
            parts.append(f"![{label} {len(images)}]({image_placeholder(len(images))})")
        else:
            blocks.append(Block(label, content, bbox))
            if content:
                parts.append(content)
    _attach_tables(blocks)
    joiner = "\n" if refs_are_text else "\n\n"
    return ParsedPage(text=joiner.join(parts).strip(), blocks=blocks, image_blocks=images)


def _attach_tables(blocks: list[Block]) -> None:
    """The model often writes a table's tag, then its caption's tag, then the caption and the HTML together. The
    HTML belongs to the table block (and its box), not to the caption's."""
    for i, block in enumerate(blocks):
        if block.type != "table" or _TABLE.search(block.text):
            continue
        for follower in blocks[i + 1 : i + 3]:
            found = _TABLE.search(follower.text)
            if found:
                block.text = (block.text + "\n\n" + found.group(0)).strip()
                follower.text = clean_markdown(follower.text[: found.start()] + follower.text[found.end() :])
                break


# --- tables -----------------------------------------------------------------------------------------------------
class _TableParser(HTMLParser):
    """HTML table → a grid of cell texts; a cell spanning rows or columns fills every position it covers."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[tuple[str, int, int]]] = []
        self._cell: list[str] | None = None
        self._span = (1, 1)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Start a row on `<tr>`, a cell (with its rowspan/colspan) on `<td>`/`<th>`; `<br>` in a cell is a space."""
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            if not self.rows:
                self.rows.append([])
            values = dict(attrs)
            self._cell = []
            self._span = (_span(values.get("rowspan")), _span(values.get("colspan")))
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        """Close the open cell, its text with whitespace runs collapsed."""
        if tag in ("td", "th") and self._cell is not None:
            text = re.sub(r"\s+", " ", "".join(self._cell)).strip()
            self.rows[-1].append((text, *self._span))
            self._cell = None

    def handle_data(self, data: str) -> None:
        """Collect text inside an open cell."""
        if self._cell is not None:
            self._cell.append(data)


def _span(value: str | None) -> int:
    try:
        return min(max(int(value or 1), 1), 1000)
    except ValueError:
        return 1


def table_rows(html: str) -> list[list[str]]:
    """The cells of an HTML `<table>` as a rectangular grid of stripped strings, rows × columns.

    A rowspan/colspan cell is repeated in each position it covers; short rows are padded with "". [] for no cells.
    """
    parser = _TableParser()
    parser.feed(html)
    parser.close()
    grid: dict[tuple[int, int], str] = {}
    for r, row in enumerate(parser.rows):
        c = 0
        for text, rowspan, colspan in row:
            while (r, c) in grid:
                c += 1
            for dr in range(rowspan):
                for dc in range(colspan):
                    grid.setdefault((r + dr, c + dc), text)
            c += colspan
    if not grid:
        return []
    n_rows = max(r for r, _ in grid) + 1
    n_cols = max(c for _, c in grid) + 1
    return [[grid.get((r, c), "") for c in range(n_cols)] for r in range(n_rows)]


def rows_csv(rows: list[list[str]]) -> str:
    """The grid as CSV text (`\n` line ends)."""
    return csv_text(rows)


def tables(blocks: list[Block]) -> list[dict]:
    """Every HTML table on the page, as HTML, rows of cells and CSV, with its box."""
    found = []
    for block in blocks:
        for html in _TABLE.findall(block.text):
            rows = table_rows(html)
            if rows:
                found.append({"bbox": block.bbox, "html": html, "rows": rows, "csv": rows_csv(rows)})
    return found


def markdown_table_rows(text: str) -> list[list[str]]:
    """A pipe table's rows (header included, the `---` rule left out)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
            continue
        rows.append(cells)
    return rows


# --- formulas and charts ----------------------------------------------------------------------------------------
def formulas(text: str) -> list[dict]:
    """Every LaTeX formula in reading order: `\\[..\\]`/`$$..$$` as display, `\\(..\\)` as inline."""
    found = []
    for match in _DISPLAY_MATH.finditer(text):
        found.append((match.start(), {"latex": (match.group(1) or match.group(2)).strip(), "display": True}))
    for match in _INLINE_MATH.finditer(text):
        found.append((match.start(), {"latex": match.group(1).strip(), "display": False}))
    return [f for _, f in sorted(found, key=lambda item: item[0])]


def _number(value: str) -> float | str:
    cleaned = value.replace(",", "").replace("%", "").strip()
    try:
        return float(cleaned)
    except ValueError:
        return value


def chart(text: str) -> dict | None:
    """The data a chart was parsed into: a title, columns and rows, numbers as numbers where they are numbers.

    DeepSeek-OCR's `Parse the figure.` answers with the chart's data as a table (HTML or pipe Markdown), with any
    title as the text before it.
    """
    html = _TABLE.search(text)
    if html:
        rows = table_rows(html.group(0))
        title = clean_markdown(_TABLE.sub("", text)).strip("# \n") or None
    else:
        rows = markdown_table_rows(text)
        title = "\n".join(line for line in text.splitlines() if not line.strip().startswith("|")).strip("# \n")
        title = title or None
    if not rows:
        return None
    columns, body = rows[0], rows[1:]
    return {
        "title": title,
        "columns": columns,
        "rows": [[cell if i == 0 else _number(cell) for i, cell in enumerate(row)] for row in body],
        "csv": rows_csv(rows),
    }
