"""One document through an engine, start to end, for a caller that waits (`POST /v1/ocr` in both dialects, the
prompt preview): each page rendered and recognised in order. The same function runs on the web process's thread
(vLLM: the work is an HTTP call) or in an engine process (`inference.procpool`: the CPU engine's work stays off
the threads that serve pages); either way the caller gets the pages back, with their images, to build its answer."""

from __future__ import annotations

import dataclasses

from inference.base import Engine, ModeSpec, PageResult
from inference.documents import DocumentInfo, PageImage, iter_pages


def recognize_pages(
    engine: Engine,
    data: bytes,
    info: DocumentInfo,
    spec: ModeSpec,
    *,
    dpi: int,
    max_pixels: int,
    skip: frozenset[int] = frozenset(),
    max_pages: int | None = None,
) -> list[tuple[PageImage, PageResult]]:
    """Each page of `data` (page numbers from 1, none in `skip`, at most `max_pages`) with its result, in order.
    The pages carry their images but not the upload's bytes (`source` is None). Raises what the engine and the
    page renderer raise: `inference.base.EngineError` (and its `InputUnreadable`), `inference.documents.InputError`.
    """
    out: list[tuple[PageImage, PageResult]] = []
    for page in iter_pages(data, info, dpi=dpi, max_pixels=max_pixels, skip=skip):
        if max_pages is not None and len(out) >= max_pages:
            break
        result = engine.recognize(page.image, spec, source=page.source)
        out.append((dataclasses.replace(page, source=None), result))
    return out
