"""gunicorn's control socket (issue 11 item 6): by default it sits at one per-user path, so a second instance
takes over the first's. Every gunicorn DeepRead starts (`make run`, systemd, compose) runs without it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import requests

from deepread import processes
from tests.stack import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _gunicorn_lines() -> dict[str, list[str]]:
    compose = (ROOT / "deploy/compose.yaml").read_text()
    unit = (ROOT / "deploy/systemd/deepread-web.service").read_text()
    command = re.search(r"(gunicorn deepread\.wsgi[^\"\n]*)", compose).group(1)
    exec_start = re.search(r"^ExecStart=(.*gunicorn .*)$", unit, re.MULTILINE).group(1)
    return {
        "make run": processes.web(BIN, bind="127.0.0.1:8000"),
        "compose": shlex.split(command),
        "systemd": shlex.split(exec_start),
    }


def test_every_gunicorn_command_line_turns_the_control_socket_off():
    for where, argv in _gunicorn_lines().items():
        assert "--no-control-socket" in argv, where


def test_a_running_web_process_opens_no_control_socket(tmp_path):
    """The real command line of `make run`, with its own HOME and XDG_RUNTIME_DIR: no gunicorn.ctl appears."""
    home, runtime, var = tmp_path / "home", tmp_path / "run", tmp_path / "var"
    for path in (home, runtime, var):
        path.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "DEEPREAD_VAR_DIR": str(var),
        "DEEPREAD_SYNC_WARM": "0",
        "CELERY_BROKER_URL": "memory://",
        "DJANGO_SETTINGS_MODULE": "deepread.settings",
    }
    command = processes.web(BIN, bind=f"127.0.0.1:{port}", workers=1, threads=2, access_log=False)
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except requests.RequestException:
                assert proc.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        time.sleep(0.5)  # the arbiter starts the control server right after it forks the workers
        found = [p for p in (*home.rglob("*"), *runtime.rglob("*")) if p.name.endswith(".ctl")]
        assert found == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
