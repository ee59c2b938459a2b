"""Mistral's OCR dialect of `POST /v1/ocr`: what `Mistral(server_url=…).ocr.process(…)` and LiteLLM's OCR endpoint
send, told apart from the OpenAI-style body by its `document` (the other has `image`).

Request (field names as in mistralai's `OCRRequest`): `model`, `document` (`{"type": "document_url", "document_url"}`
or `{"type": "image_url", "image_url": <URL or data: URI, or {"url"}>}`), `pages` (0-based indexes, or a string of
indexes and ranges such as `"0,2-4"`), `include_image_base64`, `image_limit`, `image_min_size`, `table_format`
(`markdown`|`html`), `include_blocks` (default true, as in the SDK). Annotation formats, confidence scores and
header/footer extraction are refused with a 400 naming the field: DeepRead cannot honour them.

Answer (`OCRResponse`): `pages[]` of `{index, markdown, images, dimensions: {dpi, height, width}, tables,
hyperlinks, header, footer, blocks}`, `model` (what ran), `document_annotation: null`, `usage_info:
{pages_processed, doc_size_bytes}`. Figures are cropped from the page as PNGs (`images[]` with pixel corners, and
the crop as a data URI when `include_image_base64`), linked from the Markdown as `![img-0.png](img-0.png)`; with
`table_format`, tables move out of the Markdown into `tables[]` and are linked as `[tbl-0.md](tbl-0.md)`.
Errors are Mistral's `{"object": "error", "message", "type", "param", "code"}`.

The whole call runs through `ocr.services` (same checks, quota, engine slot and refund on failure); this module
only parses the request and builds the answer.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from accounts.models import User
from core.errors import ApplicationError, InvalidInput, TooLarge
from inference.base import Block, PageResult
from inference.documents import PageImage
from inference.images import FIGURE_LABELS, crop_figures
from ocr import services as ocr_services

FIELDS = {
    "model", "document", "pages", "include_image_base64", "image_limit", "image_min_size", "table_format",
    "include_blocks", "bbox_annotation_format", "document_annotation_format", "document_annotation_prompt",
    "extract_header", "extract_footer", "confidence_scores_granularity", "id",
}  # fmt: skip
#: Accepted only when absent, null or false: DeepRead has nothing to fill them with.
UNSUPPORTED = {
    "bbox_annotation_format": "Annotation formats (structured output) are not supported by DeepRead.",
    "document_annotation_format": "Annotation formats (structured output) are not supported by DeepRead.",
    "document_annotation_prompt": "Document annotation is not supported by DeepRead.",
    "confidence_scores_granularity": "Confidence scores are not supported by DeepRead.",
    "extract_header": "Header extraction is not supported by DeepRead; headers stay in the Markdown.",
    "extract_footer": "Footer extraction is not supported by DeepRead; footers stay in the Markdown.",
}
#: The mode the dialect runs: Markdown with tables found (both engines serve it).
MODE = "table"
BLOCK_TYPES = {
    "title": "title", "sub_title": "title", "text": "text", "table": "table", "image": "image", "figure": "image",
    "equation": "equation", "formula": "equation", "image_caption": "caption", "figure_caption": "caption",
    "table_caption": "caption", "table_footnote": "caption", "header": "header", "page_header": "header",
    "footer": "footer", "page_footer": "footer", "page_number": "footer", "list": "list", "code": "code",
    "reference": "references", "footnote": "aside_text",
}  # fmt: skip
_FIGURE_LINK = re.compile(r"!\[[^\]]*\]\(#deepread-image-(\d+)\)")
_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def is_mistral_body(data: Any) -> bool:
    """True for a body in Mistral's dialect (it names a `document`; the OpenAI-style one an `image`)."""
    return isinstance(data, dict) and "document" in data and "image" not in data


def error_body(openai_error: dict[str, Any]) -> dict[str, Any]:
    """Mistral's error object `{"object": "error", "message", "type", "param", "code"}` for the same error in
    OpenAI's shape (`{"error": {"message", "type", "param", "code"}}`, `core.error_formats.openai_body`)."""
    return {"object": "error", **(openai_error.get("error") or {})}


@dataclass(frozen=True)
class MistralRequest:
    """A Mistral OCR request body, checked: the document source, model, 0-based pages and image/table options."""

    source: str  # a URL or a data: URI
    model: str | None = None
    pages: tuple[int, ...] | None = None  # 0-based, sorted, distinct
    include_image_base64: bool = False
    image_limit: int | None = None
    image_min_size: int | None = None
    table_format: str | None = None
    include_blocks: bool = True


def _bad(message: str, param: str, code: str = "invalid_parameter") -> InvalidInput:
    return InvalidInput(message, code=code, param=param)


def _typed(data: dict, name: str, kind: type | tuple[type, ...], label: str) -> Any:
    value = data.get(name)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise _bad(f"{name} must be {label}.", name, "invalid_parameter_type")
    return value


