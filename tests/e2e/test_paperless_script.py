"""The paperless-ngx pre-consume script against a live DeepRead (gunicorn, gpu worker, fake vLLM server): a PDF in
paperless's working path is replaced by DeepRead's searchable PDF, whose text layer is the result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from devtools.samples import pdf_bytes, png_bytes

pytestmark = pytest.mark.e2e
SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "paperless" / "deepread_pre_consume.py"


def _run(stack, path: Path, key: str) -> subprocess.CompletedProcess:
    env = {"DEEPREAD_URL": stack.base_url, "DEEPREAD_API_KEY": key, "DOCUMENT_WORKING_PATH": str(path)}
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_pdf_comes_back_searchable_in_place(vllm_service, tmp_path):
    key = vllm_service.new_key("paperless@example.com")
    original = pdf_bytes([["scanned page one"], ["scanned page two"]])
    path = tmp_path / "scan.pdf"
    path.write_bytes(original)
    done = _run(vllm_service, path, key)
    assert done.returncode == 0, done.stderr
    pdf = pdfium.PdfDocument(path.read_bytes())
    assert len(pdf) == 2
    text = pdf[0].get_textpage().get_text_range()
    assert text.split()[:3] == ["Quarterly", "Report", "2025"]  # the fake model's answer, as a text layer
    assert path.read_bytes() != original


def test_an_image_is_left_to_paperless_and_a_bad_key_fails_loudly(vllm_service, tmp_path):
    image = tmp_path / "photo.png"
    image.write_bytes(png_bytes(["x"]))
    assert _run(vllm_service, image, "wrong").returncode == 0
    assert image.read_bytes() == png_bytes(["x"])
    pdf, original = tmp_path / "doc.pdf", pdf_bytes([["x"]])
    pdf.write_bytes(original)
    failed = _run(vllm_service, pdf, "dr_wrong")
    assert failed.returncode != 0
    assert "DeepRead answered 401" in failed.stderr
    assert pdf.read_bytes() == original  # paperless keeps its file
