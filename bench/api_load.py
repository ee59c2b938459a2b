"""Load on the job API in its production shape (not a test): gunicorn + PostgreSQL + Redis (broker, cache, burst
limiter) with the fake vLLM engine, and 100,000 jobs in the database. Prints requests per second and p50/p99 for
`POST /upload/signed-url`, `GET /processing-jobs` (paginated) and `GET /results/<id>`. Targets on 2 cores: p99
<= 100 ms, zero errors.

    .venv/bin/python -m bench.api_load [--jobs 100000] [--seconds 20] [--clients 8]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`) and Redis on 127.0.0.1:6379; it creates and drops
a database of its own.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

from devtools.fake_vllm import FakeVllm
from devtools.stack import running_stack

ROOT = Path(__file__).resolve().parents[1]

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def seed(database_url: str, jobs: int, media: Path) -> tuple[str, list[str]]:
    """The account and its jobs, written straight to PostgreSQL with COPY, every completed one pointing at a real
    result file in storage. Returns the account's e-mail and the job ids."""
    import json

    import psycopg

    email = "load@example.com"
    ids = [str(uuid.uuid4()) for _ in range(jobs)]
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(database_url) as conn:
        user_id = conn.execute("SELECT id FROM accounts_user WHERE email = %s", (email,)).fetchone()[0]
        result_key = f"outputs/{user_id}/ocr/sample.json"
        (media / result_key).parent.mkdir(parents=True, exist_ok=True)
        blocks = [{"type": "text", "text": f"line {i}", "bbox": [10, 10 * i, 600, 10 * i + 8]} for i in range(60)]
        page = {
            "page": 1,
            "width": 1240,
            "height": 1754,
            "text": "Invoice " * 200,
            "finish_reason": "stop",
            "blocks": blocks,
            "usage": {"prompt_tokens": 900, "completion_tokens": 700, "total_tokens": 1600},
        }
        (media / result_key).write_text(json.dumps({"job_id": "x", "mode": "ocr", "pages": [page]}))
        columns = (
            "id, owner_id, status, mode, prompt, output_kind, filename, content_type, upload_key, size, page_count, "
            "pages_done, output_key, result_key, model, error, usage_month, refunded, attempts, created_at, "
            "updated_at, started_at, finished_at"
        )
        with conn.cursor().copy(f"COPY ocrjobs_job ({columns}) FROM STDIN") as copy:
            for n, job_id in enumerate(ids):
                done = n % 10 != 0
                created = now - dt.timedelta(seconds=jobs - n)
                copy.write_row(
                    (job_id, user_id, "completed" if done else "failed", ("ocr", "table", "document")[n % 3], "p",
                     "text", f"scan-{n:06d}.png", "image/png", f"uploads/{user_id}/{job_id}/scan-{n:06d}.png",
                     1000 + n, 1, 1, f"ocr/scan-{n:06d}.json" if done else None, result_key if done else "", "fake",
                     "" if done else "bad",
                     created.date().replace(day=1), False, 1, created, created, created, created)
                )  # fmt: skip
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE ocrjobs_job")  # what autovacuum does to a table in steady state
    return email, ids


def hammer(name: str, call, seconds: float, clients: int) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.time() + seconds

    def run(index: int) -> None:
        nonlocal errors
        session = requests.Session()
        session.headers["X-Client"] = str(index)
        mine, bad = [], 0
        while time.time() < stop:
            started = time.perf_counter()
            try:
                ok = call(session, index).status_code == 200
            except requests.RequestException:
                ok = False
            mine.append((time.perf_counter() - started) * 1000)
            bad += not ok
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "name": name,
        "rps": len(latencies) / seconds,
        "p50": statistics.median(latencies),
        "p99": latencies[int(0.99 * (len(latencies) - 1))],
        "errors": errors,
        "n": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    import psycopg

    name = f"deepread_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    fake = FakeVllm(capacity=64, latency=0.05).start()
    env = {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "DEEPREAD_ENGINE": "vllm",
        "VLLM_BASE_URL": fake.base_url,
        "DEEPREAD_BURST_PER_MINUTE": "10000000",
        "DEEPREAD_LOG_LEVEL": "WARNING",
        "DEEPREAD_SYNC_WARM": "0",
    }
    try:
        with tempfile.TemporaryDirectory() as var, running_stack(Path(var), engine="vllm", env=env) as stack:
            key = stack.new_key("load@example.com", "enterprise")
            started = time.time()
            _, ids = seed(database_url, args.jobs, Path(var) / "media")
            seeded = time.time() - started
            print(f"api_load {dt.date.today().isoformat()} on {os.cpu_count()} cores: {args.jobs} jobs seeded in "
                  f"{seeded:.1f} s; {args.clients} clients, {args.seconds:g} s per endpoint")  # fmt: skip
            headers = {"X-API-Key": key}
            # Sign-ups for uploads come from several accounts (one per client): one account's quota row is a
            # lock its own requests queue on, by design.
            writers = [
                {"X-API-Key": stack.new_key(f"writer{i}@example.com", "enterprise")} for i in range(args.clients)
            ]
            base = stack.base_url
            results = [
                hammer(
                    "POST /upload/signed-url",
                    lambda s, i: s.post(f"{base}/api/v1/upload/signed-url", params={"mode": "ocr"},
                                        headers=writers[i], json={"filename": "x.png"}, timeout=30),
                    args.seconds, args.clients,
                ),
                hammer(
                    "GET /processing-jobs (100, pages 1-20)",
                    lambda s, i: s.get(f"{base}/api/v1/processing-jobs",
                                       params={"limit": 100, "offset": random.randrange(0, 20) * 100},
                                       headers=headers, timeout=30),
                    args.seconds, args.clients,
                ),
                hammer(
                    "GET /results/<id>",
                    lambda s, i: s.get(f"{base}/api/v1/results/{random.choice(ids)}", headers=headers, timeout=30),
                    args.seconds, args.clients,
                ),
            ]  # fmt: skip
    finally:
        fake.stop()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"{'endpoint':34s}{'req/s':>8s}{'p50 ms':>9s}{'p99 ms':>9s}{'errors':>8s}")
    for r in results:
        print(f"{r['name']:34s}{r['rps']:8.1f}{r['p50']:9.1f}{r['p99']:9.1f}{r['errors']:8d}")
    print("targets: p99 <= 100 ms, zero errors")


if __name__ == "__main__":
    main()
