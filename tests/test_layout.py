"""The code's layout: no application module over 400 lines, so each stays small enough to find one's way in."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "storage", "ocr", "ocrjobs", "accounts", "modes", "deepread", "inference", "devtools")
MAX_LINES = 400


def _application_files() -> list[Path]:
    """Every .py file of the application packages, migrations excluded."""
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.relative_to(ROOT).parts
    )


def test_no_application_file_is_over_400_lines():
    files = _application_files()
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in files
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert len(files) > 100  # the packages were found
    assert too_long == {}, f"over {MAX_LINES} lines (split along a seam): {too_long}"
