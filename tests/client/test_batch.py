"""`deepread ocr`'s runner without a server: Ctrl-C in the middle of a run keeps what finished, stops the rest at
once and leaves no partial file; a failed job is reported, not written."""

from __future__ import annotations

import io
import os
import signal
import threading
from pathlib import Path

import pytest
from rich.console import Console

from deepread.client.batch import Item, Run
from deepread.client.sdk import Cancelled, JobResult, Upload

DOCUMENT = {"mode": "ocr", "extracted_text": "Hello", "pages": [{"page": 1, "text": "Hello", "blocks": []}]}


class FakeClient:
    """Finishes `fast.png` at once, fails `bad.png`, and holds `slow.png`'s upload until the run is cancelled."""

    def __init__(self) -> None:
        self.slow_started = threading.Event()
        self.slow_stopped = threading.Event()

    def upload(self, path: Path, *, mode, on_bytes, cancel) -> Upload:
        on_bytes(path.stat().st_size)
        if path.name == "slow.png":
            self.slow_started.set()
            if cancel.wait(60):
                self.slow_stopped.set()
                raise Cancelled
            raise AssertionError("never cancelled")
        return Upload(job_id=path.name, upload_url="", mode="ocr")

    def wait(self, job_id: str, *, poll_s, cancel, on_update) -> JobResult:
        failed = job_id == "bad.png"
        state = JobResult(job_id=job_id, status="failed" if failed else "completed", mode="ocr", filename=job_id,
                          pages=1, pages_done=0 if failed else 1, error="The PNG image is corrupt." if failed else None,
                          result=None if failed else DOCUMENT)  # fmt: skip
        on_update(state)
        return state


def _run(tmp_path: Path, names: list[str], client: FakeClient) -> Run:
    for name in names:
        (tmp_path / name).write_bytes(b"\x89PNG" + b"x" * 100)
    items = [Item(tmp_path / name, None) for name in names]
    return Run(client=client, items=items, fmt="md", out_dir=tmp_path / "out", concurrency=2,  # type: ignore[arg-type]
               console=Console(file=io.StringIO()))  # fmt: skip


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt in the main thread, as in a terminal, whatever handler an earlier test in
    this process left installed (an event loop, a browser driver)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_keeps_finished_results_and_leaves_nothing_partial(tmp_path, ctrl_c_raises):
    client = FakeClient()
    run = _run(tmp_path, ["fast.png", "slow.png"], client)

    def interrupt() -> None:
        assert client.slow_started.wait(30)
        while not (tmp_path / "out" / "fast.ocr.md").exists():
            threading.Event().wait(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run.run()
    assert run.cancel.is_set()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fast.ocr.md"]
    assert (tmp_path / "out" / "fast.ocr.md").read_text() == "Hello\n"
    assert client.slow_stopped.is_set()  # the upload in flight was stopped before run() gave up its threads


def test_a_failed_job_is_reported_and_not_written(tmp_path):
    outcomes = _run(tmp_path, ["fast.png", "bad.png"], FakeClient()).run()
    assert [(o.item.source.name, o.error) for o in outcomes] == [
        ("fast.png", None), ("bad.png", "The PNG image is corrupt.")
    ]  # fmt: skip
    assert [o.written.name if o.written else None for o in outcomes] == ["fast.ocr.md", None]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fast.ocr.md"]
