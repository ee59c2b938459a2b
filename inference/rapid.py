"""The embedded CPU engine: RapidOCR (PP-OCRv6 models shipped inside the `rapidocr` wheel, run by onnxruntime).

Settings that matter (measured, DESIGN.md): the angle classifier off (it garbles upright lines), a recognition
batch of 1 (less memory, same accuracy), word boxes on, and the long side capped near 1280 px for speed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
from PIL import Image

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
    model_name = MODEL_NAME

    def __init__(self, *, threads: int | None = None, max_side_len: int = 1280) -> None:
        from rapidocr import RapidOCR

        threads = threads or max(1, os.cpu_count() or 1)
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
        return mode.output_kind in SUPPORTED_KINDS

    def lines(self, image: Image.Image) -> list[Line]:
        with self._lock:
            output = self._ocr(np.asarray(image.convert("RGB"))[:, :, ::-1])
        if output.boxes is None or output.txts is None:
            return []
        lines = []
        for box, text in zip(output.boxes, output.txts, strict=True):
            text = text.strip()
            if not text:
                continue
            xs, ys = box[:, 0], box[:, 1]
            lines.append(
                Line(text=text, x1=float(xs.min()), y1=float(ys.min()), x2=float(xs.max()), y2=float(ys.max()))
            )
        return lines

    def recognize(self, image: Image.Image, mode: ModeSpec, *, source: object = None) -> PageResult:
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


def _clamper(width: int, height: int):
    def clamp(bbox: list[int]) -> list[int]:
        x1, y1, x2, y2 = bbox
        return [
            min(max(x1, 0), width),
            min(max(y1, 0), height),
            min(max(x2, 0), width),
            min(max(y2, 0), height),
        ]

    return clamp
