"""A worker SIGKILLed mid-page on the embedded broker (as `make run` deploys it): the job resumes and completes once,
its pages once, counted once, within 60 s of the kill, with the default leases. Both pools: the prefork child doing
the page, and the worker's main process (threads and prefork), one-page jobs and fanned-out PDFs."""

from __future__ import annotations

import pytest

from deepread import processes
from devtools.fake_vllm import FakeVllm
from devtools.stack import BIN, running_stack
from tests.worker_death import kill_mid_page_and_recover

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fake():
    server = FakeVllm(capacity=64, latency=0.01).start()
    yield server
    server.stop()


def _stack(tmp_path_factory, fake, pool: str):
    env = {
        "VLLM_BASE_URL": fake.base_url,
        "DEEPREAD_GPU_WORKER_THREADS": "1" if pool == "prefork" else "8",
        "DEEPREAD_VLLM_BACKOFF_S": "0.05",
    }
    return running_stack(tmp_path_factory.mktemp(f"death-{pool}"), engine="vllm", env=env, worker_pool=pool)


@pytest.fixture(scope="module")
def prefork_stack(tmp_path_factory, fake):
    with _stack(tmp_path_factory, fake, "prefork") as stack:
        stack.start("scheduler", processes.scheduler(BIN, schedule_file=str(stack.var / "beat")))
        yield stack


@pytest.fixture(scope="module")
def threads_stack(tmp_path_factory, fake):
    with _stack(tmp_path_factory, fake, "threads") as stack:
        stack.start("scheduler", processes.scheduler(BIN, schedule_file=str(stack.var / "beat")))
        yield stack


@pytest.mark.parametrize(("victim", "pages"), [("child", 1), ("child", 3), ("main", 1)])
def test_prefork_worker_killed_mid_page(prefork_stack, fake, victim, pages):
    kill_mid_page_and_recover(prefork_stack, fake, victim=victim, pages=pages, pool="prefork")


@pytest.mark.parametrize("pages", [1, 3])
def test_thread_pool_worker_killed_mid_page(threads_stack, fake, pages):
    kill_mid_page_and_recover(threads_stack, fake, victim="main", pages=pages, pool="threads")


def test_a_clean_stop_hands_the_running_job_back_at_once(prefork_stack, fake):
    """SIGTERM (Ctrl-C of `make run`, systemd's stop) while a page is at the engine: the job is back in the queue
    before that page even finishes, the page is kept when it does, and the next worker completes the job without
    recognising it again; the claim is not counted as an interruption."""
    import os
    import signal
    import time

    from tests.worker_death import query, submit

    stack = prefork_stack
    key = stack.new_key(f"stop-{time.monotonic_ns()}@example.com")
    fake.reset()
    fake.hold()
    job_id = submit(stack, key, pages=1)
    assert fake.wait_arrived(1, timeout=120), stack.log("worker")[-3000:]
    worker = stack.procs["worker"]
    os.kill(worker.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60  # bounds a hang only: the hand-back does not wait for the page
    while query(stack, f"from ocrjobs.models import Job; print(Job.objects.get(pk={job_id!r}).status)") != "queued":
        assert time.monotonic() < deadline, stack.log("worker")[-3000:]
        time.sleep(0.2)
    assert fake.stats()["served"] == 0  # the page was still at the engine when the job went back
    fake.release()
    assert worker.wait(timeout=120) == 0, stack.log("worker")[-3000:]  # a warm shutdown, not a kill
    stack.start("worker", processes.worker(BIN, engine="vllm", concurrency=1, pool="prefork"))
    body = stack.wait_result({"X-API-Key": key}, job_id, timeout=120)
    assert body["status"] == "completed", body
    assert fake.stats()["arrived"] == 1  # recognised once: the page stored during the stop was kept
    rows = query(stack, f"from ocrjobs.models import Job, JobPage; j = Job.objects.get(pk={job_id!r}); "
                        "print(j.attempts, JobPage.objects.filter(job=j).count())")  # fmt: skip
    assert rows == "1 1"
