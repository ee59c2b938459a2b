"""A real DeepRead on embedded defaults: gunicorn and a Celery worker process on the filesystem broker, SQLite and
local storage, all under a temporary var/ directory. Clients talk to it over HTTP as users would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass
class Service:
    base_url: str
    env: dict[str, str]

    def manage(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=True
        )
        return out.stdout

    def new_key(self, email: str, tier: str = "standard") -> str:
        return self.manage("create_api_key", email, "--tier", tier).strip().splitlines()[-1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    var = tmp_path_factory.mktemp("e2e-var")
    port = _free_port()
    env = {
        **os.environ,
        "DEEPREAD_VAR_DIR": str(var),
        "CELERY_BROKER_URL": "filesystem://",
        "DEEPREAD_WORKER_CONCURRENCY": "1",
        "DJANGO_SETTINGS_MODULE": "deepread.settings",
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    logs = {name: open(var / f"{name}.log", "w") for name in ("web", "worker")}  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [str(BIN / "gunicorn"), "deepread.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--worker-class", "gthread", "--threads", "8"],
            cwd=ROOT, env=env, stdout=logs["web"], stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [str(BIN / "celery"), "-A", "deepread", "worker", "-Q", "cpu", "-c", "1", "-l", "INFO"],
            cwd=ROOT, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT,
        ),
    ]  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            if requests.get(base_url + "/accounts/login/", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.time() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError("DeepRead did not start:\n" + (var / "web.log").read_text()[-3000:])
        time.sleep(0.3)
    yield Service(base_url=base_url, env=env)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    for fh in logs.values():
        fh.close()
