"""One document through an engine, start to end, for a caller that waits (`POST /v1/ocr`, the prompt preview):
every page in order, their texts, the summed usage, and the first page annotated if asked. The same function runs
in the web process's thread (vLLM: the work is an HTTP call) or in an engine process (`inference.procpool`: the
CPU engine's work stays off the threads that serve pages)."""

from __future__ import annotations

from dataclasses import dataclass, field

from inference.annotate import annotate_png
from inference.base import Engine, ModeSpec, PageResult, Usage
from inference.documents import DocumentInfo, iter_pages


@dataclass
class DocumentOutcome:
    texts: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"
    annotated_png: bytes | None = None  # the first page with its blocks drawn, when asked for
    first_page: PageResult | None = None


def recognize_document(
    engine: Engine,
    data: bytes,
    info: DocumentInfo,
    spec: ModeSpec,
    *,
    dpi: int,
    max_pixels: int,
    annotate: bool,
    max_pages: int | None = None,
    skip: frozenset[int] = frozenset(),
) -> DocumentOutcome:
    """Recognise the pages of `data` (at most `max_pages`, none of the page numbers in `skip`). Raises what the
    engine and the page renderer raise: `inference.base.EngineError` (and its `InputUnreadable`),
    `inference.documents.InputError`."""
    outcome = DocumentOutcome()
    for n, page in enumerate(iter_pages(data, info, dpi=dpi, max_pixels=max_pixels, skip=skip)):
        if max_pages is not None and n >= max_pages:
            break
        result = engine.recognize(page.image, spec, source=page.source)
        outcome.texts.append(result.text)
        outcome.usage = Usage(
            outcome.usage.prompt_tokens + result.usage.prompt_tokens,
            outcome.usage.completion_tokens + result.usage.completion_tokens,
        )
        if result.finish_reason != "stop":
            outcome.finish_reason = result.finish_reason
        if outcome.first_page is None:
            outcome.first_page = result
            if annotate:  # the first page: the input as the client sent it
                outcome.annotated_png = annotate_png(page.image, result.blocks)
    return outcome
