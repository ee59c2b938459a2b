"""The client programs of the two documents whose APIs DeepRead implements, run as written against a live stack.

`tests/e2e/seed_clients/` holds them verbatim (ruff leaves them alone); each test swaps in only the base URL, the
key and the file, as a user pointing them at DeepRead would, and runs them with their own interpreter: Python,
bash + curl + jq, and Node with axios and form-data installed from npm into `var/seed-clients-node/`.
The PHP, Go and Ruby programs of the job API document are not run: no such interpreter is installed here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from devtools.samples import LINES, cer, encode, png_bytes, render_table

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent / "seed_clients"
ROOT = HERE.parents[2]
SEEDS = ROOT.parent / "shared" / "docs" / "seeds"
NODE_DIR = ROOT / "var" / "seed-clients-node"
NODE_PACKAGES = ("axios@1.21.1", "form-data@4.0.6")
ROWS = [["Item", "Qty", "Price"], ["Apples", "12", "3.40"], ["Pears", "7", "2.15"]]
RUN_TIMEOUT_S = 240  # the programs poll every 2 s; this only bounds a hang


def _program(name: str, replacements: dict[str, str], workdir: Path) -> Path:
    """Copy a seed program into `workdir` with only the base URL, key and file swapped."""
    text = (HERE / name).read_text()
    for old, new in replacements.items():
        assert old in text, f"{name} no longer contains {old!r}"
        text = text.replace(old, new)
    target = workdir / name
    target.write_text(text)
    return target


def _run(command: list[str], workdir: Path, **env: str) -> subprocess.CompletedProcess:
    if command[0] == "bash":
        for tool in ("curl", "jq"):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} is not installed (.ci/run installs it)")
    done = subprocess.run(
        command, cwd=workdir, env={**os.environ, **env}, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


@pytest.fixture
def document_png(tmp_path: Path) -> Path:
    path = tmp_path / "document.png"
    path.write_bytes(encode(render_table(ROWS)))
    return path


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    png = png_bytes()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            found = self.path == "/receipt.jpg"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(png)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/receipt.jpg"
    server.shutdown()


def _assert_table_text(text: str) -> None:
    for row in ROWS:
        for cell in row:
            assert cell in text, f"{cell!r} missing from {text!r}"


def _job_count(service, key: str) -> int:
    listing = requests.get(f"{service.base_url}/api/v1/processing-jobs", headers={"X-API-Key": key}, timeout=10)
    return listing.json()["total_count"]


# --- the job API document (000) -------------------------------------------------------------------------------
def test_the_python_class_processes_an_image(service, tmp_path, document_png):
    key = service.new_key("seed-python@example.com")
    program = _program(
        "jobs_python.py",
        {"https://api.deepreadocr.com/api/v1": f"{service.base_url}/api/v1", "your_api_key_here": key},
        tmp_path,
    )
    out = _run([sys.executable, str(program)], tmp_path).stdout
    lines = out.splitlines()
    assert lines[0] == "Available modes: ['ocr', 'table', 'formula', 'chart', 'document']"
    assert lines[1] == "Mode used: table"
    _assert_table_text(out)
    assert lines[-1] == "Tokens: 0"  # the CPU engine has no tokenizer
    assert _job_count(service, key) == 1


def test_the_curl_and_jq_script_processes_an_image(service, tmp_path, document_png):
    key = service.new_key("seed-curl@example.com")
    program = _program(
        "jobs_curl.sh",
        {"https://api.deepreadocr.com/api/v1": f"{service.base_url}/api/v1", "your_api_key_here": key},
        tmp_path,
    )
    out = _run(["bash", str(program)], tmp_path).stdout
    assert out.startswith("Uploading to: ")
    assert out.splitlines()[0].endswith("/document.png")
    assert "Status: completed" in out
    lines = out.splitlines()
    start = len(lines) - 1 - lines[::-1].index("{")  # `curl | jq` pretty-prints the result document last
    result = json.loads("\n".join(lines[start:]))
    assert (result["mode"], result["filename"], result["model"]) == ("table", "document.png", "rapidocr-ppocrv6")
    assert result["pages"][0]["tables"][0]["rows"] == ROWS
    assert _job_count(service, key) == 1


def _node_modules() -> Path:
    """axios and form-data in the test's own folder, installed once; skip if npm cannot reach its registry."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed")
    modules = NODE_DIR / "node_modules"
    if all((modules / name.split("@")[0] / "package.json").exists() for name in NODE_PACKAGES):
        return modules
    NODE_DIR.mkdir(parents=True, exist_ok=True)
    install = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NODE_DIR), *NODE_PACKAGES],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if install.returncode != 0:
        pytest.skip(f"npm could not install {' '.join(NODE_PACKAGES)}: {install.stderr.strip()[-300:]}")
    return modules


