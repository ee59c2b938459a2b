"""The mode preview (issue 11, item 3): not counted, but only for a live account, and a per-account limit that holds
when many previews arrive at once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts.models import MonthlyUsage, RateWindow
from accounts.quota import month_start
from accounts.ratelimit import rate_hit
from accounts.tiers import TIER_POLICIES, Tier
from devtools.samples import encode, render_lines
from inference.vllm_engine import VllmEngine
from modes.builtin import BUILTIN_MODES
from ocr import services as ocr_services
from ocrjobs.models import Job
from tests.factories import UserFactory

SPEC = BUILTIN_MODES["document"]


@pytest.fixture
def engine(fake_vllm, monkeypatch, settings):
    """The preview's engine: the real vLLM client against the fake server, which counts what reached it."""
    settings.DEEPREAD_ENGINE = "vllm"
    monkeypatch.setattr(
        ocr_services, "_runner", ocr_services.InThreadRunner(VllmEngine(base_urls=[fake_vllm.base_url], backoff_s=0.01))
    )
    return fake_vllm


def _preview(client: Client):
    sample = SimpleUploadedFile("s.png", encode(render_lines(["Preview sample"])), content_type="image/png")
    return client.post(
        "/modes/preview",
        {"prompt": SPEC.prompt, "output_kind": SPEC.output_kind, "sample": sample},
        HTTP_HX_REQUEST="true",
    )


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_live_account_previews_without_spending(db, engine):
    user = UserFactory(tier=Tier.TRIAL)
    response = _preview(_client_for(user))
    assert response.status_code == 200
    assert b"Quarterly Report 2025" in response.content
    assert len(engine.requests) == 1
    assert MonthlyUsage.objects.filter(user=user).count() == 0
    assert Job.objects.count() == 0


def test_an_expired_trial_gets_no_preview(db, engine, settings):
    user = UserFactory(tier=Tier.TRIAL)
    user.date_joined = timezone.now() - dt.timedelta(days=settings.DEEPREAD_TRIAL_DAYS + 1)
    user.save(update_fields=["date_joined"])
    response = _preview(_client_for(user))
    assert response.status_code == 403
    assert b"trial ended" in response.content
    assert len(engine.requests) == 0  # the engine never saw it
    assert RateWindow.objects.count() == 0  # nor did the limiter count it
    assert MonthlyUsage.objects.filter(user=user).count() == 0
    assert Job.objects.count() == 0


def test_an_account_over_its_monthly_limit_gets_no_preview(db, engine):
    user = UserFactory(tier=Tier.TRIAL)
    limit = TIER_POLICIES[Tier.TRIAL].monthly_limit
    MonthlyUsage.objects.create(user=user, month=month_start(timezone.now()), used=limit)
    response = _preview(_client_for(user))
    assert response.status_code == 403
    assert b"Monthly limit" in response.content
    assert len(engine.requests) == 0
    assert MonthlyUsage.objects.get(user=user).used == limit


@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_for_concurrent_previews(engine, settings, tmp_path):
    """40 previews at once from 8 threads, each with its own database connection, against a limit of 20: exactly
    20 run, 20 are refused with 429 and Retry-After, and the engine sees exactly 20. The cache is the embedded
    default (files), on which the old cache-counter limiter let every preview through."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                                   "LOCATION": str(tmp_path / "cache")}}  # fmt: skip
    settings.DEEPREAD_PREVIEWS_PER_MINUTE = 20
    settings.DEEPREAD_SYNC_CONCURRENCY = 8
    user = UserFactory()
    barrier = threading.Barrier(8)
    statuses: list[int] = []
    lock = threading.Lock()

    def run() -> None:
        client = _client_for(user)
        try:
            barrier.wait()
            for _ in range(5):
                response = _preview(client)
                with lock:
                    statuses.append(response.status_code)
                if response.status_code == 429:
                    assert int(response["Retry-After"]) >= 1
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(statuses) == [200] * 20 + [429] * 20
    assert len(engine.requests) == 20
    assert MonthlyUsage.objects.filter(user=user).count() == 0


def test_rate_hit_counts_a_fixed_window(db):
    start = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert [rate_hit(key="k", limit=2, window_s=60, now=start).allowed for _ in range(3)] == [True, True, False]
    assert rate_hit(key="k", limit=2, window_s=60, now=start + dt.timedelta(seconds=59)).retry_after_s == 1
    assert rate_hit(key="other", limit=2, window_s=60, now=start).allowed  # keys are separate
    later = start + dt.timedelta(seconds=60)
    assert rate_hit(key="k", limit=2, window_s=60, now=later).allowed  # a new window
    assert RateWindow.objects.filter(key="k").count() == 1  # the past window was cleared


@pytest.mark.django_db(transaction=True)
def test_rate_hit_is_exact_when_a_window_starts_under_contention():
    """16 threads hit a key with no row yet at once (they race to create the window's row): all 16 are under the
    limit of 20, so all are allowed; then 8 more at once: exactly 4 are."""

    def burst(n: int) -> list[bool]:
        barrier = threading.Barrier(n)
        allowed: list[bool] = []
        lock = threading.Lock()

        def run() -> None:
            try:
                barrier.wait()
                decision = rate_hit(key="contended", limit=20, window_s=3600)
                with lock:
                    allowed.append(decision.allowed)
            finally:
                connection.close()

        threads = [threading.Thread(target=run) for _ in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        return allowed

    assert burst(16) == [True] * 16
    assert sorted(burst(8)) == [False] * 4 + [True] * 4
    assert RateWindow.objects.get(key="contended").hits == 20


def test_rate_hit_counts_a_first_hit_that_loses_the_insert_race(db, monkeypatch):
    """A deterministic interleaving: another process creates the window's row right after this hit's UPDATE found
    none. The hit must still count and be allowed (an earlier version refused it)."""
    from django.db.models import QuerySet

    original = QuerySet.update
    raced = []

    def update(self, **kwargs):
        updated = original(self, **kwargs)
        if self.model is RateWindow and not raced:
            raced.append(True)
            RateWindow.objects.create(key="k", window=dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC), hits=1)
        return updated

    monkeypatch.setattr(QuerySet, "update", update)
    assert rate_hit(key="k", limit=5, window_s=60, now=dt.datetime(2026, 1, 1, 12, 0, 30, tzinfo=dt.UTC)).allowed
    assert RateWindow.objects.get(key="k").hits == 2
