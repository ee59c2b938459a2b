"""Hostile model output for the result-HTML tests: payloads that try to put live htmx attributes or event handlers
into the page, placed where DeepSeek-OCR puts text (a text block, a table cell, a caption, a formula, a chart title),
and a fake vLLM server that answers with them for every prompt.

`inspect_region` reads served HTML and returns every attribute found inside the region that holds result HTML.
"""

from __future__ import annotations

from html.parser import HTMLParser

from devtools.fake_vllm import FakeVllm
from devtools.fake_vllm_answers import EOS, PROMPT_CHART, PROMPT_OCR

# The report's payload: a `"` inside `\(..\)` used to close the attribute its placeholder sat in.
PAYLOAD = r'\(x" hx-post="/upload/ticket" hx-trigger="load, every 2s" hx-swap="none" \)'
ATTACK = f"![{PAYLOAD}](a.png)"
VARIANTS = [
    ATTACK,
    ATTACK.replace(r"\(", r"\[").replace(r"\)", r"\]"),  # display maths
    ATTACK.replace(r"\(", "$$").replace(r"\)", "$$"),
    "x" + PAYLOAD,  # in running text
    r'<img src="a.png" alt="\(" hx-post="/upload/ticket" hx-trigger="load" x="\)">',  # maths across raw attributes
    '<span data-hx-post="/upload/ticket" data-hx-trigger="load">data-hx</span>',
    '<div hx-get="/upload/ticket" hx-trigger="load" onclick="alert(1)" onmouseover="x()">raw htmx</div>',
    "<img src=\"a.png\" onerror=\"fetch('/upload/ticket',{method:'POST'})\">",
    f'[a link](/jobs/ "{PAYLOAD}")',  # a link title
    "![ok](/upload/ticket) ![ok](https://elsewhere.example/pixel.png)",  # images that are not the job's figures
    "DEEPREADMATH3X DEEPREADMATH0X",  # the old placeholder, printed
]


def _box(n: int) -> str:
    return f"<|det|>[[40, {20 + n * 30}, 900, {40 + n * 30}]]<|/det|>\n"


def document_answer() -> str:
    """DeepSeek-OCR's grounding Markdown with every variant as text, in a table cell (HTML and pipe tables), in a
    table and a figure caption, and inside a formula."""
    parts, n = [], 0
    for variant in VARIANTS:
        pipe_safe = variant.replace("|", "")
        for label, content in (
            ("text", variant),
            ("table", f"<table><tr><td>Head</td></tr><tr><td>{variant}</td></tr></table>"),
            ("table", f"| Head | B |\n|---|---|\n| {pipe_safe} | c |"),
            ("table_caption", variant),
            ("image_caption", f"<center>{variant}</center>"),
            ("equation", f"\\[ {variant} \\]"),
            ("formula", f"\\( {variant} \\)"),
        ):
            parts.append(f"<|ref|>{label}<|/ref|>{_box(n)}{content}\n\n")
            n += 1
    return "".join(parts) + EOS


def chart_answer() -> str:
    """`Parse the figure.`: the chart's title (every variant) before its data table."""
    return (
        "\n".join(VARIANTS)
        + "\n\n<table><tr><td>Month</td><td>Revenue</td></tr><tr><td>Jan</td><td>1</td></tr></table>"
        + EOS
    )


def ocr_answer() -> str:
    """`OCR this image.`: the recognised text sits in the `ref` tags."""
    return "".join(f"<|ref|>{v}<|/ref|>{_box(n)}" for n, v in enumerate(VARIANTS)) + EOS


class HostileVllm(FakeVllm):
    """The fake vLLM server, answering every prompt with the payloads (the recognised text a hostile page gives)."""

    def answer(self, prompt: str, image, max_tokens: int, *args, **kwargs) -> tuple[str, str]:
        if prompt == PROMPT_OCR:
            return ocr_answer(), "stop"
        if prompt == PROMPT_CHART:
            return chart_answer(), "stop"
        return document_answer(), "stop"


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Region(HTMLParser):
    def __init__(self, marker: str) -> None:
        super().__init__(convert_charrefs=True)
        self.marker, self.depth = marker, 0
        self.containers: list[dict[str, str | None]] = []
        self.attributes: list[tuple[str, str, str | None]] = []  # (tag, name, value) inside the region
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.attributes.extend((tag, name, value) for name, value in attrs)
            if tag not in _VOID:
                self.depth += 1
        elif self.marker in (dict(attrs).get("class") or "").split():
            self.containers.append(dict(attrs))
            self.depth = 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.attributes.extend((tag, name, value) for name, value in attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in _VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)


def inspect_region(page: str, marker: str) -> _Region:
    """Every attribute inside the elements of class `marker` (the region that holds result HTML), their own
    attributes in `containers`, and the text inside."""
    region = _Region(marker)
    region.feed(page)
    region.close()
    return region


def active_attributes(region: _Region) -> list[tuple[str, str, str | None]]:
    """Attributes inside the region that htmx or the browser would act on: `hx-*`, `data-hx-*`, `on*`."""
    return [
        (tag, name, value)
        for tag, name, value in region.attributes
        if name.startswith(("hx-", "data-hx-", "on")) or name == "data-hx"
    ]
