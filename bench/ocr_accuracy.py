"""CER and seconds per page of the CPU engine on the OCR samples in ../shared/data (not part of the test suite).

CER is case-insensitive and micro-averaged (total edit distance over total reference characters), with reading
order made geometric for both sides: ground-truth boxes and recognised lines go through the same row grouping.

    .venv/bin/python -m bench.ocr_accuracy [--data ../shared/data] [--threads 2]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import time
from pathlib import Path

from PIL import Image

from inference.layout import Line, group_rows, plain_text
from inference.metrics import levenshtein, normalise
from inference.registry import get_engine
from modes.builtin import BUILTIN_MODES


def truth_sroie(path: Path) -> list[Line]:
    lines = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for row in csv.reader(fh):
            if len(row) < 9:
                continue
            xs, ys = [float(v) for v in row[0:8:2]], [float(v) for v in row[1:8:2]]
            lines.append(Line(",".join(row[8:]), min(xs), min(ys), max(xs), max(ys)))
    return lines


def truth_funsd(path: Path) -> list[Line]:
    doc = json.loads(path.read_text())
    return [Line(w["text"], *map(float, w["box"])) for item in doc["form"] for w in item["words"] if w["text"].strip()]


def truth_synth(path: Path) -> list[Line]:
    doc = json.loads(path.read_text())
    return [Line(item["text"], *map(float, item["box"])) for item in doc["items"] if item["text"].strip()]


SETS = {
    "synth": ("*.png", ".json", truth_synth),
    "sroie": ("*.jpg", ".csv", truth_sroie),
    "funsd": ("*.png", ".json", truth_funsd),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    data = Path(args.data)
    if not data.is_dir():
        raise SystemExit(f"No OCR samples at {data}; pass --data.")
    started = time.perf_counter()
    engine = get_engine("rapidocr", threads=args.threads)
    print(f"engine: {engine.model_name}, {args.threads} threads, loaded in {time.perf_counter() - started:.2f} s\n")
    print(f"{'set':<6} {'pages':>5} {'CER':>7} {'s/page':>7}")
    totals = [0, 0, 0.0, 0]
    for name, (pattern, suffix, reader) in SETS.items():
        errors = chars = 0
        seconds = 0.0
        pages = sorted((data / name).glob(pattern))
        for image_path in pages:
            truth = normalise(plain_text(group_rows(reader(image_path.with_suffix(suffix)))))
            image = Image.open(image_path).convert("RGB")
            t0 = time.perf_counter()
            result = engine.recognize(image, BUILTIN_MODES["ocr"])
            seconds += time.perf_counter() - t0
            errors += levenshtein(truth, normalise(result.text))
            chars += len(truth)
        print(f"{name:<6} {len(pages):>5} {errors / max(chars, 1):>7.2%} {seconds / max(len(pages), 1):>7.2f}")
        totals = [totals[0] + errors, totals[1] + chars, totals[2] + seconds, totals[3] + len(pages)]
    print(f"{'all':<6} {totals[3]:>5} {totals[0] / max(totals[1], 1):>7.2%} {totals[2] / max(totals[3], 1):>7.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
