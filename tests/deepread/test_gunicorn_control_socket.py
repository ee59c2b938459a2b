"""gunicorn's control socket (issue 11 item 6): by default it sits at one per-user path, so a second instance of
the same user takes over the first's. The web server is uvicorn now (`deepread.webserver`); any gunicorn that a
command line of DeepRead's starts (`make run`, systemd, compose, the Dockerfile) must pass `--no-control-socket`,
and a running web process opens no control socket."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from deepread import processes
from devtools.stack import free_port, wait_for_web

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _command_lines() -> dict[str, str]:
    files = [*ROOT.glob("deploy/**/*"), ROOT / "Makefile", ROOT / "scripts/run.py", ROOT / "deepread/processes.py"]
    lines = {
        f"{path.relative_to(ROOT)}:{number}": line
        for path in files
        if path.is_file()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
    }
    lines["processes.web"] = " ".join(processes.web(BIN, bind="127.0.0.1:8000"))
    return lines


def test_no_command_line_starts_gunicorn_with_its_shared_control_socket():
    starts = {where: line for where, line in _command_lines().items() if re.search(r"gunicorn\s+deepread\.", line)}
    for where, line in starts.items():
        assert "--no-control-socket" in line, where
    web = processes.web(BIN, bind="127.0.0.1:8000")
    assert "gunicorn" not in Path(web[0]).name or "--no-control-socket" in web


def test_a_running_web_process_opens_no_control_socket(tmp_path):
    """The real command line of `make run`, with its own HOME and XDG_RUNTIME_DIR: no *.ctl appears."""
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
    command = processes.web(BIN, bind=f"127.0.0.1:{port}", workers=1, access_log=False)
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_web(proc, port)
        time.sleep(0.5)
        found = [p for p in (*home.rglob("*"), *runtime.rglob("*")) if p.name.endswith(".ctl")]
        assert found == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
