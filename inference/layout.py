"""Page layout from recognised lines: reading order, paragraphs, headings and tables from line geometry.

The CPU engine gives lines and their boxes, nothing more; everything here is derived from geometry. A table is
reported only where the geometry really is a grid (at least 2×2 with most cells filled), never guessed.
"""

from __future__ import annotations

import csv
import io
import itertools
import statistics
from dataclasses import dataclass, field

#: A cell starting with one of these is a formula to a spreadsheet (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(rows: list[list[str]]) -> str:
    """Rows of cells as CSV text (`\n` line ends), safe to open in a spreadsheet: a cell that would start a
    formula (`=`, `+`, `-`, `@`, tab, carriage return) gets a leading `'`, so `=SUM(9,9)` read off a page stays
    text. Numbers such as `-4.50` are kept as they are."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[_spreadsheet_safe(cell) for cell in row] for row in rows])
    return out.getvalue()


def _spreadsheet_safe(cell: str) -> str:
    text = str(cell)
    if text.startswith(FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


@dataclass
class Line:
    """One OCR text line with its box in page pixels (x1, y1 top-left; x2, y2 bottom-right)."""

    text: str
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def height(self) -> float:
        """Line height in pixels, at least 1."""
        return max(self.y2 - self.y1, 1.0)

    @property
    def bbox(self) -> list[int]:
        """[x1, y1, x2, y2] rounded to integer pixels."""
        return [round(self.x1), round(self.y1), round(self.x2), round(self.y2)]


@dataclass
class Row:
    """Lines on the same baseline band, left to right."""

    lines: list[Line] = field(default_factory=list)

    @property
    def y1(self) -> float:
        """Top of the row (pixels)."""
        return min(line.y1 for line in self.lines)

    @property
    def y2(self) -> float:
        """Bottom of the row (pixels)."""
        return max(line.y2 for line in self.lines)

    @property
    def x1(self) -> float:
        """Left edge of the row (pixels)."""
        return min(line.x1 for line in self.lines)

    @property
    def height(self) -> float:
        """Median line height in the row (pixels)."""
        return statistics.median(line.height for line in self.lines)

    @property
    def text(self) -> str:
        """The row's lines joined by spaces, left to right."""
        return " ".join(line.text for line in self.lines)

    @property
    def bbox(self) -> list[int]:
        """[x1, y1, x2, y2] around the row's lines (integer pixels)."""
        return union_bbox(self.lines)


def union_bbox(lines: list[Line]) -> list[int]:
    """The smallest [x1, y1, x2, y2] box (integer pixels) holding every line; `lines` must not be empty."""
    return [
        round(min(line.x1 for line in lines)),
        round(min(line.y1 for line in lines)),
        round(max(line.x2 for line in lines)),
        round(max(line.y2 for line in lines)),
    ]


def group_rows(lines: list[Line]) -> list[Row]:
    """Lines that overlap vertically by more than half the smaller height share a row; rows top to bottom."""
    rows: list[Row] = []
    for line in sorted(lines, key=lambda ln: (ln.y1 + ln.y2) / 2):
        for row in reversed(rows[-3:]):
            overlap = min(row.y2, line.y2) - max(row.y1, line.y1)
            if overlap > 0.5 * min(row.height, line.height):
                row.lines.append(line)
                break
        else:
            rows.append(Row([line]))
    for row in rows:
        row.lines.sort(key=lambda ln: ln.x1)
    return rows


def plain_text(rows: list[Row]) -> str:
    """The rows' text, one row per line."""
    return "\n".join(row.text for row in rows)


@dataclass
class Paragraph:
    """Consecutive rows forming a paragraph; `heading` when its line height marks it as a title."""

    rows: list[Row]
    heading: bool = False

    @property
    def text(self) -> str:
        """The paragraph's rows joined by spaces."""
        return " ".join(row.text for row in self.rows)

    @property
    def bbox(self) -> list[int]:
        """[x1, y1, x2, y2] around every line of the paragraph (integer pixels)."""
        return union_bbox([line for row in self.rows for line in row.lines])


