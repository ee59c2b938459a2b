"""`make run` under fire (not a test): the embedded defaults (scripts/run.py: web, prefork CPU worker with RapidOCR,
scheduler, filesystem broker, SQLite), a worker process SIGKILLed every `--kill-every-s` seconds, alternately the
worker's main process and the pool child doing a page, while clients keep submitting jobs and slow clients hold
connections open (headers one line every 2 s, bodies one byte every 2 s: devtools/slow_clients.py).

At the end it waits for every submitted job and prints: jobs submitted / completed / failed, the requests counted
against the quota (each job once), page rows against pages (each page once), the jobs that were taken over and how
long each kill took to recover (the kill to the completion of the jobs it interrupted), the supervisor's restarts,
the log-in page's p50/p99 during the run, and the RSS of the web and worker process trees every `--sample-s` (the
worker's tree is a new one after each kill of its main process).

    .venv/bin/python -m bench.soak_kill [--minutes 10] [--kill-every-s 120] [--clients 3] [--slow-headers 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

from bench.proctree import _processes, tree_rss_mb
from devtools.samples import encode, pdf_bytes, render_lines
from devtools.slow_clients import SlowClients
from devtools.stack import free_port

ROOT = Path(__file__).resolve().parents[1]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    return [child for child, (parent, _) in _processes().items() if parent == pid]


def _find(supervisor: int, word: str) -> int | None:
    """The supervised process whose command line contains `word` ("worker", "webserver", "beat")."""
    return next((pid for pid in _children(supervisor) if word in _cmdline(pid)), None)


def _manage(env: dict, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--kill-every-s", type=float, default=120)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--slow-headers", type=int, default=10)
    parser.add_argument("--slow-bodies", type=int, default=3)
    parser.add_argument("--sample-s", type=float, default=30)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="deepread-soak-kill-"))
    port = free_port()
    env = {**os.environ, "DEEPREAD_VAR_DIR": str(var), "PORT": str(port), "PYTHONUNBUFFERED": "1",
           "DEEPREAD_BURST_PER_MINUTE": "1000000", "DEEPREAD_LOG_LEVEL": "INFO"}  # fmt: skip
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        _manage(env, *command)
    key = _manage(env, "create_api_key", "soak@example.com", "--tier", "enterprise").strip().splitlines()[-1]
    log = open(var / "run.log", "w")  # noqa: SIM115
    run = subprocess.Popen([sys.executable, "-m", "scripts.run"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base, headers = f"http://127.0.0.1:{port}", {"X-API-Key": key}
    deadline = time.time() + 120
    while True:
        try:
            if requests.get(f"{base}/accounts/login/", timeout=5).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.time() < deadline, (var / "run.log").read_text()[-3000:]
        time.sleep(0.5)

    def document(is_pdf: bool) -> bytes:
        """A document of its own for every job: identical bytes would be answered from the first one's result
        (the duplicate shortcut) without any recognition, and nothing would be in flight to kill."""
        tag = uuid.uuid4().hex[:12]
        if is_pdf:
            return pdf_bytes([[f"Soak {tag} page {n}", "Total 12.50 EUR"] for n in (1, 2, 3)])
        return encode(render_lines([f"Soak test page {tag}", "Total 12.50 EUR"]))

    submitted: dict[str, int] = {}  # job id -> pages
    errors: list[str] = []
    login_ms: list[float] = []
    lock = threading.Lock()
    stop_at = time.time() + args.minutes * 60
    stopping = threading.Event()

    def client() -> None:
        while time.time() < stop_at:
            is_pdf = random.random() < 0.3
            try:
                ticket = requests.post(f"{base}/api/v1/upload/signed-url", params={"mode": "ocr"}, headers=headers,
                                       json={"filename": "s.pdf" if is_pdf else "s.png"}, timeout=60)  # fmt: skip
                ticket.raise_for_status()
                body = ticket.json()
                ctype = "application/pdf" if is_pdf else "image/png"
                put = requests.put(body["upload_url"], data=document(is_pdf), headers={"Content-Type": ctype},
                                   timeout=60)  # fmt: skip
                put.raise_for_status()
            except requests.RequestException as exc:
                with lock:
                    errors.append(f"submit: {exc}")
                time.sleep(1)
                continue
            with lock:
                submitted[body["job_id"]] = 3 if is_pdf else 1
            while time.time() < stop_at + 600:  # closed loop: the next job once this one is done
                try:
                    status = requests.get(f"{base}/api/v1/results/{body['job_id']}", headers=headers,
                                          timeout=60).json()["status"]  # fmt: skip
                except (requests.RequestException, ValueError) as exc:
                    with lock:
                        errors.append(f"poll: {exc}")
                    status = ""
                if status in ("completed", "failed"):
                    break
                time.sleep(1)

    def prober() -> None:
        while not stopping.is_set():
            started = time.perf_counter()
            try:
                requests.get(f"{base}/accounts/login/", timeout=60)
                with lock:
                    login_ms.append((time.perf_counter() - started) * 1000)
            except requests.RequestException as exc:
                with lock:
                    errors.append(f"login: {exc}")
            stopping.wait(1)

    def processing() -> dict[str, int]:
        """Processing jobs -> the pid holding each one's lease (`host:pid:token`), read straight from SQLite so the
        kill follows at once (a `manage.py shell` takes seconds, long enough for a short job to finish)."""
        with sqlite3.connect(var / "deepread.sqlite3", timeout=30) as db:
            rows = db.execute("SELECT id, lease_owner FROM ocrjobs_job WHERE status = 'processing'").fetchall()
        return {str(uuid.UUID(job)): int(owner.split(":")[1]) for job, owner in rows if owner.count(":") == 2}

    kills: list[dict] = []
    samples: list[tuple[float, float, float]] = []
    started = time.time()
    with SlowClients(base, slow_headers=args.slow_headers, slow_bodies=args.slow_bodies) as slow:
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        threads.append(threading.Thread(target=prober))
        for thread in threads:
            thread.start()
        next_kill, next_sample, victim = started + args.kill_every_s, started, "main"
        while time.time() < stop_at:
            now = time.time()
            if now >= next_sample:
                web, worker = _find(run.pid, "webserver"), _find(run.pid, " worker ")
                samples.append((now - started, tree_rss_mb(web) if web else 0, tree_rss_mb(worker) if worker else 0))
                next_sample += args.sample_s
            if now >= next_kill:
                next_kill += args.kill_every_s
                worker = _find(run.pid, " worker ")
                held = processing()
                children = set(_children(worker)) if worker else set()
                doing = [pid for pid in held.values() if pid in children]  # the pool child doing a page
                target = worker if victim == "main" else (doing[0] if doing else None)
                if target and held:
                    os.kill(target, signal.SIGKILL)
                    jobs = list(held) if victim == "main" else [j for j, pid in held.items() if pid == target]
                    kills.append({"at": now - started, "victim": victim, "jobs": jobs, "killed": time.time()})
                    victim = "child" if victim == "main" else "main"
                else:
                    next_kill = now + 5  # nothing running at this moment: try again shortly
            time.sleep(1)
        slow_cut = slow.cut
        for thread in threads[:-1]:
            thread.join()
        stopping.set()
        threads[-1].join()

    # Every job to its end, then the figures from the database.
    deadline = time.time() + 600
    ids = list(submitted)
    code = (
        "from ocrjobs.models import Job, JobPage; from accounts.models import MonthlyUsage as M; import json; "
        f"ids = {ids!r}; jobs = Job.objects.filter(pk__in=ids); "
        "print(json.dumps({'status': {s: jobs.filter(status=s).count() for s in "
        "('completed','failed','processing','queued')}, 'pages': JobPage.objects.filter(job__in=jobs).count(), "
        "'page_count': sum(j.page_count or 0 for j in jobs), 'used': sum(M.objects.values_list('used', flat=True)), "
        "'taken_over': jobs.filter(attempts__gt=1).count(), "
        "'finished': {str(j.pk): j.finished_at.timestamp() for j in jobs if j.finished_at}, "
        "'started': {str(j.pk): j.started_at.timestamp() for j in jobs if j.started_at}}))"
    )
    while True:
        figures = json.loads(_manage(env, "shell", "--no-imports", "-c", code))
        if figures["status"]["completed"] + figures["status"]["failed"] == len(ids) or time.time() > deadline:
            break
        time.sleep(5)
    run.send_signal(signal.SIGINT)
    run.wait(timeout=120)
    log.close()
    restarts = (var / "run.log").read_text().count("restarted (pid")
    for kill in kills:
        ends = [figures["finished"].get(job) for job in kill["jobs"]]
        kill["recovered_s"] = max((e - kill["killed"] for e in ends if e), default=float("nan"))
        # started_at is the last claim: the takeover, when the job had not finished before the kill
        starts = [figures["started"].get(job) for job in kill["jobs"]]
        kill["resumed_s"] = max((s - kill["killed"] for s in starts if s and s > kill["killed"]), default=float("nan"))

    print(f"soak_kill {dt.date.today().isoformat()}: {args.minutes:g} min on the embedded defaults (scripts/run.py), "
          f"a worker process SIGKILLed every {args.kill_every_s:g} s, {args.clients} clients, "
          f"{args.slow_headers} slow-header + {args.slow_bodies} slow-body connections")  # fmt: skip
    status = figures["status"]
    print(f"  jobs submitted {len(ids)}   completed {status['completed']}   failed {status['failed']}   "
          f"left {status['processing'] + status['queued']}   "
          f"{'ALL COMPLETED' if status['completed'] == len(ids) else 'MISMATCH'}")  # fmt: skip
    print(f"  requests counted {figures['used']} (one per job)   page rows {figures['pages']} of "
          f"{figures['page_count']} pages   jobs taken over after a kill {figures['taken_over']}")  # fmt: skip
    for kill in kills:
        print(f"  kill at {kill['at']:.0f} s: worker {kill['victim']} holding {len(kill['jobs'])} job(s), "
              f"resumed (taken over) {kill['resumed_s']:.1f} s and all completed {kill['recovered_s']:.1f} s after "
              "the kill")  # fmt: skip
    print(f"  supervisor restarts {restarts}   slow connections cut by the server {slow_cut}   errors {len(errors)}"
          + (f" (first: {errors[:3]})" if errors else ""))  # fmt: skip
    if login_ms:
        login_ms.sort()
        print(f"  /accounts/login/ p50 {statistics.median(login_ms):.0f} ms   "
              f"p99 {login_ms[int(0.99 * (len(login_ms) - 1))]:.0f} ms ({len(login_ms)} probes)")  # fmt: skip
    half = [s for s in samples if s[0] >= args.minutes * 30]
    first = next((s for s in samples if s[0] >= 60), samples[0])
    for index, name in ((1, "web"), (2, "worker")):
        print(f"  RSS {name}: {first[index]:.0f} MB after the first minute -> {samples[-1][index]:.0f} MB at the end"
              f" (second half {samples[-1][index] - half[0][index]:+.0f} MB); every {args.sample_s:g} s: "
              + " ".join(f"{s[index]:.0f}" for s in samples))  # fmt: skip


if __name__ == "__main__":
    main()
