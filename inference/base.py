"""The engine interface: a page image and a mode in, a page result out."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from PIL import Image


class OutputKind(enum.StrEnum):
    """What a mode produces: plain text, Markdown, tables, LaTeX formulas or chart data."""

    TEXT = "text"
    MARKDOWN = "markdown"
    TABLE = "table"
    FORMULA = "formula"
    CHART = "chart"

    @property
    def label(self) -> str:
        """Human name of the output kind, shown in the dashboard's mode list."""
        return {
            "text": "Plain text",
            "markdown": "Markdown document",
            "table": "Tables",
            "formula": "Formulas (LaTeX)",
            "chart": "Chart data",
        }[self.value]


@dataclass(frozen=True)
class ModeSpec:
    """A mode as the engines see it: prompt and output kind, plus names for people; `version` for custom modes."""

    name: str
    display_name: str
    description: str
    prompt: str
    output_kind: str
    version: int | None = None  # a custom mode's version (None for the built-in modes)


@dataclass
class Block:
    """A recognised region: `type` (text, title, table, figure, …), its text, bbox in page pixels."""

    type: str
    text: str
    bbox: list[int]  # [x1, y1, x2, y2] in pixels of the page image


@dataclass
class Usage:
    """Token counts of one model call (0 for the CPU engine)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """prompt_tokens + completion_tokens."""
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, int]:
        """The usage as the API reports it: prompt, completion and total token counts."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass
class PageResult:
    """One page read by an engine: text, blocks, page size in pixels, usage, finish_reason, extras, error."""

    text: str
    blocks: list[Block]
    width: int
    height: int
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"
    extra: dict[str, Any] = field(default_factory=dict)  # tables, formulas, chart data
    error: str | None = None  # set when this page alone failed; the rest of the document still stands

    def as_dict(self, page: int) -> dict[str, Any]:
        """The page as stored in a result document: 1-based `page` number, size in pixels, text, blocks
        (bbox in page pixels), the mode's extras (tables, formulas, chart), usage, finish_reason and any `error`.
        """
        page_dict = {
            "page": page,
            "width": self.width,
            "height": self.height,
            "text": self.text,
            "blocks": [asdict(b) for b in self.blocks],
            **self.extra,
            "usage": self.usage.as_dict(),
            "finish_reason": self.finish_reason,
        }
        if self.error:
            page_dict["error"] = self.error
        return page_dict


class EngineError(Exception):
    """A page could not be recognised. `message` is safe to show to the user."""

    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ModeNotSupported(EngineError):
    """The engine cannot produce this mode's output kind (e.g. formulas on RapidOCR); not retryable."""


class InputUnreadable(EngineError):
    """The page's pixels cannot be decoded (a truncated or damaged file whose header looked fine)."""


class EngineUnavailable(EngineError):
    """The engine could not be reached or is overloaded; retryable."""

    retryable = True


class Engine(Protocol):
    """An OCR engine: reads one page image in a mode into a PageResult."""

    #: The model name reported in results: what really ran.
    model_name: str

    def supports(self, mode: ModeSpec) -> bool:
        """Whether this engine can produce `mode`'s output kind (RapidOCR cannot read formulas or charts)."""
        ...

    def recognize(self, image: Image.Image, mode: ModeSpec, *, source: Any = None) -> PageResult:
        """`source` is the upload's own encoded bytes (an `inference.images.EncodedImage`) when they may be sent
        as they are; engines that work on pixels ignore it."""
        ...
