"""The job API and workers on PostgreSQL and Redis, as deployed: real processes, real services."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from deepread import processes
from devtools.fake_vllm import FakeVllm
from devtools.samples import encode, render_lines
from devtools.stack import BIN, running_stack
from tests.worker_death import kill_mid_page_and_recover

pytestmark = pytest.mark.integration


def _set_used(stack, email: str, used: int) -> None:
    stack.manage(
        "shell",
        "-c",
        "from accounts.models import MonthlyUsage, User; from accounts.quota import month_start; "
        f"from django.utils import timezone; u = User.objects.get(email={email!r}); "
        "MonthlyUsage.objects.update_or_create(user=u, month=month_start(timezone.now()), "
        f"defaults={{'used': {used}}})",
    )


def _query(stack, code: str) -> str:
    return stack.manage("shell", "--no-imports", "-c", code).strip()


def _used(stack, email: str) -> str:
    return _query(
        stack, f"from accounts.models import MonthlyUsage as M; print(M.objects.get(user__email={email!r}).used)"
    )


def _pages(stack, job_id: str) -> str:
    return _query(
        stack, f"from ocrjobs.models import JobPage; print(JobPage.objects.filter(job_id={job_id!r}).count())"
    )


def _result(base: str, key: str, job_id: str) -> dict:
    return requests.get(f"{base}/api/v1/results/{job_id}", headers={"X-API-Key": key}, timeout=10).json()


def _submit(base: str, key: str, name: str = "p.png") -> str:
    ticket = requests.post(
        f"{base}/api/v1/upload/signed-url", params={"mode": "ocr"},
        json={"filename": name, "content_type": "image/png"},
        headers={"X-API-Key": key}, timeout=30,
    )  # fmt: skip
    ticket.raise_for_status()
    body = ticket.json()
    png = encode(render_lines([f"Job {name}"]))
    requests.put(body["upload_url"], data=png, headers={"Content-Type": "image/png"}, timeout=30).raise_for_status()
    return body["job_id"]


def test_quota_is_exact_with_50_concurrent_requests_on_postgres(tmp_path, production_env):
    with running_stack(tmp_path, env=production_env, web_workers=3) as stack:
        email = f"quota-{uuid.uuid4().hex[:6]}@example.com"
        key = stack.new_key(email, "standard")
        _set_used(stack, email, 975)

        def ask(_: int) -> int:
            return requests.post(
                f"{stack.base_url}/api/v1/upload/signed-url", headers={"X-API-Key": key}, timeout=60
            ).status_code

        with ThreadPoolExecutor(50) as pool:
            codes = list(pool.map(ask, range(50)))
        assert codes.count(200) == 25
        assert codes.count(403) == 25
        assert (
            _query(stack, f"from ocrjobs.models import Job; print(Job.objects.filter(owner__email={email!r}).count())")
            == "25"
        )
        assert _used(stack, email) == "1000"


RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def _rabbitmq_reason() -> str | None:
    from kombu import Connection

    try:
        with Connection(RABBITMQ, connect_timeout=3) as conn:
            conn.connect()
        return None
    except Exception as exc:
        return f"RabbitMQ is not reachable at 127.0.0.1:5672 ({type(exc).__name__})"


@pytest.mark.parametrize(
    ("broker", "victim", "pool", "pages"),
    [
        ("redis", "main", "threads", 1),
        ("redis", "child", "prefork", 3),
        ("rabbitmq", "main", "threads", 3),
        ("rabbitmq", "child", "prefork", 1),
    ],
)
def test_a_worker_killed_mid_page_recovers_within_a_minute(tmp_path, production_env, broker, victim, pool, pages):
    """With the default leases and broker settings (no test overrides): Redis brings a dead worker's message back
    after its 40 s visibility timeout (the sweep re-enqueues the expired lease as well), RabbitMQ as the connection
    drops; the job completes once, its pages once, counted once, within 60 s of the kill."""
    env = {**production_env, "DEEPREAD_GPU_WORKER_THREADS": "1" if pool == "prefork" else "8"}
    if broker == "rabbitmq":
        reason = _rabbitmq_reason()
        if reason:
            pytest.skip(reason)
        env["CELERY_BROKER_URL"] = RABBITMQ
    fake = FakeVllm(capacity=8, latency=0.01).start()
    env["VLLM_BASE_URL"] = fake.base_url
    try:
        with running_stack(tmp_path, engine="vllm", env=env, worker_pool=pool) as stack:
            stack.start("scheduler", processes.scheduler(BIN, schedule_file=str(tmp_path / "beat")))
            kill_mid_page_and_recover(stack, fake, victim=victim, pages=pages, pool=pool)
    finally:
        fake.stop()
        if broker == "rabbitmq":
            _purge_rabbitmq()


def _purge_rabbitmq() -> None:
    from kombu import Connection

    with Connection(RABBITMQ, connect_timeout=3) as conn:
        for queue in ("gpu", "cpu"):
            try:
                conn.default_channel.queue_purge(queue)
            except Exception:
                continue


def test_two_workers_share_a_queue_of_200_jobs_and_process_each_once(tmp_path, production_env, s3_bucket):
    """Two "hosts": worker processes with separate var/ directories, sharing nothing but PostgreSQL, Redis and S3."""
    _, _, s3_env = s3_bucket
    fake = FakeVllm(capacity=64, latency=0.05).start()
    env = {**production_env, **s3_env, "VLLM_BASE_URL": fake.base_url, "DEEPREAD_UPLOAD_SWEEP_S": "1"}
    try:
        with running_stack(tmp_path / "host-a", engine="vllm", env=env) as stack:
            host_b = tmp_path / "host-b"
            host_b.mkdir()
            stack.start("worker-b", processes.worker(BIN, engine="vllm", concurrency=16), DEEPREAD_VAR_DIR=str(host_b))
            stack.start("scheduler", processes.scheduler(BIN, schedule_file=str(tmp_path / "beat")))
            key = stack.new_key(f"pair-{uuid.uuid4().hex[:6]}@example.com", "pro")
            with ThreadPoolExecutor(8) as pool:
                ids = list(pool.map(lambda n: _submit(stack.base_url, key, f"j{n}.png"), range(200)))
            deadline = time.time() + 180
            while True:
                done = _query(
                    stack, "from ocrjobs.models import Job; print(Job.objects.filter(status='completed').count())"
                )
                if int(done) >= 200:
                    break
                assert time.time() < deadline, (done, stack.log("worker")[-2000:], stack.log("worker-b")[-2000:])
                time.sleep(1)
            attempts = _query(
                stack, "from ocrjobs.models import Job; from django.db.models import Max, Sum; "
                f"print(*Job.objects.filter(pk__in={ids!r}).aggregate(Max('attempts'), Sum('attempts')).values())",
            )  # fmt: skip
            assert attempts == "1 200"  # every job claimed exactly once
            assert fake.stats()["served"] == 200
            a = stack.log("worker").count("job_process[")
            b = stack.log("worker-b").count("job_process[")
            assert a > 0, (a, b)  # both hosts took work
            assert b > 0, (a, b)
    finally:
        fake.stop()


def _database_accepts(postgres_url: str, accept: bool) -> None:
    import psycopg

    name = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if accept else "false"}')
        if not accept:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def test_a_database_outage_answers_503_and_loses_no_job(tmp_path, production_env, postgres_url):
    fake = FakeVllm(capacity=8, latency=0.01).start()
    env = {
        **production_env,
        "VLLM_BASE_URL": fake.base_url,
        "DEEPREAD_JOB_LEASE_S": "10",
        "DEEPREAD_QUEUED_STALE_S": "5",
        "DEEPREAD_SWEEP_INTERVAL_S": "2",
    }
    try:
        with running_stack(tmp_path, engine="vllm", env=env) as stack:
            stack.start("scheduler", processes.scheduler(BIN, schedule_file=str(tmp_path / "beat")))
            email = f"outage-{uuid.uuid4().hex[:6]}@example.com"
            key = stack.new_key(email)
            fake.hold()  # the page waits at the engine until the database is away
            job_id = _submit(stack.base_url, key, "during-outage.png")
            assert fake.wait_arrived(1, timeout=120), stack.log("worker")[-3000:]
            _database_accepts(postgres_url, False)
            try:
                headers = {"X-API-Key": key}
                listing = requests.get(f"{stack.base_url}/api/v1/processing-jobs", headers=headers, timeout=30)
                assert listing.status_code == 503, listing.text
                assert listing.headers["Retry-After"] == "5"
                assert "briefly unavailable" in listing.json()["detail"]
                ocr = requests.post(f"{stack.base_url}/v1/ocr", json={"image": "aGVsbG8=", "image_type": "base64"},
                                    headers=headers, timeout=30)  # fmt: skip
                assert ocr.status_code == 503
                assert ocr.json()["error"]["code"] == "service_unavailable"
                fake.release()  # the page comes back from the engine while the database is still away
                deadline = time.monotonic() + 60
                while fake.stats()["served"] < 1:
                    assert time.monotonic() < deadline, fake.stats()
                    time.sleep(0.1)
            finally:
                _database_accepts(postgres_url, True)
            deadline = time.time() + 90
            while True:
                response = requests.get(f"{stack.base_url}/api/v1/results/{job_id}", headers={"X-API-Key": key},
                                        timeout=10)  # fmt: skip
                if response.status_code == 200 and response.json()["status"] in ("completed", "failed"):
                    break
                assert time.time() < deadline, stack.log("worker")[-3000:]
                time.sleep(0.5)
            assert response.json()["status"] == "completed", response.json()
            assert _pages(stack, job_id) == "1"
            assert _used(stack, email) == "1"
    finally:
        fake.stop()


def test_queued_jobs_survive_a_broker_restart(tmp_path, production_env):
    """Redis with its append-only file (as a production broker runs) is stopped and started again while jobs wait
    in the queue with no worker: every job is still delivered, and processed once."""
    import shutil
    import subprocess

    from devtools.stack import free_port

    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port, data = free_port(), tmp_path / "redis"
    data.mkdir()
    redis_cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                 "--appendonly", "yes", "--appendfsync", "always", "--save", ""]  # fmt: skip
    redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
    fake = FakeVllm(capacity=8, latency=0.05).start()
    env = {**production_env, "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0", "VLLM_BASE_URL": fake.base_url}
    try:
        time.sleep(0.5)
        with running_stack(tmp_path / "var", engine="vllm", env=env) as stack:
            stack.procs["worker"].terminate()  # no worker: the jobs wait in Redis
            stack.procs["worker"].wait(timeout=30)
            key = stack.new_key(f"broker-{uuid.uuid4().hex[:6]}@example.com")
            ids = [_submit(stack.base_url, key, f"q{n}.png") for n in range(5)]
            subprocess.run(["redis-cli", "-p", str(port), "shutdown"], check=False, capture_output=True)
            redis.wait(timeout=30)
            redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
            time.sleep(1)
            stack.start("worker2", processes.worker(BIN, engine="vllm", concurrency=8))
            deadline = time.time() + 60
            while True:
                statuses = [_result(stack.base_url, key, job_id)["status"] for job_id in ids]
                if all(s == "completed" for s in statuses):
                    break
                assert time.time() < deadline, (statuses, stack.log("worker2")[-2000:])
                time.sleep(0.5)
            attempts = _query(stack, f"from ocrjobs.models import Job; print(sorted(Job.objects.filter(pk__in={ids!r})"
                                     ".values_list('attempts', flat=True)))")  # fmt: skip
            assert attempts == "[1, 1, 1, 1, 1]"
            assert fake.stats()["served"] == 5
    finally:
        fake.stop()
        redis.terminate()
        redis.wait(timeout=30)
