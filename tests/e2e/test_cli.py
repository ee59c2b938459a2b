"""The `deepread` command against a live DeepRead: a folder of files with progress, outputs and exit codes, a 429
from the server's own burst limit waited out and retried, and a refused file reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from devtools.samples import LINES, cer, encode, pdf_bytes, png_bytes, render_lines, render_table
from devtools.stack import running_stack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
BURST = 30  # requests a minute per key on this stack, so that a test can fill the window and see 429s
ROWS = [["Item", "Qty", "Price"], ["Apples", "12", "3.40"], ["Pears", "7", "2.15"]]
PDF_PAGES = [["Chapter one begins here"], ["Chapter two follows on"]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    env = {"DEEPREAD_BURST_PER_MINUTE": str(BURST)}
    with running_stack(tmp_path_factory.mktemp("cli-var"), env=env) as running:
        yield running


def deepread(*args: str, key: str, base_url: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """The command as a user runs it (`deepread …`), from this checkout, with the key and URL in the environment."""
    env = {**os.environ, "DEEPREAD_API_KEY": key, "DEEPREAD_BASE_URL": base_url, "PYTHONPATH": str(ROOT),
           "COLUMNS": "120", "DEEPREAD_CONFIG": str(cwd / "absent.toml")}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "deepread.client", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def _folder(root: Path) -> Path:
    scans = root / "scans"
    (scans / "sub").mkdir(parents=True)
    (scans / "letter.png").write_bytes(png_bytes())
    (scans / "prices.png").write_bytes(encode(render_table(ROWS)))
    (scans / "memo.jpg").write_bytes(encode(render_lines(["Meeting moved to Thursday at ten"]), "JPEG"))
    (scans / "report.pdf").write_bytes(pdf_bytes(PDF_PAGES))
    (scans / "sub" / "note.png").write_bytes(png_bytes(["Remember the milk and the bread"]))
    (scans / "broken.png").write_bytes(png_bytes()[:300])  # a PNG cut short: the server refuses it
    (scans / "readme.txt").write_text("not a scan")  # not a readable type: a folder leaves it out
    return scans


def _fill_burst_window(stack, key: str) -> int:
    """Spend this key's burst allowance so that the command's first request gets 429 with Retry-After."""
    for n in range(BURST + 5):
        response = requests.get(f"{stack.base_url}/api/v1/ocr-modes", headers={"X-API-Key": key}, timeout=10)
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            return n
    raise AssertionError("the burst limit never answered 429")


def test_a_folder_with_progress_a_429_retried_and_a_refused_file(stack, tmp_path):
    scans = _folder(tmp_path)
    key = stack.new_key("cli@example.com")
    assert _fill_burst_window(stack, key) == BURST
    out = tmp_path / "results"
    done = deepread("ocr", str(scans), "--format", "md", "--out", str(out), "--concurrency", "3", "--json",
                    key=key, base_url=stack.base_url, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "retrying after HTTP 429" in done.stderr
    summary = json.loads(done.stdout)
    assert [Path(f["file"]).name for f in summary["failed"]] == ["broken.png"]
    assert "corrupt or truncated" in summary["failed"][0]["error"]
    assert "Failed:" in done.stderr
    assert "broken.png" in done.stderr.split("Failed:")[1]
    written = sorted(Path(f["output"]).name for f in summary["written"])
    assert written == ["letter.ocr.md", "memo.ocr.md", "note.ocr.md", "prices.ocr.md", "report.ocr.md"]
    assert sorted(p.name for p in out.iterdir()) == written  # no temporary or partial file left
    assert cer("\n".join(LINES), (out / "letter.ocr.md").read_text().strip()) < 0.05
    assert cer("Meeting moved to Thursday at ten", (out / "memo.ocr.md").read_text().strip()) < 0.1
    report = (out / "report.ocr.md").read_text()
    assert report.index("one") < report.index("two")
    for row in ROWS:
        for cell in row:
            assert cell in (out / "prices.ocr.md").read_text()
    assert "5 of 6 done" in done.stderr
    # the same folder as CSV beside the inputs, table mode, from a glob: tables as CSV rows
    done = deepread("ocr", "scans/prices.*", "--mode", "table", "--format", "csv", key=stack.new_key("c2@example.com"),
                    base_url=stack.base_url, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (scans / "prices.table.csv").read_text() == "Item,Qty,Price\nApples,12,3.40\nPears,7,2.15\n"


def test_jobs_result_modes_and_usage(stack, tmp_path):
    key = stack.new_key("cli-reads@example.com")
    (tmp_path / "letter.png").write_bytes(png_bytes())
    done = deepread("ocr", "letter.png", "--json", key=key, base_url=stack.base_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (written,) = json.loads(done.stdout)["written"]
    assert written["output"] == "letter.ocr.json"  # beside the input, named as the user named it
    document = json.loads((tmp_path / "letter.ocr.json").read_text())
    assert (document["mode"], document["filename"]) == ("ocr", "letter.png")

    listing = json.loads(deepread("jobs", "--json", key=key, base_url=stack.base_url, cwd=tmp_path).stdout)
    (job,) = listing["files"]
    assert (job["job_id"], job["status"], listing["total_count"]) == (written["job_id"], "completed", 1)

    text = deepread("result", job["job_id"], "--format", "txt", key=key, base_url=stack.base_url, cwd=tmp_path)
    assert text.returncode == 0
    assert cer("\n".join(LINES), text.stdout.strip()) < 0.05

    modes = json.loads(deepread("modes", "--json", key=key, base_url=stack.base_url, cwd=tmp_path).stdout)
    assert [m["name"] for m in modes] == ["ocr", "table", "formula", "chart", "document"]
    table = deepread("modes", key=key, base_url=stack.base_url, cwd=tmp_path).stdout
    assert "General OCR" in table

    usage = json.loads(deepread("usage", "--json", key=key, base_url=stack.base_url, cwd=tmp_path).stdout)
    assert usage["month"]["used"] == 1
    assert "Used 1 of 1000 requests" in deepread("usage", key=key, base_url=stack.base_url, cwd=tmp_path).stdout

    missing = deepread("result", "00000000-0000-0000-0000-000000000000", key=key, base_url=stack.base_url,
                       cwd=tmp_path)  # fmt: skip
    assert missing.returncode == 1
    assert "404" in missing.stderr


def test_no_key_is_a_usage_error_and_a_missing_file_is_reported(stack, tmp_path):
    done = deepread("modes", key="", base_url=stack.base_url, cwd=tmp_path)
    assert done.returncode == 2
    assert "No API key" in done.stderr
    key = stack.new_key("cli-missing@example.com")
    done = deepread("ocr", "nowhere.png", key=key, base_url=stack.base_url, cwd=tmp_path)
    assert done.returncode == 1
    assert "nowhere.png: No such file." in done.stderr
    listing = requests.get(f"{stack.base_url}/api/v1/processing-jobs", headers={"X-API-Key": key}, timeout=10)
    assert listing.json()["total_count"] == 0  # nothing was asked of the server
