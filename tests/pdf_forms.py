"""Hand-written AcroForm PDFs for tests: static labels beside filled fields (text fields, a combo box, check boxes),
with appearance streams as a form-filling program writes them, or without (`NeedAppearances`, for the viewer to
draw). No PDF library needed: each object is written out and the cross-reference table counted."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    """A field widget at `rect` = (x1, y1, x2, y2) in points from the page's bottom-left corner.
    `kind`: "text", "combo" (its value is one of `options`) or "check" (`value` "Yes" checked, "Off" not)."""

    name: str
    value: str
    rect: tuple[float, float, float, float]
    kind: str = "text"
    options: tuple[str, ...] = ()


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def form_pdf(
    *,
    labels: list[tuple[float, float, str]],
    fields: list[Field],
    size: tuple[float, float] = (612, 400),
    appearances: bool = True,
    font_size: float = 16,
) -> bytes:
    """One page of `size` points with each label (x, y, text) drawn in Helvetica and each field a widget holding
    its value. With `appearances` every widget carries its normal appearance stream; without, the form says
    `NeedAppearances` and only the values are stored."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(data: bytes, extra: bytes = b"") -> int:
        return add(b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream")

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    resources = b"<< /Font << /Helv %d 0 R >> >>" % font
    content = b"".join(
        b"BT /Helv %g Tf %g %g Td (%s) Tj ET\n" % (font_size, x, y, _escape(text).encode("latin-1"))
        for x, y, text in labels
    )
    contents = stream(content)
    page_ref = len(objects) + 1  # the page comes next; widgets point back to it
    add(b"")  # placeholder for the page
    pages = add(b"")  # placeholder for the page tree
    widgets = []
    for field in fields:
        x1, y1, x2, y2 = field.rect
        w, h = x2 - x1, y2 - y1
        form = b"/Type /XObject /Subtype /Form /BBox [0 0 %g %g] /Resources %s " % (w, h, resources)
        entries = b""
        if field.kind == "check":
            on = stream(b"q 0 g 2 w 3 3 m %g %g l S 3 %g m %g 3 l S Q" % (w - 3, h - 3, h - 3, w - 3), form)
            off = stream(b"", form)
            entries = b"/FT /Btn /V /%s /AS /%s " % (field.value.encode(), field.value.encode())
            if appearances:
                entries += b"/AP << /N << /Yes %d 0 R /Off %d 0 R >> >> " % (on, off)
            entries += b"/MK << /CA (4) >> /DA (/ZaDb 0 Tf 0 g) "
        else:
            value = _escape(field.value).encode("latin-1")
            text = b"/Tx BMC q BT /Helv %g Tf 0 g 2 %g Td (%s) Tj ET Q EMC" % (
                font_size,
                (h - font_size) / 2 + 3,
                value,
            )
            entries = b"/DA (/Helv %g Tf 0 g) /V (%s) " % (font_size, value)
            if field.kind == "combo":
                opts = b" ".join(b"(%s)" % _escape(o).encode("latin-1") for o in field.options)
                entries += b"/FT /Ch /Ff 131072 /Opt [%s] " % opts
            else:
                entries += b"/FT /Tx "
            if appearances:
                entries += b"/AP << /N %d 0 R >> " % stream(text, form)
        widgets.append(
            add(
                b"<< /Type /Annot /Subtype /Widget /T (%s) /Rect [%g %g %g %g] /F 4 /P %d 0 R %s>>"
                % (field.name.encode(), x1, y1, x2, y2, page_ref, entries)
            )
        )
    refs = b" ".join(b"%d 0 R" % w for w in widgets)
    objects[page_ref - 1] = b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %g %g] /Resources %s /Contents %d 0 R " % (
        pages,
        size[0],
        size[1],
        resources,
        contents,
    ) + (b"/Annots [%s] >>" % refs)
    objects[pages - 1] = b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page_ref
    zadb = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /ZapfDingbats >>")
    need = b"" if appearances else b"/NeedAppearances true "
    acroform = add(
        b"<< /Fields [%s] /DA (/Helv 0 Tf 0 g) /DR << /Font << /Helv %d 0 R /ZaDb %d 0 R >> >> %s>>"
        % (refs, font, zadb, need)
    )
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R /AcroForm %d 0 R >>" % (pages, acroform))
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)
