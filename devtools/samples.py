"""Test inputs the tests render themselves from known text: no binary fixtures, no ../shared."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from inference.metrics import cer

__all__ = ["LINES", "cer", "encode", "pdf_bytes", "png_bytes", "render_lines", "render_table"]

LINES = [
    "Invoice 2024-0117 for Northwind Traders",
    "Delivery address: 42 Harbour Street, Bristol",
    "Payment due within 30 days of receipt",
    "Total amount payable: 1,284.50 EUR",
]


def render_lines(lines: list[str], *, size: int = 30, width: int = 1100) -> Image.Image:
    font = ImageFont.load_default(size=size)
    height = 60 + len(lines) * int(size * 2.0)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((40, 30 + i * int(size * 2.0)), line, fill="black", font=font)
    return img


def render_table(rows: list[list[str]], *, size: int = 26, col_width: int = 230) -> Image.Image:
    font = ImageFont.load_default(size=size)
    row_h = int(size * 2.2)
    img = Image.new("RGB", (60 + col_width * len(rows[0]), 60 + row_h * len(rows)), "white")
    draw = ImageDraw.Draw(img)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            draw.text((30 + c * col_width, 30 + r * row_h), cell, fill="black", font=font)
    return img


def encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def png_bytes(lines: list[str] | None = None) -> bytes:
    return encode(render_lines(lines or LINES))


def pdf_bytes(pages: list[list[str]]) -> bytes:
    images = [render_lines(lines) for lines in pages]
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", save_all=True, append_images=images[1:], resolution=144)
    return buf.getvalue()
