"""Result text for the browser: Markdown rendered to HTML, then sanitised, so nothing in a result can act in the page.

A result is model output, so it is untrusted: a document can print anything, markup included. DeepSeek-OCR writes
HTML tables inside its Markdown, so raw HTML is let through the Markdown renderer and the whole HTML is then cut down
by nh3 to a small allow-list (text formatting, lists, tables, images of this job's own figures, http(s) links).

The order is the guarantee: **sanitising is the last step**, and nothing is substituted into the HTML after it.
LaTeX is set aside before Markdown (which would eat the backslashes of `\\(`), put back as escaped text (quotes
included, so it stays inside whatever attribute or text it sits in), and only then is the HTML sanitised. No
attribute survives but the allow-list: no `hx-*`/`data-hx-*` (htmx is first-party, so the CSP would not stop it),
no `data-*`, no event handler, no `style`, no `id`/`class`. The templates also put `hx-disable` on every element
that holds result HTML, so htmx would ignore anything that slipped through. KaTeX typesets the LaTeX in the page.
"""

from __future__ import annotations

import html
import re
import secrets

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": True}).enable("table")
TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s", "sub", "sup", "code",
    "pre", "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption", "img",
    "a", "span", "div",
}  # fmt: skip
ATTRIBUTES = {"td": {"rowspan", "colspan"}, "th": {"rowspan", "colspan"}, "img": {"src", "alt"}, "a": {"href"}}
#: Attribute names no result may carry, whatever the allow-list says: htmx's, data attributes, event handlers.
FORBIDDEN_ATTRIBUTE = re.compile(r"^(?:hx-|data-|on)", re.IGNORECASE)

_MATH = re.compile(r"\\\[.+?\\\]|\\\(.+?\\\)|\$\$.+?\$\$", re.DOTALL)
_SPAN = re.compile(r"^\d{1,3}$")


def _attribute_filter(images: str | None):
    def keep(element: str, attribute: str, value: str) -> str | None:
        """nh3 attribute filter: keep only allow-listed attributes, numeric spans, and `img src` under this job's
        figures.
        """
        if FORBIDDEN_ATTRIBUTE.match(attribute) or attribute not in ATTRIBUTES.get(element, ()):
            return None  # exactly the allow-list: not even nh3's generic `lang` and `title`
        if attribute in ("rowspan", "colspan"):
            return value if _SPAN.match(value.strip()) else None
        if element == "img" and attribute == "src":
            # Only this job's own stored figures: no other URL of this site (a GET the viewer did not ask for) and
            # nothing elsewhere (the CSP refuses it anyway).
            return value if images and value.startswith(images) and "/.." not in value else None
        return value

    return keep


def sanitise_html(markup: str, *, images: str | None = None) -> str:
    """Cut `markup` down to the allow-list (TAGS, ATTRIBUTES); `img src` is kept only when it starts with `images`
    (a path prefix such as the job's artifact URL), links only with http(s) or relative URLs. Returns HTML that
    is safe to insert into a page as is."""
    return nh3.clean(
        markup,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_attribute_filter(images),
    )


def markdown_html(text: str, *, images: str | None = None) -> str:
    """Markdown (with HTML tables and LaTeX) to safe HTML; see the module's docstring for the order of the steps.

    `images`: the URL prefix of the figures this result may show (the job's artifact URL); any other image loses
    its `src` and keeps its alt text. Any input gives a string; nothing in it can raise.
    """
    formulas: list[str] = []
    # A fresh placeholder per call: text cannot forge one, so printed text never collides with a held formula.
    mark = f"DEEPREADMATH{secrets.token_hex(8)}N"

    def hold(match: re.Match) -> str:
        """Swap a formula for a placeholder so Markdown does not mangle it; it is put back after rendering."""
        formulas.append(match.group(0))
        return f"{mark}{len(formulas) - 1}X"

    rendered = _md.render(_MATH.sub(hold, text or ""))
    restored = re.sub(
        rf"{mark}(\d+)X",
        lambda m: html.escape(formulas[int(m.group(1))], quote=True) if int(m.group(1)) < len(formulas) else "",
        rendered,
    )
    return sanitise_html(restored, images=images)
