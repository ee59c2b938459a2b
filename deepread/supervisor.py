"""A small process supervisor for `make run`: it starts DeepRead's processes, restarts one that dies (with backoff,
logged) while the others keep serving, and stops them all cleanly on Ctrl-C or SIGTERM.

Production uses systemd (`deploy/systemd/`, `Restart=always`) or the container runtime for the same job; this is
the embedded equivalent, so that a worker killed by the OOM killer or by hand does not take the web server down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass
class _Child:
    name: str
    command: list[str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    failures: int = 0  # deaths in a row, each soon after its start: the backoff grows with them
    restart_at: float | None = None
    history: list[int] = field(default_factory=list)  # exit codes, newest last


class Supervisor:
    """Run `commands` (name -> argv) until `stop()` or a signal; restart any that exits.

    A process that exits is started again after `backoff_s` × 2^(deaths in a row - 1), capped at `max_backoff_s`;
    one that ran for `stable_s` or longer counts as a first death again. Each start and exit is written by `say`.
    On stop, every process gets SIGTERM (its own shutdown: Celery hands running jobs back, gunicorn finishes
    requests) and, after `stop_timeout_s`, SIGKILL to its whole process group.
    """

    def __init__(
        self,
        commands: Mapping[str, list[str]],
        *,
        env: Mapping[str, str] | None = None,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        stable_s: float = 60.0,
        stop_timeout_s: float = 15.0,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.children = {name: _Child(name, list(command)) for name, command in commands.items()}
        self.env = dict(env) if env is not None else None
        self.backoff_s, self.max_backoff_s, self.stable_s = backoff_s, max_backoff_s, stable_s
        self.stop_timeout_s = stop_timeout_s
        self.say = say or (lambda line: print(f"[supervisor] {line}", file=sys.stderr, flush=True))
        self.stopping = False

    def stop(self, *_: object) -> None:
        """Ask the loop to stop (safe from a signal handler)."""
        self.stopping = True

    def _start(self, child: _Child) -> None:
        child.proc = subprocess.Popen(child.command, env=self.env, start_new_session=True)  # noqa: S603 - our argv
        child.started_at, child.restart_at = time.monotonic(), None

    def _reap(self, child: _Child, now: float) -> None:
        code = child.proc.returncode
        child.history.append(code)
        ran = now - child.started_at
        child.failures = 1 if ran >= self.stable_s else child.failures + 1
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** (child.failures - 1))
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        self.say(f"{child.name} (pid {child.proc.pid}) {how} after {ran:.1f} s; restarting in {delay:.1f} s")
        child.proc, child.restart_at = None, now + delay

    def install_signals(self) -> None:
        """SIGINT (Ctrl-C) and SIGTERM stop the supervisor cleanly from now on (call it before saying "started")."""
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGTERM, self.stop)

    def run(self, *, install_signals: bool = True) -> int:
        """Supervise until stopped; returns 0 (the processes' own exits are restarts, not failures)."""
        if install_signals:
            self.install_signals()
        for child in self.children.values():
            self._start(child)
        while not self.stopping:
            now = time.monotonic()
            for child in self.children.values():
                if child.proc is not None and child.proc.poll() is not None:
                    self._reap(child, now)
                if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                    child.restarts += 1
                    self._start(child)
                    self.say(f"{child.name} restarted (pid {child.proc.pid}, restart {child.restarts})")
            time.sleep(0.2)
        self._stop_all()
        return 0

    def _stop_all(self) -> None:
        running = [c for c in self.children.values() if c.proc is not None and c.proc.poll() is None]
        self.say("stopping " + ", ".join(c.name for c in running) if running else "stopping")
        for child in running:
            child.proc.terminate()
        deadline = time.monotonic() + self.stop_timeout_s
        for child in running:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop within {self.stop_timeout_s:.0f} s; killing it")
                os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
