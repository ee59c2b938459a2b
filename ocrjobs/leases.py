"""Job leases: which worker process is working on a job, kept alive by a heartbeat, handed back on a clean stop.

A claimed job holds a short lease (`DEEPREAD_JOB_LEASE_S`, 30 s by default) in its row, with the claiming process
as `lease_owner`. While the task works, a heartbeat thread renews the lease every third of it, so a job that takes
an hour keeps a 30-second lease the whole time, and a worker that dies (SIGKILL, OOM, a lost machine) stops
renewing it: within one lease the job is claimable again, and the sweep or a redelivered message takes it over
with the compare-and-set in `services.job_claim`. A worker that lost its lease (taken over after a stall) sees the
renewal refused and stops at the next page instead of racing the new owner.

A clean stop (SIGTERM, Ctrl-C of `make run`, Celery's warm shutdown) calls `request_stop()` in every worker process:
each heartbeat then hands its job back at once (status `queued`, lease cleared, the job enqueued again) and the
task returns at its next page; the pages it stored are kept and not recognised again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import uuid
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from ocrjobs.models import Job, JobStatus

logger = logging.getLogger(__name__)

#: Set once this process begins a clean stop: no new page is started, running jobs are handed back.
STOPPING = threading.Event()
_keepers: set[LeaseKeeper] = set()
_keepers_lock = threading.Lock()
_owner: tuple[int, str] | None = None


def lease_owner() -> str:
    """This process's lease-owner id, `host:pid:token` (at most 100 characters). A fresh token after a fork, so a
    pool child never shares its parent's id."""
    global _owner
    pid = os.getpid()
    if _owner is None or _owner[0] != pid:
        _owner = (pid, f"{socket.gethostname()[:60]}:{pid}:{secrets.token_hex(4)}")
    return _owner[1]


def _owner_dead_here(owner: str) -> bool:
    """True when `owner` was a process on this machine that no longer runs (gone, or a zombie not yet reaped). A
    reused pid or another machine's owner reads as alive: the lease then runs out as usual."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:60] or not pid.isdigit():
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return state in ("Z", "X")


def job_take_over_dead(*, job_id: uuid.UUID | str, owner: str) -> bool:
    """A redelivered message whose job is still leased to a process of this machine that died (a killed pool
    child, a worker killed under `make run`): take the job over now instead of waiting for the lease to run out.
    Compare-and-set on the dead owner, so only one taker wins."""
    now = timezone.now()
    held = Job.objects.filter(pk=job_id, status=JobStatus.PROCESSING).values_list("lease_owner", flat=True).first()
    if not held or held == owner or not _owner_dead_here(held):
        return False
    taken = Job.objects.filter(pk=job_id, status=JobStatus.PROCESSING, lease_owner=held).update(
        lease_owner=owner, lease_until=now + lease_delta(), started_at=now, attempts=F("attempts") + 1, updated_at=now
    )
    if taken:
        logger.info("Job %s taken over from %s, which died", job_id, held)
    return bool(taken)


def lease_delta() -> dt.timedelta:
    """How long a worker's claim on a job lasts without a heartbeat (DEEPREAD_JOB_LEASE_S seconds)."""
    return dt.timedelta(seconds=settings.DEEPREAD_JOB_LEASE_S)


def heartbeat_interval_s() -> float:
    """How often a held lease is renewed: a third of the lease, so two beats can be missed before it runs out."""
    return max(0.1, settings.DEEPREAD_JOB_LEASE_S / 3)


def job_lease_renew(*, job_id: uuid.UUID | str, owner: str | None) -> bool:
    """Extend a processing job's lease to now + DEEPREAD_JOB_LEASE_S. With `owner`, only while that owner holds it
    (False means the job was taken over, handed back or finished); without one (a fanned-out page, which any worker
    may run), the lease is only ever lengthened, never shortened."""
    now = timezone.now()
    jobs = Job.objects.filter(pk=job_id, status=JobStatus.PROCESSING)
    if owner is not None:
        return jobs.filter(lease_owner=owner).update(lease_until=now + lease_delta()) == 1
    return jobs.update(lease_until=Greatest(F("lease_until"), now + lease_delta())) == 1


def job_hand_back(*, job_id: uuid.UUID | str, owner: str) -> bool:
    """Give a job this owner holds back to the queue at once: status `queued`, lease cleared, the claim not counted
    as an interruption, and the job enqueued again on commit. False when the owner no longer held it."""
    from ocrjobs import dispatch

    now = timezone.now()
    with transaction.atomic():
        handed = Job.objects.filter(pk=job_id, status=JobStatus.PROCESSING, lease_owner=owner).update(
            status=JobStatus.QUEUED,
            lease_until=None,
            lease_owner="",
            attempts=Greatest(F("attempts") - 1, 0),
            updated_at=now,
        )
        if handed:
            transaction.on_commit(lambda: dispatch.job_process_send(str(job_id)))
    if handed:
        logger.info("Job %s handed back to the queue (this worker is stopping)", job_id)
    return bool(handed)


def request_stop() -> None:
    """Begin this process's clean stop: every heartbeat wakes and hands its job back. Safe from a signal handler
    (it only sets events; the database work happens in the heartbeat threads)."""
    STOPPING.set()
    keepers: tuple[LeaseKeeper, ...] = ()
    for _ in range(100):  # no lock here: the interrupted thread may hold it; a copy that raced a change is retried
        try:
            keepers = tuple(_keepers)
            break
        except RuntimeError:
            continue
    for keeper in keepers:
        keeper.wake.set()


class LeaseKeeper:
    """Keeps one job's lease for as long as a task works on it (a context manager).

    A daemon thread renews the lease every `heartbeat_interval_s()`. `lost` is set when the lease could not be kept:
    another worker took the job over, it was finished or cancelled elsewhere, or this process is stopping and
    handed it back. The task checks `lost` between pages (and strips) and stops there. With `owner=None` (a
    fanned-out page) the lease is kept for the job without owning it, and nothing is handed back on a stop: the
    page's message is what goes back to the broker.
    """

    def __init__(self, *, job_id: uuid.UUID | str, owner: str | None) -> None:
        self.job_id, self.owner = job_id, owner
        self.lost = threading.Event()
        self.wake = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        with _keepers_lock:
            _keepers.add(self)
        self._thread.start()
        if STOPPING.is_set():
            self.wake.set()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done = True
        self.wake.set()
        self._thread.join(timeout=30)
        with _keepers_lock:
            _keepers.discard(self)

    @property
    def held(self) -> bool:
        """True while the heartbeat has kept the lease (another worker has not taken the job over)."""
        return not self.lost.is_set()

    def _run(self) -> None:
        try:
            while True:
                self.wake.wait(heartbeat_interval_s())
                self.wake.clear()
                if self._done:
                    return
                if self._beat():
                    return
        finally:
            connection.close()  # this thread's own database connection

    def _beat(self) -> bool:
        """One heartbeat; True when the lease is gone and the thread can end."""
        try:
            close_old_connections()
            if STOPPING.is_set() and self.owner is not None:
                job_hand_back(job_id=self.job_id, owner=self.owner)
                self.lost.set()
                return True
            if not job_lease_renew(job_id=self.job_id, owner=self.owner):
                self.lost.set()
                return True
        except Exception:  # a database or broker blip: try again at the next beat; the lease may run out meanwhile
            logger.warning("Could not renew the lease of job %s", self.job_id, exc_info=True)
        return False
