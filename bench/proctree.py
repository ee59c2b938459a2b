"""Figures of a process and all its descendants, from /proc: the CPU time and memory of gunicorn's or Celery's
whole family, as the benchmarks report them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_sum(root_pid: int, value: Callable[[Path, list[str]], float]) -> float:
    """Sum `value(/proc/<pid>, stat fields after the name)` over root_pid and its descendants."""
    parents: dict[int, int] = {}
    values: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            values[int(entry.name)] = value(entry, fields)
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        total += values.get(pid, 0.0)
        stack += [child for child, parent in parents.items() if parent == pid]
    return total


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds."""
    return tree_sum(root_pid, lambda _, fields: (int(fields[11]) + int(fields[12])) / CLK_TCK)


def _rss_mb(entry: Path, _: list[str]) -> float:
    line = next((x for x in (entry / "status").read_text().splitlines() if x.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) / 1024


def tree_rss_mb(root_pid: int) -> float:
    """Resident memory in MB."""
    return tree_sum(root_pid, _rss_mb)
