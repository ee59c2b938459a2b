"""The `make run` supervisor: a process that dies is restarted with backoff (logged) while the others keep running,
and a stop ends every process through its own shutdown. Waits are on events (pid files), bounded only for a hang."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from deepread.supervisor import Supervisor
from tests.helpers import wait_until

HANG = 60
CHILD = """
import os, signal, sys, time
out = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *_: (open(out + ".stopped", "a").write(f"{os.getpid()}\\n"), sys.exit(0)))
open(out, "a").write(f"{os.getpid()}\\n")
time.sleep(1000)
"""


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_dead_process_is_restarted_with_backoff_and_a_stop_ends_all(tmp_path):
    worker, web = tmp_path / "worker", tmp_path / "web"
    said: list[str] = []
    supervisor = Supervisor(
        {"worker": [sys.executable, "-c", CHILD, str(worker)], "web": [sys.executable, "-c", CHILD, str(web)]},
        backoff_s=0.2,
        stable_s=3600,
        say=said.append,
    )
    runner = threading.Thread(target=supervisor.run, kwargs={"install_signals": False})
    runner.start()
    try:
        wait_until(lambda: len(_pids(worker)) == 1 and len(_pids(web)) == 1, "both started", bound_s=HANG)
        (web_pid,) = _pids(web)
        for deaths in (1, 2):
            os.kill(_pids(worker)[-1], signal.SIGKILL)
            wait_until(lambda n=deaths: len(_pids(worker)) == n + 1, f"restart {deaths}", bound_s=HANG)
        assert _pids(web) == [web_pid]  # the web process was never touched
        assert _alive(web_pid)
        deaths = [line for line in said if "killed by SIGKILL" in line]
        assert len(deaths) == 2, said
        assert deaths[0].endswith("restarting in 0.2 s"), deaths
        assert deaths[1].endswith("restarting in 0.4 s"), deaths
        assert any("worker restarted" in line and "restart 2" in line for line in said), said
    finally:
        supervisor.stop()
        runner.join(HANG)
    assert not runner.is_alive()
    # each process was asked to stop (SIGTERM, its own shutdown), not killed
    assert _pids(Path(f"{worker}.stopped")) == _pids(worker)[-1:]
    assert _pids(Path(f"{web}.stopped")) == [web_pid]
    assert not any(_alive(pid) for pid in _pids(worker) + _pids(web))


def test_run_py_stops_cleanly_on_ctrl_c(tmp_path):
    """`make run`'s entry point under the supervisor: SIGINT stops it, and it says so."""
    env = {**os.environ, "DEEPREAD_VAR_DIR": str(tmp_path), "PORT": "0", "DEEPREAD_STOP_TIMEOUT_S": "30"}
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-m", "scripts.run"], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    assert "is starting" in proc.stdout.readline() + proc.stdout.readline() + proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=HANG)
    assert proc.returncode == 0, out
    assert "DeepRead stopped." in out
