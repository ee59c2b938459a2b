"""The result document of a job (`../shared/docs/API.md`, "The result document"): its types, and the one place
each page's dict is built.

A page's dict is built once, when its page is recognised or answered by a shortcut (`page_document`), and stored
on its `JobPage` row as a `StoredPage`; when the job completes, `result_page` turns each stored page into the
public `ResultPage` (without the internal `model`, with its annotated image's path) and `build_result` in
ocrjobs.services assembles the `ResultDocument`. `ocrjobs.result_schema` declares the same shape for OpenAPI.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from inference.base import PageResult
from inference.deepseek_output import image_placeholder
from inference.images import FIGURE_LABELS
from storage.keys import artifact_file_path


class UsageDict(TypedDict):
    """Tokens the model spent; zero for pages answered without it."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class BlockDict(TypedDict):
    """One recognised region. `bbox` is `[x1, y1, x2, y2]` in pixels of the page image; `image` (figure blocks
    only) is the path of its crop beside the result, `<mode>/<stem>/page-<n>-image-<k>.png`."""

    type: str
    text: str
    bbox: list[int]
    image: NotRequired[str]


class TableDict(TypedDict):
    """A table: its cells by row (`rows[0]` is the header), as CSV, and (DeepSeek-OCR) as the model's HTML."""

    bbox: NotRequired[list[int]]
    rows: list[list[str]]
    csv: str
    html: NotRequired[str]
    page: NotRequired[int]  # in the document's `tables`, the page it is on


class FormulaDict(TypedDict):
    """A formula in a result document: LaTeX, display or inline, and its 1-based page."""

    latex: str
    display: bool  # a display (block) formula rather than an inline one
    page: NotRequired[int]


class ChartDict(TypedDict):
    """The data behind a chart; cells after the first column are numbers where they parse as numbers."""

    title: str | None
    columns: list[str]
    rows: list[list[Any]]
    csv: str
    page: NotRequired[int]


class ReusedFrom(TypedDict):
    """Where a reused page's result came from: the earlier job and its 1-based page."""

    job_id: str
    page: int


class StoredPage(TypedDict):
    """A page as stored on `JobPage.result` while the job runs."""

    page: int  # from 1, the page's number in the uploaded document
    width: int  # pixels of the page image the engine read
    height: int
    text: str
    blocks: list[BlockDict]
    usage: UsageDict
    finish_reason: str  # `stop`, or `length` for a page the model could not finish
    model: NotRequired[str]  # internal: the engine that read it (the result names it once, at the top)
    error: NotRequired[str]  # this page alone failed; the document still stands
    tables: NotRequired[list[TableDict]]  # `table` modes
    formulas: NotRequired[list[FormulaDict]]  # `formula` modes
    chart: NotRequired[ChartDict | None]  # `chart` modes
    source: NotRequired[Literal["blank", "text_layer", "reuse"]]  # answered without the model (ocrjobs.shortcuts)
    reused_from: NotRequired[ReusedFrom]
    recovered_by: NotRequired[str]  # the step of the repetition ladder that gave this answer (vLLM engine)
    attempts: NotRequired[list[dict[str, Any]]]  # each try of that ladder
    engine: NotRequired[str]  # the CPU engine that answered a page the model could not
    strips: NotRequired[Any]  # a long page read in strips (inference.vllm_strips)


class ResultPage(StoredPage):
    """A page of the result document: the stored page without `model`, with its annotated image's path."""

    annotated_image: str  # `<mode>/<stem>/page-<n>-annotated.png`, drawn by the worker when the job completes


class ResultDocument(TypedDict):
    """The downloaded JSON, and `result` in `GET /api/v1/results/{id}`."""

    job_id: str
    filename: str
    mode: str
    model: str  # the engine that really ran
    extracted_text: str  # every page's text joined by a blank line; Markdown in document and table modes
    pages: list[ResultPage]
    usage: UsageDict  # the sum over pages
    created_at: str  # ISO 8601
    processing_ms: int
    tables: NotRequired[list[TableDict]]  # output kind `table`: every page's tables, each with its page
    formulas: NotRequired[list[FormulaDict]]  # output kind `formula`
    charts: NotRequired[list[ChartDict]]  # output kind `chart`: one per page that had one
    failed_pages: NotRequired[list[int]]  # pages that failed alone
    warnings: NotRequired[list[str]]  # `Page <n>: <why>` for each of them


def page_document(
    result: PageResult, *, number: int, model: str, figure_paths: list[str | None] | None = None
) -> StoredPage:
    """The stored dict of page `number` read by `model`, built once. `figure_paths[k]` is the stored crop of the
    k-th figure block (None where its box was too small to cut): it goes on the block as `image`, and the
    Markdown's placeholder link for that figure is pointed at the crop's file name."""
    document: dict[str, Any] = result.as_dict(number)
    document["model"] = model
    if figure_paths:
        figures = [b for b in document["blocks"] if b["type"] in FIGURE_LABELS]
        for k, (block, path) in enumerate(zip(figures, figure_paths, strict=True), start=1):
            if path is None:
                continue
            block["image"] = path
            name = path.rsplit("/", 1)[-1]
            document["text"] = document["text"].replace(f"]({image_placeholder(k)})", f"]({name})")
    return document  # type: ignore[return-value]


def annotated_name(number: int) -> str:
    """The annotated image's file name beside the result: `page-<n>-annotated.png`."""
    return f"page-{number}-annotated.png"


def result_page(stored: StoredPage, *, output_key: str) -> ResultPage:
    """The public page for a result stored under `output_key` (`<mode>/<stem>.json`): a new dict, the stored
    one unchanged."""
    page: dict[str, Any] = {k: v for k, v in stored.items() if k != "model"}
    page["annotated_image"] = artifact_file_path(output_key=output_key, name=annotated_name(stored["page"]))
    return page  # type: ignore[return-value]
