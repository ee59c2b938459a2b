"""The bad-input corpus: hostile and broken files, generated (nothing large is committed).

    python -m tests.corpus.make_corpus OUT_DIR      # writes the files and an index.json

Each case says what DeepRead must answer: `refuse` with the documented `code` (`/v1/ocr`) and `status`, or `accept`
when the file is fine despite appearances (a PNG named .pdf is read by its bytes).
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from devtools.samples import encode, pdf_bytes, render_lines


@dataclass(frozen=True)
class Case:
    name: str
    filename: str
    content_type: str
    # accept | refuse (at upload) | fail (accepted, then the job fails with the reason) | refuse-name (the
    # signed-URL request is refused for the name alone; the bytes themselves are fine)
    outcome: str
    code: str = ""  # the /v1/ocr error code when refused
    status: int = 0  # the HTTP status of the refusal, for both APIs
    message: str = ""  # a fragment of the message
    v1_code: str = ""  # /v1/ocr's code where it differs (an empty base64 string is a missing parameter)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size, with almost no data: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


def png_text_bomb() -> bytes:
    """A small PNG whose compressed text chunk inflates to 50 MB."""
    good = encode(render_lines(["bomb"]))
    bomb = b"Comment\0\0" + zlib.compress(b"A" * 50_000_000, 9)
    return good[:33] + _png_chunk(b"zTXt", bomb) + good[33:]


def jpeg_huge_header() -> bytes:
    data = bytearray(encode(render_lines(["x"]), "JPEG"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)
    return bytes(data)


def bmp_huge_header() -> bytes:
    data = bytearray(encode(render_lines(["x"]), "BMP"))
    data[18:26] = struct.pack("<ii", 50000, 50000)
    return bytes(data)


def tiff_frames(n: int) -> bytes:
    frames = [Image.new("L", (8, 8), 255) for _ in range(n)]
    buf = io.BytesIO()
    frames[0].save(buf, format="TIFF", save_all=True, append_images=frames[1:])
    return buf.getvalue()


def pdf_pages(n: int) -> bytes:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(n):
        pdf.new_page(100, 100)
    buf = io.BytesIO()
    pdf.save(buf)
    return buf.getvalue()


def pdf_encrypted() -> bytes:
    """A PDF with an /Encrypt dictionary (RC4, 40-bit) and a user password."""
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 100 100]>>endobj\n"
        b"4 0 obj<</Filter/Standard/V 1/R 2/O<" + b"11" * 32 + b">/U<" + b"22" * 32 + b">/P -4>>endobj\n"
    )
    xref_at = len(body)
    trailer = (
        b"xref\n0 5\n0000000000 65535 f \n" + b"0000000009 00000 n \n" * 4
        + b"trailer<</Size 5/Root 1 0 R/Encrypt 4 0 R/ID[<01><01>]>>\n"
        + b"startxref\n" + str(xref_at).encode() + b"\n%%EOF\n"
    )  # fmt: skip
    return body + trailer


def pdf_broken_xref() -> bytes:
    data = pdf_bytes([["A page with a broken xref"]])
    at = data.rfind(b"startxref")
    return data[:at] + b"startxref\n999999\n%%EOF\n"


def png_bad_crc(png: bytes) -> bytes:
    """A PNG whose first image chunk has a flipped byte: its checksum no longer matches."""
    data = bytearray(png)
    data[data.find(b"IDAT") + 10] ^= 0xFF
    return bytes(data)


def saved(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


def cases() -> list[tuple[Case, bytes]]:
    png = encode(render_lines(["A perfectly good page"]))
    jpeg = encode(render_lines(["A good JPEG"]), "JPEG")
    pdf = pdf_bytes([["A good PDF"]])
    unsupported = ("unsupported_image_format", 400, "Unsupported file type")
    corrupt = ("unsupported_image_format", 400, "corrupt or truncated")
    return [
        (Case("zero-bytes", "empty.png", "image/png", "refuse", "unsupported_image_format", 400, "empty",
              v1_code="parameter_missing"), b""),
        (Case("truncated-png", "cut.png", "image/png", "refuse", *corrupt), png[: len(png) // 2]),
        # A JPEG's header checks out; its missing pixels show when the worker decodes it: the job fails.
        (Case("truncated-jpeg", "cut.jpg", "image/jpeg", "fail", *corrupt), jpeg[: len(jpeg) // 3]),
        (Case("png-bad-crc", "crc.png", "image/png", "refuse", *corrupt), png_bad_crc(png)),
        (Case("truncated-tiff", "cut.tif", "image/tiff", "fail", *corrupt),
         saved(render_lines(["A TIFF page"]), "TIFF")[:4000]),
        (Case("jpeg-cmyk", "print.jpg", "image/jpeg", "accept"),
         saved(render_lines(["A CMYK page"]).convert("CMYK"), "JPEG")),
        (Case("png-16-bit", "deep.png", "image/png", "accept"),
         saved(render_lines(["Sixteen bits"]).convert("I;16"), "PNG")),
        (Case("webp-declared-png", "photo.png", "image/png", "refuse", *unsupported),
         saved(render_lines(["A WebP page"]), "WEBP")),
        (Case("truncated-pdf", "cut.pdf", "application/pdf", "refuse", "unsupported_image_format", 400, "PDF"),
         pdf[: len(pdf) // 3]),
        (Case("png-named-pdf", "really-a-png.pdf", "application/pdf", "accept"), png),
        (Case("pdf-declared-png", "doc.png", "image/png", "accept"), pdf),
        (Case("html-as-png", "page.png", "image/png", "refuse", *unsupported), b"<html><script>x()</script></html>"),
        (Case("gif", "anim.gif", "image/png", "refuse", *unsupported), b"GIF89a" + b"\0" * 64),
        (Case("exe", "setup.png", "image/png", "refuse", *unsupported), b"MZ\x90\0" + b"\0" * 200),
        (Case("zip", "archive.png", "image/png", "refuse", *unsupported), b"PK\x03\x04" + b"\0" * 200),
        (Case("svg", "vector.png", "image/png", "refuse", *unsupported), b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
        (Case("polyglot-png-zip", "poly.png", "image/png", "refuse", *corrupt), png[:40] + b"PK\x03\x04" + b"\0" * 100),
        (Case("polyglot-pdf-html", "poly.pdf", "application/pdf", "refuse", "unsupported_image_format", 400, "PDF"),
         b"%PDF-1.4\n<html><script>alert(1)</script></html>"),
        (Case("png-bomb-50000", "bomb.png", "image/png", "refuse", "image_too_large", 413, "pixels"),
         png_header_only(50_000, 50_000)),
        (Case("png-bomb-9000", "big.png", "image/png", "refuse", "image_too_large", 413, "pixels"),
         png_header_only(9_000, 9_000)),
        (Case("png-text-bomb", "text-bomb.png", "image/png", "refuse", *corrupt), png_text_bomb()),
        (Case("jpeg-huge-header", "huge.jpg", "image/jpeg", "refuse", "image_too_large", 413, "pixels"),
         jpeg_huge_header()),
        (Case("bmp-huge-header", "huge.bmp", "image/bmp", "refuse", "image_too_large", 413, "pixels"),
         bmp_huge_header()),
        (Case("tiff-1000-frames", "frames.tif", "image/tiff", "refuse", "image_too_large", 413, "frames"),
         tiff_frames(1000)),
        (Case("pdf-5000-pages", "long.pdf", "application/pdf", "refuse", "image_too_large", 413, "5000 pages"),
         pdf_pages(5000)),
        (Case("pdf-encrypted", "locked.pdf", "application/pdf", "refuse", "unsupported_image_format", 400, "PDF"),
         pdf_encrypted()),
        (Case("pdf-broken-xref", "xref.pdf", "application/pdf", "accept"), pdf_broken_xref()),
        (Case("pdf-no-pages", "empty.pdf", "application/pdf", "refuse", "unsupported_image_format", 400, "PDF"),
         pdf_pages(0)),
        (Case("filename-traversal", "../../etc/passwd.png", "image/png", "accept"), png),
        # A NUL in the name is refused when the upload is asked for (DRF refuses NUL in any string).
        (Case("filename-nul", "evil\x00.png", "image/png", "refuse-name", "", 400, "null characters"), png),
        (Case("filename-newlines", "a\r\nSet-Cookie: x=1\n.png", "image/png", "accept"), png),
        (Case("filename-1000-chars", "x" * 996 + ".png", "image/png", "accept"), png),
        (Case("filename-rtl", "invoice\u202egnp.exe", "image/png", "accept"), png),
        (Case("filename-dots-only", "..", "image/png", "accept"), png),
        (Case("filename-emoji-cjk", "收据 🧾 2026.png", "image/png", "accept"), png),
        (Case("filename-windows-path", "C:\\Users\\me\\scan.png", "image/png", "accept"), png),
    ]  # fmt: skip


def write(out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    index = []
    for case, data in cases():
        (out / f"{case.name}.bin").write_bytes(data)
        index.append({**asdict(case), "file": f"{case.name}.bin", "size": len(data)})
    (out / "index.json").write_text(json.dumps(index, indent=2))
    return index


if __name__ == "__main__":
    print(f"{len(write(Path(sys.argv[1] if len(sys.argv) > 1 else 'var/corpus')))} cases written")
