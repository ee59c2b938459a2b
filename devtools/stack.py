"""A real DeepRead on embedded defaults, as `make run` starts it: the web server (uvicorn), a Celery worker on the
filesystem broker, SQLite and local storage, all under one temporary var/ directory. Used by the end-to-end tests
and the benchmarks; clients talk to it over HTTP as users would."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from deepread import processes

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass
class Stack:
    base_url: str
    env: dict[str, str]
    var: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def manage(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=True
        )
        return out.stdout

    def new_key(self, email: str, tier: str = "standard") -> str:
        return self.manage("create_api_key", email, "--tier", tier).strip().splitlines()[-1]

    def log(self, name: str) -> str:
        return (self.var / f"{name}.log").read_text(errors="replace")

    def wait_result(self, headers: dict, job_id: str, timeout: float = 90) -> dict:
        """Poll `GET /api/v1/results/<id>` until the job ends (completed, failed or cancelled); the worker's log if
        it never does."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            body = requests.get(f"{self.base_url}/api/v1/results/{job_id}", headers=headers, timeout=10).json()
            if body["status"] in ("completed", "failed", "cancelled"):
                return body
            time.sleep(0.3)  # within the default burst limit (600 a minute per key) however long the job takes
        raise AssertionError(f"job {job_id} did not finish:\n{self.log('worker')[-3000:]}")

    def start(self, name: str, command: list[str], **env: str) -> subprocess.Popen:
        """Another process of the deployment (a second worker, the scheduler), logged to var/<name>.log."""
        log = open(self.var / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(command, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_stack(
    var: Path,
    *,
    engine: str = "rapidocr",
    env: dict[str, str] | None = None,
    web_workers: int = 2,
    access_log: bool = False,
    worker_pool: str | None = None,
) -> Iterator[Stack]:
    port = free_port()
    full_env = {
        **os.environ,
        "DEEPREAD_VAR_DIR": str(var),
        "CELERY_BROKER_URL": "filesystem://",
        "DEEPREAD_ENGINE": engine,
        "DEEPREAD_WORKER_CONCURRENCY": "1",
        "DJANGO_SETTINGS_MODULE": "deepread.settings",
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=full_env, check=True, capture_output=True)
    commands = {
        "web": processes.web(BIN, bind=f"127.0.0.1:{port}", workers=web_workers, access_log=access_log),
        "worker": processes.worker(
            BIN, engine=engine, concurrency=processes.worker_concurrency(engine, full_env), pool=worker_pool
        ),
    }
    logs = {name: open(var / f"{name}.log", "w") for name in commands}  # noqa: SIM115
    stack = Stack(base_url=f"http://127.0.0.1:{port}", env=full_env, var=var)
    for name, command in commands.items():
        stack.procs[name] = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=logs[name], stderr=subprocess.STDOUT
        )
    try:
        _wait_until_up(stack)
        yield stack
    finally:
        for proc in stack.procs.values():
            proc.terminate()
        for proc in stack.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for fh in logs.values():
            fh.close()


def wait_for_web(proc: subprocess.Popen, port: int, timeout: float = 60) -> None:
    """Wait until the web process `proc` answers any HTTP response on 127.0.0.1:`port` (polled every 0.2 s).

    Raises AssertionError if `proc` exits first or nothing answers within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/accounts/login/", timeout=5)
            return
        except requests.RequestException:
            assert proc.poll() is None, "the web server exited"
            assert time.monotonic() < deadline, "the web server did not start"
            time.sleep(0.2)


def _wait_until_up(stack: Stack, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            if requests.get(stack.base_url + "/accounts/login/", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or busy loading the engine
            pass
        if time.time() > deadline or any(p.poll() is not None for p in stack.procs.values()):
            raise RuntimeError("DeepRead did not start:\n" + stack.log("web")[-3000:] + stack.log("worker")[-3000:])
        time.sleep(0.1)
