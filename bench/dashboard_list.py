"""Server time of the dashboard's job list with 10,000 jobs in the account (not a test). Target: <= 50 ms.

Renders /jobs/ (the full page, a filtered htmx fragment, and a deep page) in-process through Django's test client
against SQLite on embedded defaults, and prints p50 and p99 over repeated requests.

    .venv/bin/python -m bench.dashboard_list [--jobs 10000] [--n 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    os.environ.update(DEEPREAD_VAR_DIR=tempfile.mkdtemp(), DJANGO_SETTINGS_MODULE="deepread.settings",
                      DEEPREAD_LOG_LEVEL="WARNING", DEEPREAD_SYNC_WARM="0")  # fmt: skip
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from accounts.quota import month_start
    from accounts.services import user_get_or_create
    from ocrjobs.models import Job, JobStatus

    call_command("migrate", verbosity=0)
    user, _ = user_get_or_create(email="bench@example.com", password="x" * 20)
    statuses = [JobStatus.COMPLETED] * 8 + [JobStatus.PROCESSING, JobStatus.FAILED]
    now = timezone.now()
    Job.objects.bulk_create(
        [
            Job(owner=user, mode=("ocr", "table", "document")[n % 3], prompt="p", output_kind="text",
                filename=f"scan-{n:05d}.png", upload_key=f"k{n}", usage_month=month_start(now),
                status=statuses[n % 10], page_count=1 + n % 4, pages_done=n % 4, size=1000 + n,
                output_key=f"x/{n}.json" if statuses[n % 10] == JobStatus.COMPLETED else None,
                started_at=now, finished_at=now)
            for n in range(args.jobs)
        ],
        batch_size=2000,
    )  # fmt: skip
    client = Client()
    client.force_login(user)
    print(f"dashboard_list {dt.date.today().isoformat()}: {args.jobs} jobs, SQLite, n={args.n}")
    for label, url, headers in (
        ("full page", "/jobs/", {}),
        ("htmx: mode=table&status=completed", "/jobs/?mode=table&status=completed", {"HTTP_HX_REQUEST": "true"}),
        ("htmx: filename search", "/jobs/?filename=scan-09", {"HTTP_HX_REQUEST": "true"}),
        ("page 300", "/jobs/?page=300", {}),
    ):
        times = []
        for _ in range(args.n + 3):
            started = time.perf_counter()
            assert client.get(url, **headers).status_code == 200
            times.append((time.perf_counter() - started) * 1000)
        times = sorted(times[3:])
        print(
            f"  {label:36s} p50 {statistics.median(times):6.1f} ms   p99 {times[int(0.99 * (len(times) - 1))]:6.1f} ms"
        )


if __name__ == "__main__":
    main()
