"""The per-key burst limit under concurrency (not a test; issue 11 item 4): 8 clients send 1,500 requests
together with one API key at a limit of 600 a minute, against gunicorn (2 processes × 8 threads) on each counter
store: the embedded SQLite file and Redis (DB 13 of 127.0.0.1:6379). Exactly 600 must be allowed on each.

    .venv/bin/python -m bench.burst_limit [--requests 1500] [--clients 8] [--limit 600] [--stores sqlite,redis]

The requests are sent inside one clock minute (the bench waits for a fresh one if less than 40 s are left), so
the window does not turn over during the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import requests

from devtools.stack import running_stack

ROOT = Path(__file__).resolve().parents[1]

REDIS = "redis://127.0.0.1:6379/13"


def run(store: str, *, total: int, clients: int, limit: int) -> dict:
    env = {"DEEPREAD_BURST_PER_MINUTE": str(limit), "DEEPREAD_SYNC_WARM": "0"}
    if store == "redis":
        import redis

        redis.Redis.from_url(REDIS).flushdb()
        env["REDIS_URL"] = REDIS
    with tempfile.TemporaryDirectory(prefix="deepread-burst-") as var, running_stack(Path(var), env=env) as stack:
        key = stack.new_key("burst@example.com")
        left = 60 - time.time() % 60
        if left < 40:
            time.sleep(left + 0.5)
        tickets = iter(range(total))
        lock = threading.Lock()
        statuses: Counter[int] = Counter()
        barrier = threading.Barrier(clients)

        def client() -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {key}"
            barrier.wait()
            while True:
                with lock:
                    if next(tickets, None) is None:
                        return
                code = session.get(f"{stack.base_url}/v1/models", timeout=30).status_code
                with lock:
                    statuses[code] += 1

        threads = [threading.Thread(target=client) for _ in range(clients)]
        started = time.time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.time() - started
        same_minute = int(started // 60) == int((started + elapsed) // 60)
    return {"store": store, "allowed": statuses[200], "refused": statuses[429], "other": total - statuses[200] -
            statuses[429], "seconds": elapsed, "one_window": same_minute}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--stores", default="sqlite,redis")
    args = parser.parse_args()
    print(f"{dt.date.today()}: {args.clients} clients, {args.requests} requests, limit {args.limit}/min")
    failed = False
    for store in args.stores.split(","):
        row = run(store, total=args.requests, clients=args.clients, limit=args.limit)
        ok = row["allowed"] == args.limit and row["other"] == 0 and row["one_window"]
        failed |= not ok
        print(
            f"{row['store']:>7}: allowed {row['allowed']}, refused {row['refused']} (429), other {row['other']}, "
            f"{row['seconds']:.1f} s, one window: {row['one_window']}  {'OK' if ok else 'WRONG'}"
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
