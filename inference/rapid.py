"""The embedded CPU engine: RapidOCR (PP-OCRv6 models shipped inside the `rapidocr` wheel, run by onnxruntime).

Settings that matter (measured, DESIGN.md): the angle classifier off (it garbles upright lines), a recognition
batch of 1 (less memory, same accuracy), word boxes on, and the long side capped near 1280 px for speed.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from inference import strips
from inference.base import Block, EngineError, InputUnreadable, ModeNotSupported, ModeSpec, OutputKind, PageResult
from inference.layout import (
    Line,
    find_tables,
    group_paragraphs,
    group_rows,
    paragraphs_markdown,
    plain_text,
)

SUPPORTED_KINDS = {OutputKind.TEXT, OutputKind.MARKDOWN, OutputKind.TABLE}
MODEL_NAME = "rapidocr-ppocrv6"


def bundled_model_paths() -> dict[str, Path]:
    """The models inside the installed wheel. Anything else would be downloaded at start-up, which we refuse."""
    import rapidocr

    models = Path(rapidocr.__file__).parent / "models"
    paths = {"det": models / "PP-OCRv6_det_small.onnx", "rec": models / "PP-OCRv6_rec_small.onnx"}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise RuntimeError(f"RapidOCR's bundled models are missing ({', '.join(missing)}); reinstall rapidocr.")
    return paths


class RapidOcrEngine:
    """The CPU engine (RapidOCR, PP-OCR models): text, Markdown and tables; long pages are read in strips."""

    model_name = MODEL_NAME

    def __init__(self, *, threads: int | None = None, max_side_len: int = 1280) -> None:
        from rapidocr import RapidOCR

        threads = threads or max(1, os.cpu_count() or 1)
        #: The long side RapidOCR shrinks a page to; pages that would lose their text to it are read in strips.
        self.max_side = max_side_len
        paths = bundled_model_paths()
        self._ocr = RapidOCR(
            params={
                "Global.use_cls": False,
                "Global.return_word_box": True,
                "Global.max_side_len": max_side_len,
                "Global.log_level": "warning",
                "Rec.rec_batch_num": 1,
                "Det.model_path": str(paths["det"]),
                "Rec.model_path": str(paths["rec"]),
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )
        # onnxruntime sessions are thread-safe, but RapidOCR keeps per-call state; one page at a time per engine.
        self._lock = threading.Lock()

    def supports(self, mode: ModeSpec) -> bool:
        """True for text, markdown and table output; RapidOCR cannot read formulas or charts."""
        return mode.output_kind in SUPPORTED_KINDS

    def lines(self, image: Image.Image) -> list[Line]:
        """The recognised lines of an image, boxes in its pixels; a page that needs strips is read in strips."""
        plan = strips.plan_strips(image.width, image.height, max_side=self.max_side)
        if plan is None:
            return [line for line, _ in self._read(image)]
        return self._strip_lines(image, plan)

    def _read(self, image: Image.Image) -> list[tuple[Line, list[Line]]]:
        """One call of RapidOCR: each line with its words (an empty list when it gave no word boxes)."""
        with self._lock:
            output = self._ocr(np.asarray(image.convert("RGB"))[:, :, ::-1])
        if output.boxes is None or output.txts is None:
            return []
        word_results = output.word_results or ()
        lines = []
        for i, (box, text) in enumerate(zip(output.boxes, output.txts, strict=True)):
            text = text.strip()
            if not text:
                continue
            xs, ys = box[:, 0], box[:, 1]
            line = Line(text=text, x1=float(xs.min()), y1=float(ys.min()), x2=float(xs.max()), y2=float(ys.max()))
            words = []
            for word in word_results[i] if i < len(word_results) and word_results[i] else ():
                wtext, _, wbox = word
                if str(wtext).strip() and wbox is not None and len(wbox) == 4:
                    wx, wy = [float(p[0]) for p in wbox], [float(p[1]) for p in wbox]
                    words.append(Line(str(wtext).strip(), min(wx), min(wy), max(wx), max(wy)))
            lines.append((line, words))
        return lines

    def _strip_lines(self, image: Image.Image, plan: strips.StripPlan) -> list[Line]:
        """Each strip read alone; lines kept by the strip that owns their centre, in page coordinates. On a wide
        page strips cut through lines: a line a cut edge touches is taken word by word (each word kept by the strip
        owning its centre, and a word two strips both kept, cut short in one of them, kept once), and the pieces
        of each line are joined again."""
        kept: list[tuple[Line, float]] = []  # with the distance to the nearest cut edge of its strip
        for index, (strip, crop) in enumerate(zip(plan.strips, strips.crops(image, plan), strict=True)):
            cut_start = strip.box[0] if index else -math.inf
            cut_end = strip.box[2] if index < len(plan.strips) - 1 else math.inf
            for line, words in self._read(crop):
                line = _moved(line, strip.offset)
                margin = min(line.x1 - cut_start, cut_end - line.x2)
                if plan.axis == "y" or not words or margin > line.height:
                    if plan.owns(index, line.bbox):
                        kept.append((line, margin))
                    continue
                for word in (_moved(w, strip.offset) for w in words):
                    if plan.owns(index, word.bbox):
                        kept.append((word, min(word.x1 - cut_start, cut_end - word.x2)))
        if plan.axis == "y":
            return _drop_repeats([line for line, _ in kept])
        return _join_pieces(_drop_overlaps(kept))

    def recognize(self, image: Image.Image, mode: ModeSpec, *, source: object = None) -> PageResult:
        """Read one page into a PageResult (text, blocks with bbox clamped to the image's pixels, tables for table
        mode).

        Raises ModeNotSupported for formula/chart modes, InputUnreadable when the image's pixels are corrupt or
        truncated, EngineError when RapidOCR itself fails.
        """
        if not self.supports(mode):
            raise ModeNotSupported(
                f"The {mode.output_kind!s} output of mode {mode.name!r} needs the DeepSeek-OCR engine "
                f"(DEEPREAD_ENGINE=vllm); the CPU engine (RapidOCR) cannot recognise "
                f"{'formulas' if mode.output_kind == OutputKind.FORMULA else 'charts'}."
            )
        width, height = image.size
        try:
            image.load()  # an upload passed through undecoded shows here if its pixels are missing
        except (OSError, SyntaxError, ValueError) as exc:
            raise InputUnreadable(f"The {image.format or 'image'} file is corrupt or truncated.") from exc
        try:
            lines = self.lines(image)
        except Exception as exc:
            raise EngineError("The CPU engine could not read this page.") from exc
        clamp = _clamper(width, height)
        rows = group_rows(lines)
        if mode.output_kind == OutputKind.TEXT:
            blocks = [Block("text", line.text, clamp(line.bbox)) for row in rows for line in row.lines]
            return PageResult(text=plain_text(rows), blocks=blocks, width=width, height=height)
        if mode.output_kind == OutputKind.MARKDOWN:
            paragraphs = group_paragraphs(rows)
            blocks = [Block("title" if p.heading else "text", p.text, clamp(p.bbox)) for p in paragraphs]
            return PageResult(text=paragraphs_markdown(paragraphs), blocks=blocks, width=width, height=height)
        return self._tables(rows, width, height, clamp)

    def _tables(self, rows, width, height, clamp) -> PageResult:
        tables = find_tables(rows)
        parts: list[str] = []
        blocks: list[Block] = []
        cursor = 0
        for start, end, table in tables:
            before = group_paragraphs(rows[cursor:start])
            parts += [paragraphs_markdown(before)] if before else []
            blocks += [Block("text", p.text, clamp(p.bbox)) for p in before]
            parts.append(table.markdown)
            blocks.append(Block("table", table.markdown, clamp(table.bbox)))
            cursor = end
        after = group_paragraphs(rows[cursor:])
        parts += [paragraphs_markdown(after)] if after else []
        blocks += [Block("text", p.text, clamp(p.bbox)) for p in after]
        return PageResult(
            text="\n\n".join(parts),
            blocks=blocks,
            width=width,
            height=height,
            extra={"tables": [t.as_dict() | {"bbox": clamp(t.bbox)} for _, _, t in tables]},
        )


def _moved(line: Line, offset: tuple[int, int]) -> Line:
    x1, y1, x2, y2 = strips.shift([line.x1, line.y1, line.x2, line.y2], offset)
    return Line(line.text, x1, y1, x2, y2)


def _joined(words: list[Line]) -> Line:
    """Words (or line pieces) of one line as one Line."""
    words = sorted(words, key=lambda w: w.x1)
    text = " ".join(w.text for w in words)
    return Line(
        text, min(w.x1 for w in words), min(w.y1 for w in words), max(w.x2 for w in words), max(w.y2 for w in words)
    )


def _join_pieces(lines: list[Line]) -> list[Line]:
    """On a wide page, pieces of one line read by neighbouring strips sit in one row a word's gap apart: join them."""
    out: list[Line] = []
    for row in group_rows(lines):
        current = [row.lines[0]]
        for line in row.lines[1:]:
            if line.x1 - current[-1].x2 < 1.5 * max(line.height, current[-1].height):
                current.append(line)
            else:
                out.append(_joined(current))
                current = [line]
        out.append(_joined(current))
    return out


