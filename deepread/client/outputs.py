"""What the `deepread` command writes for a result, and how: formats, file names, and atomic writes."""

from __future__ import annotations

import csv
import glob
import io
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMATS = ("json", "md", "txt", "csv")
INPUT_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pdf"})


def expand_inputs(args: Iterable[str]) -> list[Path]:
    """Files named, folders (their readable files, recursively, sorted) and globs (`scans/**/*.pdf`), each once, in
    the order given. A name that matches nothing is kept, so that it is reported as failed rather than lost."""
    found: dict[Path, None] = {}
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in INPUT_SUFFIXES:
                    found[child] = None
        elif path.exists():
            found[path] = None
        elif glob.has_magic(arg):
            for match in sorted(glob.glob(arg, recursive=True)):
                if Path(match).is_file():
                    found[Path(match)] = None
        else:
            found[path] = None
    return list(found)


def render(result: dict[str, Any], fmt: str) -> str:
    """A result document as `json` (the document itself), `md` (`extracted_text`), `txt` (each page's text), or
    `csv` (its tables, one after another with a blank line between; without tables, one row per block:
    page, type, x1, y1, x2, y2, text)."""
    if fmt == "json":
        return json.dumps(result, ensure_ascii=False, indent=2) + "\n"
    if fmt == "md":
        return (result.get("extracted_text") or "").rstrip() + "\n"
    pages = result.get("pages") or []
    if fmt == "txt":
        return "\n\n".join((p.get("text") or "").strip() for p in pages).strip() + "\n"
    tables = [t for p in pages for t in p.get("tables") or []]
    if tables:
        return "\n".join(_csv(t.get("rows") or []) for t in tables)
    rows = [["page", "type", "x1", "y1", "x2", "y2", "text"]]
    for page in pages:
        for block in page.get("blocks") or []:
            rows.append([page.get("page"), block.get("type"), *(block.get("bbox") or [None] * 4), block.get("text")])
    return _csv(rows)


def _csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def output_path(source: Path, *, mode: str, fmt: str, out_dir: Path | None, clashing: bool = False) -> Path:
    """`<stem>.<mode>.<fmt>` beside the input or in `out_dir`; `<name>.<mode>.<fmt>` when two inputs share a stem."""
    base = source.name if clashing else source.stem
    return (out_dir or source.parent) / f"{base}.{mode}.{fmt}"


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`: a reader (or an interrupted run) sees
    the old file or the whole new one, never a part.

    Raises the OSError of a failed write after removing the temporary file; `path` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
