"""Table CSV is safe to open in a spreadsheet: cells read off a page that would start a formula stay text."""

from __future__ import annotations

import csv
import io

from inference.deepseek_output import rows_csv
from inference.layout import csv_text

ROWS = [
    ["Item", "Formula", "Amount"],
    ["Apple", "=2+5", "-4.50"],
    ["Pear", "=SUM(9,9)", "+7"],
    ["Plum", "+7+7", "1,200"],
    ["Fig", "@cmd", "-"],
    ["Kiwi", "\tx", '=HYPERLINK("http://x")'],
]


def test_formula_cells_get_a_quote_and_numbers_stay_numbers():
    read = list(csv.reader(io.StringIO(csv_text(ROWS))))
    assert read[1] == ["Apple", "'=2+5", "-4.50"]
    assert read[2] == ["Pear", "'=SUM(9,9)", "+7"]
    assert read[3] == ["Plum", "'+7+7", "1,200"]
    assert read[4] == ["Fig", "'@cmd", "'-"]
    assert read[5] == ["Kiwi", "'\tx", '\'=HYPERLINK("http://x")']
    assert not [
        cell for row in read for cell in row if cell[:1] in "=+@\t" and not cell.lstrip("+").replace(".", "").isdigit()
    ]


def test_both_engines_tables_use_it():
    assert rows_csv(ROWS) == csv_text(ROWS)
