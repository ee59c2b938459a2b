"""A reader for the fake vLLM server that really reads the image it is sent, so tests of what DeepSeek-OCR is sent
(strips of a long page, a flattened transparent image, a rendered form) can check the text that comes back.

It stands in for the model's view of an image: DeepSeek-OCR sees a page through at most six 640-pixel tiles, so the
image is first shrunk to fit 3840 px along its long side, then RapidOCR reads it at that size. Answers are written
as the model writes them for `<|grounding|>OCR this image.`: `<|ref|>text<|/ref|><|det|>[[x1, y1, x2, y2]]<|/det|>`
with boxes in 0–999 units of the image sent.
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

MODEL_VIEW_SIDE = 3840


class RapidReader:
    def __init__(self) -> None:
        from rapidocr import RapidOCR

        from inference.rapid import bundled_model_paths

        paths = bundled_model_paths()
        self._ocr = RapidOCR(
            params={
                "Global.use_cls": False,
                "Global.max_side_len": MODEL_VIEW_SIDE,
                "Global.log_level": "warning",
                "Det.model_path": str(paths["det"]),
                "Rec.model_path": str(paths["rec"]),
                "EngineConfig.onnxruntime.intra_op_num_threads": 1,
            }
        )
        self._lock = threading.Lock()
        self.sizes: list[tuple[int, int]] = []  # every image it was sent, as (width, height)

    def __call__(self, image: Image.Image) -> str:
        width, height = image.size
        self.sizes.append((width, height))
        scale = min(1.0, MODEL_VIEW_SIDE / max(width, height))
        view = image.convert("RGB")
        if scale < 1:
            view = view.resize((max(1, round(width * scale)), max(1, round(height * scale))))
        with self._lock:
            out = self._ocr(np.asarray(view)[:, :, ::-1])
        parts = []
        for box, text in zip(out.boxes if out.boxes is not None else [], out.txts or (), strict=False):
            xs, ys = box[:, 0] / scale, box[:, 1] / scale
            det = [
                round(xs.min() * 999 / width),
                round(ys.min() * 999 / height),
                round(xs.max() * 999 / width),
                round(ys.max() * 999 / height),
            ]
            parts.append(f"<|ref|>{text.strip()}<|/ref|><|det|>[{det}]<|/det|>\n")
        return "".join(parts)
