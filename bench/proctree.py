"""Figures of a process and all its descendants, from /proc: the CPU time and memory of gunicorn's or Celery's
whole family, as the benchmarks (and the live corpus test) report them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, list[str]]]:
    """Every living process: pid -> (parent pid, the stat fields after the name)."""
    found: dict[int, tuple[int, list[str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[1]), fields)
    return found


def tree_pids(root_pid: int, processes: dict[int, tuple[int, list[str]]] | None = None) -> list[int]:
    """root_pid and its living descendants, parents first."""
    processes = processes if processes is not None else _processes()
    order, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        if pid not in processes:
            continue
        order.append(pid)
        stack += [child for child, (parent, _) in processes.items() if parent == pid]
    return order


def tree_sum(root_pid: int, value: Callable[[Path, list[str]], float]) -> float:
    """Sum `value(/proc/<pid>, stat fields after the name)` over root_pid and its descendants."""
    processes = _processes()
    total = 0.0
    for pid in tree_pids(root_pid, processes):
        try:
            total += value(Path(f"/proc/{pid}"), processes[pid][1])
        except OSError:  # it exited meanwhile
            continue
    return total


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds."""
    return tree_sum(root_pid, lambda _, fields: (int(fields[11]) + int(fields[12])) / CLK_TCK)


def _status_mb(entry: Path, field: str) -> float:
    line = next((x for x in (entry / "status").read_text().splitlines() if x.startswith(f"{field}:")), "x: 0 kB")
    return int(line.split()[1]) / 1024


def tree_rss_mb(root_pid: int) -> float:
    """Resident memory in MB."""
    return tree_sum(root_pid, lambda entry, _: _status_mb(entry, "VmRSS"))


def tree_peak_rss_mb(root_pid: int) -> dict[int, float]:
    """The peak resident memory (VmHWM) in MB of root_pid and of each living descendant."""
    peaks = {}
    for pid in tree_pids(root_pid):
        try:
            peaks[pid] = _status_mb(Path(f"/proc/{pid}"), "VmHWM")
        except OSError:
            continue
    return peaks