def parse_request(data: dict[str, Any]) -> MistralRequest:
    """Check a Mistral-dialect body (a JSON object). Raises InvalidInput (400) naming the field at fault."""
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise _bad(f"Unrecognized request argument: {unknown[0]}.", unknown[0])
    for name, message in UNSUPPORTED.items():
        if data.get(name) not in (None, False):
            raise _bad(message, name, "unsupported_parameter")
    model = _typed(data, "model", str, "a string")
    include_image_base64 = _typed(data, "include_image_base64", bool, "a boolean")
    include_blocks = _typed(data, "include_blocks", bool, "a boolean")
    limits = {name: _typed(data, name, int, "an integer") for name in ("image_limit", "image_min_size")}
    for name, value in limits.items():
        if value is not None and value < 0:
            raise _bad(f"{name} must be 0 or more.", name)
    table_format = _typed(data, "table_format", str, "a string")
    if table_format not in (None, "markdown", "html"):
        raise _bad("table_format must be 'markdown' or 'html'.", "table_format")
    return MistralRequest(
        source=_document_source(data.get("document")),
        model=model,
        pages=_pages(data.get("pages")),
        include_image_base64=bool(include_image_base64),
        image_limit=limits["image_limit"],
        image_min_size=limits["image_min_size"],
        table_format=table_format,
        include_blocks=True if include_blocks is None else include_blocks,
    )


def _document_source(document: Any) -> str:
    if not isinstance(document, dict):
        raise _bad("document must be an object with a type.", "document", "invalid_parameter_type")
    kind = document.get("type") or ("image_url" if "image_url" in document else "document_url")
    if kind == "file":
        raise _bad("Uploaded file ids are not supported: send a document_url or an image_url.", "document")
    if kind not in ("document_url", "image_url"):
        raise _bad("document.type must be 'document_url' or 'image_url'.", "document")
    value = document.get(kind)
    if kind == "image_url" and isinstance(value, dict):
        value = value.get("url")
    if value is None or value == "":
        raise _bad(f"document.{kind} is required.", "document", "parameter_missing")
    if not isinstance(value, str):
        raise _bad(f"document.{kind} must be a string.", "document", "invalid_parameter_type")
    return value


