"""Slow and idle clients against the web server, at full length (not a test; the suite runs a 30 s version in
tests/e2e/test_slow_clients.py).

A stack on embedded defaults (as `make run`), then for `--hold` seconds: `--slow-headers` connections sending one
header line every 2 s and `--slow-bodies` sending one body byte every 2 s (re-opened when the server cuts them, as an
attacker would), a prober requesting `/accounts/login/` and `/api/v1/ocr-modes` on fresh connections back to back,
and a client polling `/api/v1/ocr-modes` every 2,000 ms on one kept-alive connection `--polls` times.

    .venv/bin/python -m bench.slow_clients            # 50 + 10 slow connections, 30 polls 2,000 ms apart (60 s)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from devtools.slow_clients import SlowClients, keepalive_probe, latency_probe
from devtools.stack import running_stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow-headers", type=int, default=50)
    parser.add_argument("--slow-bodies", type=int, default=10)
    parser.add_argument("--polls", type=int, default=30)
    parser.add_argument("--gap", type=float, default=2.0)
    args = parser.parse_args()
    env = {"DEEPREAD_SYNC_WARM": "0", "DEEPREAD_BURST_PER_MINUTE": "1000000"}
    with tempfile.TemporaryDirectory() as var, running_stack(Path(var), env=env) as stack:
        key = stack.new_key("bench@example.com")
        paths = [("/accounts/login/", {}), ("/api/v1/ocr-modes", {"X-API-Key": key})]
        normal: list[float] = []
        stop = threading.Event()
        timer = threading.Timer(10, stop.set)
        timer.start()
        latency_probe(stack.base_url, paths, stop, normal)
        with SlowClients(stack.base_url, slow_headers=args.slow_headers, slow_bodies=args.slow_bodies) as slow:
            loaded: list[float] = []
            stop = threading.Event()
            prober = threading.Thread(target=latency_probe, args=(stack.base_url, paths, stop, loaded))
            prober.start()
            started = time.time()
            try:
                statuses = keepalive_probe(
                    stack.base_url, "/api/v1/ocr-modes", {"X-API-Key": key}, times=args.polls, gap_s=args.gap
                )
            finally:
                stop.set()
                prober.join()
            held = time.time() - started
            still_open, cut = slow.open_count(), slow.cut

    def fmt(values: list[float]) -> str:
        values = sorted(values)
        p99 = values[min(len(values) - 1, int(0.99 * len(values)))]
        return f"{len(values)} requests, p50 {statistics.median(values) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"

    print(f"alone (10 s):                 {fmt(normal)}")
    print(f"with slow clients ({held:.0f} s):    {fmt(loaded)}")
    print(f"slow connections still open at the end: {still_open} of {args.slow_headers + args.slow_bodies}; cut: {cut}")
    print(f"keep-alive polls {args.gap * 1000:.0f} ms apart on one connection: {statuses.count(200)}/{args.polls} "
          "answered, no reset")  # fmt: skip


if __name__ == "__main__":
    main()
