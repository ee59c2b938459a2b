"""A web process killed during a `POST /v1/ocr` call gives the request back (issue 13 item 3), on the real server:
uvicorn's workers with their engine processes, SQLite, the CPU engine. The call's hold on its spent request stays
behind the dead process; the scheduler's sweep refunds it once the hold expires. The dead worker's engine process
exits by itself, and uvicorn's supervisor starts a new worker that answers."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import threading

import pytest
import requests

from bench.proctree import tree_pids
from devtools.samples import pdf_bytes
from devtools.stack import running_stack
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e
BOUND_S = 120  # bounds a hang only


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _stat(pid: int) -> list[str]:
    """State and parent pid first, then the rest of /proc/<pid>/stat; [] once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _alive(pid: int) -> bool:
    return _stat(pid)[:1] not in ([], ["Z"])  # a zombie has exited


def test_a_web_worker_killed_mid_call_gives_the_request_back(tmp_path):
    env = {"DEEPREAD_SYNC_HOLD_S": "1", "DEEPREAD_SYNC_QUEUE": "10"}
    with running_stack(tmp_path, env=env, web_workers=2) as stack:
        key = stack.new_key("dies@example.com")
        db = sqlite3.connect(tmp_path / "deepread.sqlite3", timeout=30)

        def used() -> int:
            row = db.execute("SELECT COALESCE(SUM(used), 0) FROM accounts_monthlyusage").fetchone()
            return row[0]

        def holds() -> int:
            return db.execute("SELECT COUNT(*) FROM accounts_quotahold").fetchone()[0]

        web = stack.procs["web"].pid
        workers = [pid for pid in tree_pids(web) if _stat(pid)[1:2] == [str(web)] and "spawn_main" in _cmdline(pid)]
        assert len(workers) == 2
        wait_until(
            lambda: all(len(tree_pids(w)) > 1 for w in workers),
            "each worker has started its engine process",
            bound_s=BOUND_S,
        )
        engines = [pid for w in workers for pid in tree_pids(w) if pid != w]
        # Ten pages take the CPU engine long enough to be caught in the middle.
        document = pdf_bytes([[f"Page {n} of a long document", "with a second line"] for n in range(10)])
        answer: dict[str, object] = {}

        def call() -> None:
            try:
                answer["response"] = requests.post(
                    f"{stack.base_url}/v1/ocr",
                    json={"image": base64.b64encode(document).decode(), "image_type": "base64"},
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=BOUND_S,
                )
            except requests.RequestException as exc:
                answer["error"] = exc

        caller = threading.Thread(target=call)
        caller.start()
        wait_until(lambda: holds() == 1, "the call has spent its request and holds it", bound_s=BOUND_S)
        for pid in workers:  # the call is in one of them
            os.kill(pid, signal.SIGKILL)
        caller.join(BOUND_S)
        assert "error" in answer  # the connection died with its worker: no answer
        assert (used(), holds()) == (1, 1)

        wait_until(lambda: not any(_alive(pid) for pid in engines), "the engine processes exit", bound_s=BOUND_S)
        stack.manage("shell", "--no-imports", "-c", "from accounts.tasks import quota_holds_sweep_task as t; t()")
        assert (used(), holds()) == (0, 0)  # given back, once

        wait_until(
            lambda: requests.get(f"{stack.base_url}/api/v1/ocr-modes", headers={"X-API-Key": key}, timeout=10).ok,
            "a new worker answers",
            bound_s=BOUND_S,
        )
        db.close()
