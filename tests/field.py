"""The public bug-report inputs in ../shared/data/field (beside the clone in CI) and how their results are scored:
word-level F1 against the text a person reads, and each expected line present exactly once."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

FIELD_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "field"


def field_file(name: str) -> tuple[bytes, list[str]]:
    """The file's bytes and its expected lines; the test is skipped, saying why, when the data is absent."""
    path = FIELD_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared field data sits beside the clone in CI)")
    expected = json.loads((FIELD_DIR / "expected.json").read_text(encoding="utf-8"))[name]["lines"]
    return path.read_bytes(), expected


def _words(text: str) -> list[str]:
    return text.casefold().split()


def word_f1(expected: str, got: str) -> float:
    """Harmonic mean of word precision and recall, words counted as a multiset (order ignored)."""
    want, have = Counter(_words(expected)), Counter(_words(got))
    common = sum((want & have).values())
    if not common:
        return 0.0
    precision, recall = common / sum(have.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def line_counts(expected: list[str], got: str) -> dict[str, int]:
    """How many times each expected line occurs among the result's lines (whitespace and case ignored)."""
    lines = Counter(" ".join(line.split()).casefold() for line in got.splitlines())
    return {line: lines[" ".join(line.split()).casefold()] for line in expected}


def assert_reads(expected: list[str], got: str) -> None:
    f1 = word_f1("\n".join(expected), got)
    assert f1 >= 0.95, (f1, got[:500])
    wrong = {line: n for line, n in line_counts(expected, got).items() if n != 1}
    assert not wrong, wrong
