"""The README's picture of `deepread ocr` at work: a live DeepRead on embedded defaults, a folder of scans, and the
command's progress bars recorded (rich's SVG export) once half the files are done. Writes docs/cli-progress.svg.
Run from the repository root: `python -m scripts.cli_screenshot`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from devtools.samples import LINES, encode, pdf_bytes, png_bytes, render_lines, render_table
from devtools.stack import running_stack

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "docs" / "cli-progress.svg"


def main() -> None:
    with tempfile.TemporaryDirectory() as var, running_stack(Path(var)) as stack:
        scans = Path(var) / "scans"
        scans.mkdir()
        (scans / "invoice.png").write_bytes(png_bytes())
        (scans / "prices.png").write_bytes(encode(render_table([["Item", "Qty"], ["Apples", "12"], ["Pears", "7"]])))
        (scans / "memo.jpg").write_bytes(encode(render_lines(LINES[:2]), "JPEG"))
        (scans / "report.pdf").write_bytes(pdf_bytes([[f"Chapter {n} of the annual report"] for n in range(1, 7)]))
        (scans / "letter.png").write_bytes(png_bytes(LINES[::-1]))
        env = {**os.environ, "DEEPREAD_API_KEY": stack.new_key("screenshot@example.com"),
               "DEEPREAD_BASE_URL": stack.base_url, "PYTHONPATH": str(ROOT)}  # fmt: skip
        OUT.parent.mkdir(exist_ok=True)
        command = [sys.executable, "-m", "deepread.client", "ocr", str(scans), "--format", "md", "--concurrency", "2",
                   "--out", str(Path(var) / "results"), "--svg", str(OUT)]  # fmt: skip
        subprocess.run(command, env=env, check=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
