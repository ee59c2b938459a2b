"""A worker SIGKILLed mid-page on the embedded broker (as `make run` deploys it): the job resumes and completes once,
its pages once, counted once, within 60 s of the kill, with the default leases. Both pools: the prefork child doing
the page, and the worker's main process (threads and prefork), one-page jobs and fanned-out PDFs."""

from __future__ import annotations

import pytest

from deepread import processes
from tests.fake_vllm import FakeVllm
from tests.stack import BIN, running_stack
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