def _drop_overlaps(items: list[tuple[Line, float]]) -> list[Line]:
    """Words read by two neighbouring strips, one of them cut short by its strip's edge, overlap on the page: the
    one farther from its strip's edge is kept."""
    ordered = sorted(items, key=lambda item: item[0].x1)
    dropped: set[int] = set()
    for i, (a, margin_a) in enumerate(ordered):
        for j in range(i + 1, len(ordered)):
            b, margin_b = ordered[j]
            if b.x1 >= a.x2:
                break
            overlap_x = min(a.x2, b.x2) - max(a.x1, b.x1)
            overlap_y = min(a.y2, b.y2) - max(a.y1, b.y1)
            if overlap_y > 0.5 * min(a.height, b.height) and overlap_x > 0.3 * min(a.x2 - a.x1, b.x2 - b.x1):
                dropped.add(i if margin_a < margin_b else j)
    return [line for k, (line, _) in enumerate(ordered) if k not in dropped]


def _drop_repeats(lines: list[Line]) -> list[Line]:
    """A safety net behind the ownership rule: the same text over the same place, read twice, is kept once."""
    kept: list[Line] = []
    for line in lines:
        if any(line.text == other.text and _iou(line, other) > 0.5 for other in kept[-8:]):
            continue
        kept.append(line)
    return kept


def _iou(a: Line, b: Line) -> float:
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter)


def _clamper(width: int, height: int):
    def clamp(bbox: list[int]) -> list[int]:
        """Clamp a [x1, y1, x2, y2] box to the page (0..width, 0..height pixels)."""
        x1, y1, x2, y2 = bbox
        return [
            min(max(x1, 0), width),
            min(max(y1, 0), height),
            min(max(x2, 0), width),
            min(max(y2, 0), height),
        ]

    return clamp


@functools.cache
def rapidocr_for_fallback() -> RapidOcrEngine:
    """One single-threaded CPU engine per process, loaded on first use: the last step of the vLLM engine's ladder
    for a page that keeps looping. Raises what loading raises (models missing, onnxruntime absent)."""
    return RapidOcrEngine(threads=1)
