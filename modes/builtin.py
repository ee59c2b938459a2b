"""The built-in modes and their DeepSeek-OCR prompts (DESIGN.md, "Prompts")."""

from __future__ import annotations

from inference.base import ModeSpec, OutputKind

BUILTIN_MODES: dict[str, ModeSpec] = {
    spec.name: spec
    for spec in (
        ModeSpec(
            name="ocr",
            display_name="General OCR",
            description="All text from documents, receipts and forms.",
            prompt="<|grounding|>OCR this image.",
            output_kind=OutputKind.TEXT,
        ),
        ModeSpec(
            name="table",
            display_name="Table Recognition",
            description="Tables and structured data.",
            prompt="<|grounding|>Convert the document to markdown.",
            output_kind=OutputKind.TABLE,
        ),
        ModeSpec(
            name="formula",
            display_name="Formula Recognition",
            description="Mathematical formulas as LaTeX.",
            prompt="<|grounding|>Convert the document to markdown.",
            output_kind=OutputKind.FORMULA,
        ),
        ModeSpec(
            name="chart",
            display_name="Chart Recognition",
            description="The data behind charts.",
            prompt="Parse the figure.",
            output_kind=OutputKind.CHART,
        ),
        ModeSpec(
            name="document",
            display_name="Document Analysis",
            description="The document as structured Markdown.",
            prompt="<|grounding|>Convert the document to markdown.",
            output_kind=OutputKind.MARKDOWN,
        ),
    )
}
