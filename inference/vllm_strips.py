"""Joining the strips of a very long or wide page read by DeepSeek-OCR into one page result (see
`inference.strips` for how pages are cut)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image

from inference import cancel, deepseek_output, strips
from inference.base import Block, ModeSpec, OutputKind, PageResult, Usage


def extras(kind: str, text: str, blocks: list) -> dict[str, Any]:
    """The mode's extra result fields for a page read from strips: tables, formulas or chart data; {} for text kinds."""
    if kind == OutputKind.TABLE:
        return {"tables": deepseek_output.tables(blocks)}
    if kind == OutputKind.FORMULA:
        return {"formulas": deepseek_output.formulas(text)}
    if kind == OutputKind.CHART:
        return {"chart": deepseek_output.chart(text)}
    return {}


def recognize_in_strips(
    image: Image.Image,
    plan: strips.StripPlan,
    read: Callable[[Image.Image], PageResult],
    *,
    mode: ModeSpec,
    workers: int,
) -> PageResult:
    """Every strip of `image` read by `read` (one request each), all at once on up to `workers` threads, and the
    results joined (`merge_strip_results`). A job's cancel token goes with the strips to their threads."""
    parts = strips.crops(image.convert("RGB"), plan)
    token = cancel.current()

    def one(part: Image.Image) -> PageResult:
        """Read one strip, on a pool thread, under the job's cancel token."""
        with cancel.cancel_scope(token) if token is not None else contextlib.nullcontext():
            return read(part)

    with ThreadPoolExecutor(max_workers=max(1, min(len(parts), workers)), thread_name_prefix="strip") as pool:
        results = list(pool.map(one, parts))
    return merge_strip_results(plan, results, mode)


def merge_strip_results(plan: strips.StripPlan, results: list[PageResult], mode: ModeSpec) -> PageResult:
    """The strips' results as one page: blocks in page coordinates, each kept by the strip that owns its centre;
    the text of a tall page joined where neighbouring strips read the same lines (blocks without real boxes say
    nothing about place); a wide page's text rebuilt from its kept blocks row by row. Usage is summed; a strip
    that fell into a repetition loop is named in `error` while the others' text stands."""
    figures = 0
    kept_blocks: list[Block] = []
    texts: list[str] = []
    for index, (strip, result) in enumerate(zip(plan.strips, results, strict=True)):
        text, local = result.text, 0
        for block in result.blocks:
            box = [round(v) for v in strips.shift(block.bbox, strip.offset)]
            is_figure = block.type in deepseek_output.IMAGE_LABELS
            local += is_figure
            owned = plan.owns(index, box)
            if is_figure:
                # Renumber the figure placeholders across strips; a figure another strip owns leaves this text.
                figures += owned
                link = f"]({deepseek_output.image_placeholder(local)})"
                target = f"](#deepread-strip-image-{figures})" if owned else ""
                text = _drop_line_with(text, link) if not owned else text.replace(link, target)
            if owned:
                kept_blocks.append(Block(block.type, block.text, box))
        texts.append(text)
    if plan.axis == "y":
        text = strips.merge_text_runs(texts)
    else:
        text = rows_text(kept_blocks) or "\n\n".join(t for t in texts if t)
    text = text.replace("](#deepread-strip-image-", "](#deepread-image-")
    usage = Usage(sum(r.usage.prompt_tokens for r in results), sum(r.usage.completion_tokens for r in results))
    failed = [i + 1 for i, r in enumerate(results) if r.error]
    error = None
    if failed:
        error = (
            f"Strip {', '.join(map(str, failed))} of the {len(results)} strips of this long page: "
            f"{results[failed[0] - 1].error}"
        )
    finish = next((r.finish_reason for r in results if r.finish_reason != "stop"), "stop")
    return PageResult(
        text=text,
        blocks=kept_blocks,
        width=plan.width,
        height=plan.height,
        usage=usage,
        finish_reason=finish,
        extra=extras(mode.output_kind, text, kept_blocks),
        error=error,
    )


def _drop_line_with(text: str, needle: str) -> str:
    return "\n".join(line for line in text.split("\n") if needle not in line)


def rows_text(blocks: list[Block]) -> str:
    """Blocks of a wide page in reading order: rows top to bottom (blocks overlapping by half their height share
    a row), left to right within a row, joined with spaces."""
    rows: list[list[Block]] = []
    for block in sorted(blocks, key=lambda b: (b.bbox[1] + b.bbox[3]) / 2):
        height = max(block.bbox[3] - block.bbox[1], 1)
        for row in rows[-3:]:
            top, bottom = min(b.bbox[1] for b in row), max(b.bbox[3] for b in row)
            if min(bottom, block.bbox[3]) - max(top, block.bbox[1]) > 0.5 * min(height, bottom - top):
                row.append(block)
                break
        else:
            rows.append([block])
    return "\n".join(" ".join(b.text for b in sorted(row, key=lambda b: b.bbox[0]) if b.text) for row in rows).strip()