def _pages(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        indexes = set(value)
    elif isinstance(value, str):
        indexes = set()
        for part in value.split(","):
            match = _RANGE.match(part)
            if not match:
                raise _bad("pages must list 0-based page numbers or ranges, such as '0,2-4'.", "pages")
            first, last = int(match.group(1)), int(match.group(2) or match.group(1))
            if last < first or last - first > 10_000:
                raise _bad(f"The page range {part.strip()!r} is not valid.", "pages")
            indexes.update(range(first, last + 1))
    else:
        raise _bad("pages must be a list of integers or a string.", "pages", "invalid_parameter_type")
    if not indexes:
        raise _bad("pages lists no page.", "pages")
    if min(indexes) < 0:
        raise _bad("Page numbers start from 0.", "pages")
    return tuple(sorted(indexes))


# --- the call -----------------------------------------------------------------------------------------------------
def ocr_mistral(*, user: User, req: MistralRequest) -> ocr_services.OcrOutcome:
    """Recognise the document's selected pages now and answer in Mistral's `OCRResponse` shape. Same order of
    checks as `ocr_services.ocr_sync` (mode, document, model, quota, engine), and the same errors (`core.errors`
    members; those about the file name `document`, those about the page selection `pages`)."""
    spec = ocr_services.servable_mode(user=user, name=MODE)
    try:
        data = ocr_services.load_image_bytes(ocr_services.OcrRequest(image=req.source, image_type="url"))
    except ApplicationError as exc:
        raise exc.with_param("document") from exc
    info = ocr_services.inspect_input(data, max_pages=settings.DEEPREAD_MAX_PDF_PAGES, param="document")
    selected = req.pages or tuple(range(info.page_count))
    if selected[-1] >= info.page_count:
        raise _bad(f"The document has {info.page_count} pages (0 to {info.page_count - 1}).", "pages")
    if len(selected) > settings.DEEPREAD_SYNC_MAX_PAGES:
        limit = settings.DEEPREAD_SYNC_MAX_PAGES
        raise TooLarge(
            f"{len(selected)} pages asked for; the limit is {limit} a call: choose with pages.", param="pages"
        )
    model = _resolve_model(req.model)
    builder = _PageBuilder(req, info.kind)
    skip = frozenset(range(1, info.page_count + 1)) - {i + 1 for i in selected}
    quota = ocr_services.ocr_pages(
        user=user, spec=spec, data=data, info=info, on_page=builder.add, skip=skip, param="document"
    )
    body = {
        "pages": builder.pages,
        "model": model,
        "document_annotation": None,
        "usage_info": {"pages_processed": len(builder.pages), "doc_size_bytes": len(data)},
    }
    return ocr_services.OcrOutcome(body=body, quota=quota)


def _resolve_model(name: str | None) -> str:
    """Mistral's own model names (`mistral-ocr-latest`, …) mean "the OCR model" the way `deepseek-ocr` does: they
    resolve to the engine that serves unless the operator made model names strict."""
    if name and name.startswith("mistral-ocr") and not settings.DEEPREAD_MODEL_STRICT:
        return ocr_services.served_model()
    return ocr_services.resolve_model(name)


class _PageBuilder:
    """Turns each recognised page into an `OCRPageObject`, numbering images and tables across the document."""

    def __init__(self, req: MistralRequest, kind: str) -> None:
        self.req, self.kind = req, kind
        self.pages: list[dict[str, Any]] = []
        self.image_count = 0
        self.table_count = 0

    def add(self, page: PageImage, result: PageResult) -> None:
        """Append one page in Mistral OCR's shape: 0-based index, Markdown with figure/table ids, images, tables,
        dimensions (pixels, dpi) and blocks when asked for.
        """
        markdown, images, figure_ids = self._figures(page, result)
        markdown, tables, table_ids = self._tables(markdown, result)
        entry: dict[str, Any] = {
            "index": page.number - 1,
            "markdown": markdown,
            "images": images,
            "dimensions": {"dpi": _dpi(page, self.kind), "height": result.height, "width": result.width},
            "tables": tables,
            "hyperlinks": [],
            "header": None,
            "footer": None,
        }
        if self.req.include_blocks:
            entry["blocks"] = _blocks(result.blocks, figure_ids, table_ids)
        self.pages.append(entry)

    def _figures(self, page: PageImage, result: PageResult) -> tuple[str, list[dict], list[str | None]]:
        figures = [b for b in result.blocks if b.type in FIGURE_LABELS]
        crops = crop_figures(page.image, result.blocks) if figures else []
        images, ids, links = [], [], {}
        min_size, limit = self.req.image_min_size or 0, self.req.image_limit
        for n, (block, png) in enumerate(zip(figures, crops, strict=True), start=1):
            x1, y1, x2, y2 = block.bbox
            if not png or min(x2 - x1, y2 - y1) < min_size or (limit is not None and self.image_count >= limit):
                ids.append(None)
                links[n] = ""
                continue
            image_id = f"img-{self.image_count}.png"
            self.image_count += 1
            ids.append(image_id)
            links[n] = f"![{image_id}]({image_id})"
            image = {"id": image_id, "top_left_x": x1, "top_left_y": y1, "bottom_right_x": x2, "bottom_right_y": y2}
            image["image_base64"] = (
                "data:image/png;base64," + base64.b64encode(png).decode("ascii")
                if self.req.include_image_base64
                else None
            )
            images.append(image)
        markdown = _FIGURE_LINK.sub(lambda m: links.get(int(m.group(1)), ""), result.text)
        return markdown, images, ids

    def _tables(self, markdown: str, result: PageResult) -> tuple[str, list[dict], list[str | None]]:
        fmt = self.req.table_format
        found = result.extra.get("tables") or []
        if fmt is None or not found:
            return markdown, [], [None] * len(found)
        table_blocks = [b for b in result.blocks if b.type == "table"]
        tables, ids = [], []
        for i, table in enumerate(found):
            table_id = f"tbl-{self.table_count}.{'md' if fmt == 'markdown' else 'html'}"
            self.table_count += 1
            source = table.get("html") or (table_blocks[i].text if i < len(table_blocks) else "")
            if source and source in markdown:
                markdown = markdown.replace(source, f"[{table_id}]({table_id})", 1)
            rows = table.get("rows") or []
            content = _rows_markdown(rows) if fmt == "markdown" else (table.get("html") or _rows_html(rows))
            tables.append({"id": table_id, "content": content, "format": fmt})
            ids.append(table_id)
        return markdown, tables, ids


def _dpi(page: PageImage, kind: str) -> int:
    """PDF pages are rendered at DEEPREAD_PDF_DPI; an image reports its own resolution, else 72."""
    if kind == "pdf":
        return settings.DEEPREAD_PDF_DPI
    dpi = page.image.info.get("dpi") or (72, 72)
    try:
        return max(1, round(float(dpi[0])))
    except (TypeError, ValueError, IndexError):
        return 72


def _blocks(blocks: list[Block], figure_ids: list[str | None], table_ids: list[str | None]) -> list[dict]:
    out = []
    figures, tables = iter(figure_ids), iter(table_ids)
    for block in blocks:
        kind = BLOCK_TYPES.get(block.type, "text")
        x1, y1, x2, y2 = block.bbox
        entry: dict[str, Any] = {
            "type": kind, "top_left_x": x1, "top_left_y": y1, "bottom_right_x": x2, "bottom_right_y": y2,
            "content": block.text,
        }  # fmt: skip
        if block.type in FIGURE_LABELS:
            image_id = next(figures, None)
            if image_id is None:
                continue  # left out by image_limit or image_min_size
            entry["image_id"] = image_id
        elif kind == "table":
            table_id = next(tables, None)
            if table_id is not None:
                entry["table_id"] = table_id
        out.append(entry)
    return out


def _rows_markdown(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    cells = [[c.replace("|", "\\|") for c in r] + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
    return "\n".join(lines)


def _rows_html(rows: list[list[str]]) -> str:
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table>{body}</table>"
