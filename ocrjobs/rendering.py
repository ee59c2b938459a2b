"""Result text for the browser: Markdown rendered to HTML, then sanitised, so nothing in a result can run script.

DeepSeek-OCR writes HTML tables inside its Markdown, so raw HTML is let through the Markdown renderer and then
cut down by nh3 to a small allow-list (text formatting, lists, tables, images by relative or data URL); no
attribute that can carry script, no `style`, no links to `javascript:`. LaTeX stays as text (`\\(..\\)`,
`\\[..\\]`) for KaTeX to typeset in the page.
"""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": True}).enable("table")
TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s", "sub", "sup", "code",
    "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "img",
    "a", "span", "div",
}  # fmt: skip
ATTRIBUTES = {"td": {"rowspan", "colspan"}, "th": {"rowspan", "colspan"}, "img": {"src", "alt"}, "a": {"href"}}


_MATH = re.compile(r"\\\[.+?\\\]|\\\(.+?\\\)|\$\$.+?\$\$", re.DOTALL)


def markdown_html(text: str) -> str:
    """Markdown to safe HTML. LaTeX is set aside first (Markdown would eat the backslashes of `\\(`), then put back
    as escaped text for KaTeX to find."""
    formulas: list[str] = []

    def hold(match: re.Match) -> str:
        formulas.append(match.group(0))
        return f"DEEPREADMATH{len(formulas) - 1}X"

    cleaned = nh3.clean(
        _md.render(_MATH.sub(hold, text or "")),
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
    )
    return re.sub(r"DEEPREADMATH(\d+)X", lambda m: html.escape(formulas[int(m.group(1))], quote=False), cleaned)
