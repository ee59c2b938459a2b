"""Which encoding should a rendered page travel in? Accuracy against cost (not a test).

Each sample page (../shared/data: synth and FUNSD, which are clean renders and scans of text pages) is turned
into a PDF page, rendered back with pypdfium2 at 144 DPI as the worker does, then encoded each way. Printed per
encoding: CPU ms to encode, bytes, and the CER of the CPU engine reading the decoded image. DeepSeek-OCR cannot
run here (no GPU weights), so the CPU engine stands in as the reader: an encoding that loses nothing for it keeps
the strokes a model reads.

    .venv/bin/python -m bench.encode_choice [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import time
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from bench.ocr_accuracy import truth_funsd, truth_synth
from inference.layout import group_rows, plain_text
from inference.metrics import levenshtein, normalise
from inference.registry import get_engine
from modes.builtin import BUILTIN_MODES

ENCODINGS = {
    "PNG default (level 6)": lambda im, out: im.save(out, "PNG"),
    "PNG level 1": lambda im, out: im.save(out, "PNG", compress_level=1),
    "grey PNG level 1": lambda im, out: im.convert("L").save(out, "PNG", compress_level=1),
    "JPEG q95": lambda im, out: im.save(out, "JPEG", quality=95),
    "JPEG q85": lambda im, out: im.save(out, "JPEG", quality=85),
}


def rendered(path: Path) -> Image.Image:
    buf = io.BytesIO()
    Image.open(path).convert("RGB").save(buf, format="PDF", resolution=144)
    pdf = pdfium.PdfDocument(buf.getvalue())
    page = pdf[0]
    image = page.render(scale=144 / 72).to_pil().convert("RGB")
    page.close()
    pdf.close()
    return image


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()
    data = Path(args.data)
    samples = [(p, truth_synth) for p in sorted((data / "synth").glob("*.png"))]
    samples += [(p, truth_funsd) for p in sorted((data / "funsd").glob("*.png"))]
    engine = get_engine("rapidocr")
    stats = {name: [0.0, 0, 0, 0] for name in ENCODINGS}  # encode s, bytes, edit errors, reference chars
    for path, reader in samples:
        truth = normalise(plain_text(group_rows(reader(path.with_suffix(".json")))))
        page = rendered(path)
        for name, encode in ENCODINGS.items():
            out = io.BytesIO()
            started = time.process_time()
            encode(page, out)
            stats[name][0] += time.process_time() - started
            stats[name][1] += out.tell()
            decoded = Image.open(io.BytesIO(out.getvalue())).convert("RGB")
            text = engine.recognize(decoded, BUILTIN_MODES["ocr"]).text
            stats[name][2] += levenshtein(truth, normalise(text))
            stats[name][3] += len(truth)
    n = len(samples)
    print(f"encode_choice {dt.date.today().isoformat()}: {n} pages rendered at 144 DPI, read by the CPU engine")
    print(f"{'encoding':24s}{'ms/page':>9s}{'KB/page':>9s}{'CER':>8s}")
    for name, (seconds, size, errors, chars) in stats.items():
        print(f"{name:24s}{seconds * 1000 / n:9.1f}{size / 1024 / n:9.0f}{errors / max(chars, 1):8.2%}")


if __name__ == "__main__":
    main()