def test_the_node_program_processes_an_image(service, tmp_path, document_png):
    modules = _node_modules()
    key = service.new_key("seed-node@example.com")
    program = _program(
        "jobs_node.js",
        {"https://api.deepreadocr.com/api/v1": f"{service.base_url}/api/v1", "your_api_key_here": key},
        tmp_path,
    )
    done = _run(["node", str(program)], tmp_path, NODE_PATH=str(modules))
    out = done.stdout
    assert done.stderr == ""
    lines = out.splitlines()
    assert lines[0] == "Available modes: [ 'ocr', 'table', 'formula', 'chart', 'document' ]"
    assert lines[1] == "Mode used: table"
    _assert_table_text(out)
    assert lines[-1] == "Tokens: 0"
    assert _job_count(service, key) == 1


# --- the /v1/ocr document (001) ------------------------------------------------------------------------------
def _ocr_replacements(service, key: str, image_url: str | None = None) -> dict[str, str]:
    swaps = {"https://api.neosantara.xyz/v1/ocr": f"{service.base_url}/v1/ocr", "your_api_key_here": key}
    if image_url:
        swaps["https://res.cloudinary.com/dcwnn9c0u/image/upload/v1762880072/gh1nwfzslf4glu2cde9z.jpg"] = image_url
    return swaps


def test_the_ocr_examples_by_url_and_by_base64_with_the_annotated_image(service, tmp_path, image_server):
    key = service.new_key("seed-ocr@example.com")
    (tmp_path / "document.png").write_bytes(png_bytes())
    program = _program("ocr_python.py", _ocr_replacements(service, key, image_server), tmp_path)
    out = _run([sys.executable, str(program)], tmp_path).stdout
    saved = "Annotated image saved as 'annotated_image.png'"
    _, by_url, by_base64 = out.split("Extracted Text: ")
    assert by_base64.rstrip().endswith(saved)
    for text in (by_url, by_base64.rstrip().removesuffix(saved)):
        assert cer("\n".join(LINES), text.strip()) < 0.05
    assert (tmp_path / "annotated_image.png").read_bytes().startswith(b"\x89PNG")
    usage = requests.get(f"{service.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert usage.headers["X-RateLimit-Remaining"] == "998"  # two calls, two requests


def test_the_error_handling_example_reports_the_image_error_not_the_model(service, tmp_path, image_server):
    key = service.new_key("seed-errors@example.com")
    program = _program("ocr_errors_python.py", _ocr_replacements(service, key), tmp_path)
    out = _run([sys.executable, str(program)], tmp_path).stdout
    # example.com cannot be fetched from here (no network): the image's own error, not model_not_found
    assert "Type: invalid_request_error" in out
    assert "Code: image_fetch_failed" in out
    assert "Extracted:" not in out
    # and the same function on a reachable image returns its text
    text = program.read_text().replace("https://example.com/document.jpg", image_server)
    program.write_text(text)
    out = _run([sys.executable, str(program)], tmp_path).stdout
    assert out.startswith("Extracted: ")
    assert cer("\n".join(LINES), out.removeprefix("Extracted: ").strip()) < 0.05


def test_the_quick_test_curl(service, tmp_path, image_server):
    key = service.new_key("seed-quick@example.com")
    swaps = _ocr_replacements(service, key, image_server)
    swaps["YOUR_API_KEY"] = swaps.pop("your_api_key_here")
    program = _program("ocr_quick_test.sh", swaps, tmp_path)
    body = json.loads(_run(["bash", str(program)], tmp_path).stdout)
    assert body["object"] == "ocr.completion"
    assert body["model"] == "rapidocr-ppocrv6"  # asked for deepseek-ocr; names what ran
    assert cer("\n".join(LINES), body["choices"][0]["text"]) < 0.05
    assert "result_image_base64" not in body


# --- the copies are the documents' programs --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "seed"),
    [
        ("jobs_python.py", "000_27cf774299753d35.txt"),
        ("jobs_node.js", "000_27cf774299753d35.txt"),
        ("jobs_curl.sh", "000_27cf774299753d35.txt"),
        ("ocr_python.py", "001_a61a6b17c196a70a.txt"),
        ("ocr_errors_python.py", "001_a61a6b17c196a70a.txt"),
        ("ocr_quick_test.sh", "001_a61a6b17c196a70a.txt"),
    ],
)
def test_each_copy_is_the_documents_program_verbatim(name, seed):
    if not (SEEDS / seed).exists():
        pytest.skip(f"the seed documents are not beside this checkout ({SEEDS})")
    assert (HERE / name).read_text().rstrip("\n") in (SEEDS / seed).read_text()