def group_paragraphs(rows: list[Row]) -> list[Paragraph]:
    """Consecutive rows close together, of similar height, form a paragraph; a tall lone row is a heading."""
    if not rows:
        return []
    body_height = statistics.median(row.height for row in rows)
    paragraphs: list[Paragraph] = []
    current = [rows[0]]
    for previous, row in itertools.pairwise(rows):
        gap = row.y1 - previous.y2
        similar = abs(row.height - previous.height) < 0.25 * max(row.height, previous.height)
        if gap < 0.8 * body_height and similar:
            current.append(row)
        else:
            paragraphs.append(Paragraph(current))
            current = [row]
    paragraphs.append(Paragraph(current))
    for paragraph in paragraphs:
        paragraph.heading = len(paragraph.rows) <= 2 and paragraph.rows[0].height > 1.3 * body_height
    return paragraphs


def paragraphs_markdown(paragraphs: list[Paragraph]) -> str:
    """Paragraphs as Markdown, blank-line separated; headings get "## " and Markdown characters are escaped."""
    return "\n\n".join(("## " if p.heading else "") + _escape_md(p.text) for p in paragraphs)


def _escape_md(text: str) -> str:
    """Recognised text that happens to start like Markdown syntax stays text."""
    return "\\" + text if text.startswith(("#", "-", "*", ">", "+", "=")) else text


@dataclass
class Table:
    """A table found in the layout: cells as rows of strings, bbox in page pixels."""

    rows: list[list[str]]
    bbox: list[int]

    @property
    def csv(self) -> str:
        """The table's cells as CSV text (`\n` line ends)."""
        return csv_text(self.rows)

    @property
    def markdown(self) -> str:
        """The table as a Markdown pipe table, the first row as header; "|" in cells is escaped."""

        def cells(row: list[str]) -> str:
            """One Markdown table row."""
            return "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"

        header, *body = self.rows
        return "\n".join([cells(header), "|" + " --- |" * len(header), *(cells(r) for r in body)])

    def as_dict(self) -> dict:
        """The table as stored in a result page: bbox (pixels), rows (list of lists of strings) and csv."""
        return {"bbox": self.bbox, "rows": self.rows, "csv": self.csv}


def _columns(rows: list[Row]) -> list[tuple[float, float]]:
    """Column intervals: the union of the x-extents of every cell in the rows, merged where they overlap."""
    spans = sorted((line.x1, line.x2) for row in rows for line in row.lines)
    merged: list[list[float]] = []
    for x1, x2 in spans:
        if merged and x1 <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], x2)
        else:
            merged.append([x1, x2])
    return [(a, b) for a, b in merged]


def _as_table(rows: list[Row]) -> Table | None:
    if len(rows) < 2:
        return None
    columns = _columns(rows)
    if len(columns) < 2:
        return None
    grid: list[list[str]] = []
    for row in rows:
        cells = [""] * len(columns)
        for line in row.lines:
            col = next(i for i, (a, b) in enumerate(columns) if line.x1 >= a and line.x2 <= b)
            cells[col] = f"{cells[col]} {line.text}".strip()
        grid.append(cells)
    filled = sum(1 for r in grid for c in r if c)
    if filled < 0.6 * len(columns) * len(rows):
        return None
    return Table(rows=grid, bbox=union_bbox([line for row in rows for line in row.lines]))


def find_tables(rows: list[Row]) -> list[tuple[int, int, Table]]:
    """Runs of consecutive multi-cell rows that form a grid: (first row index, end index, table)."""
    found: list[tuple[int, int, Table]] = []
    start = 0
    while start < len(rows):
        if len(rows[start].lines) < 2:
            start += 1
            continue
        end = start
        while end < len(rows) and len(rows[end].lines) >= 2:
            end += 1
        # A caption or title row often sits just above with one cell: leave it out of the grid.
        table = _as_table(rows[start:end])
        if table is not None:
            found.append((start, end, table))
        start = end
    return found
