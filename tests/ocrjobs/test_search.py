"""Search inside recognised text on SQLite (FTS5): whole words and prefixes, every word required, any case and
accents, one account's jobs only, snippets escaped with the hits marked; the job list filters by it."""

from __future__ import annotations

import pytest

from ocrjobs.search import HIT_END, HIT_START, snippet_html
from tests.dashboard.test_views import _completed_job
from tests.factories import UserFactory
from tests.ocrjobs import search_scenario

pytestmark = pytest.mark.django_db


def test_the_search_scenario_on_sqlite():
    found = search_scenario.run()
    assert {q: r["files"] for q, r in found.items()} == search_scenario.EXPECTED
    [snippet] = found["northwind"]["snippets"]
    assert f"{HIT_START}Northwind{HIT_END}" in snippet


def test_accents_and_prefixes_match_on_sqlite(db):
    from ocrjobs.search import job_text_search

    found = search_scenario.run()
    assert found["tatin"]["files"] == ["menu.png"]
    owner = UserFactory._meta.model.objects.get(email="searcher@example.com")
    assert [h.snippet.count(HIT_START) for h in job_text_search(user=owner, query="creme brulee")] == [2]
    assert len(job_text_search(user=owner, query="North")) == 1  # a prefix of Northwind


def test_a_snippet_is_escaped_and_marks_only_the_hits():
    html = snippet_html(f"<b>x</b> {HIT_START}tatin{HIT_END} & more")
    assert html == "&lt;b&gt;x&lt;/b&gt; <mark>tatin</mark> &amp; more"


def test_a_completed_job_is_searchable_from_the_job_list(client):
    me = UserFactory()
    client.force_login(me)
    _completed_job(me, text="Quarterly figures for Riverside Bakery")
    _completed_job(me, text="Unrelated text")
    page = client.get("/jobs/", {"q": "riverside"}).content.decode()
    assert page.count('class="snippet-hit small"') == 1
    assert "<mark>Riverside</mark>" in page
    other = UserFactory()
    client.force_login(other)
    assert "snippet-hit" not in client.get("/jobs/", {"q": "riverside"}).content.decode()
