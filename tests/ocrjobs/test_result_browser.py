"""The viewer in headless Chromium, opened on a result whose model output tries to drive the dashboard (issue 11,
item 1): the page sends no request beyond its own document, assets and images, and no POST at all."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.models import MonthlyUsage
from devtools.browser import chromium_path, launch
from devtools.samples import png_bytes
from ocrjobs import processing, services
from ocrjobs.models import Job, JobStatus
from tests.factories import UserFactory
from tests.result_payloads import HostileVllm

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]


@pytest.fixture
def hostile_vllm(settings):
    fake = HostileVllm(capacity=8, latency=0.0).start()
    settings.DEEPREAD_ENGINE = "vllm"
    settings.VLLM_BASE_URLS = [fake.base_url]
    yield fake
    fake.stop()


@pytest.mark.parametrize("mode", ["document", "table"])
def test_a_hostile_result_in_the_viewer_sends_no_request_of_its_own(live_server, transactional_db, hostile_vllm, mode):
    from playwright.sync_api import sync_playwright

    user = UserFactory()
    ticket = services.job_create(user=user, mode=mode, filename="p.png", content_type="image/png", base_url="http://t/")
    services.job_upload_receive(job_id=ticket.job.id, filename="p.png", data=png_bytes(["A hostile page"]))
    job = processing.job_run(job_id=ticket.job.id)
    assert job.status == JobStatus.COMPLETED, job.error
    used = MonthlyUsage.objects.get(user=user).used
    client = Client()
    client.force_login(user)
    viewer = f"/jobs/{job.id}/"
    probe = "/static/css/deepread.css?probe=1"  # a harmless GET (the viewer itself would answer HX-Refresh)

    requests: list[tuple[str, str]] = []
    with sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
        page = context.new_page()
        page.on("request", lambda r: requests.append((r.method, r.url)))
        page.goto(f"{live_server.url}{viewer}")
        page.wait_for_function("() => window.htmx !== undefined && document.readyState === 'complete'")
        assert "hx-post" in page.locator(".viewer").inner_html()  # the payload is in the page, inert
        # A probe that htmx must fire on load, added after htmx processed the page: once its request is seen,
        # every `load` trigger the result carried would have fired before it. No clock involved.
        with page.expect_request(lambda r: r.url.endswith(probe)):
            page.evaluate(
                """(url) => { const el = document.createElement('div');
                   el.setAttribute('hx-get', url); el.setAttribute('hx-trigger', 'load');
                   el.setAttribute('hx-swap', 'none');
                   document.body.appendChild(el); window.htmx.process(el); }""",
                probe,
            )
        # The same probe inside the result region is ignored: hx-disable holds for anything that slipped through.
        page.evaluate(
            """(url) => { const el = document.createElement('div');
               el.setAttribute('hx-get', url + '&inside=1'); el.setAttribute('hx-trigger', 'load');
               document.querySelector('#tab-text').appendChild(el); window.htmx.process(el); }""",
            probe,
        )
        with page.expect_request(lambda r: r.url.endswith(probe)):
            page.evaluate("(url) => window.htmx.ajax('GET', url, {swap: 'none'})", probe)
        browser.close()

    assert all(method == "GET" for method, _ in requests), requests
    allowed = (viewer, f"/jobs/{job.id}/pages/1.png", f"/jobs/{job.id}/files/", "/static/")
    paths = [urlsplit(url)._replace(scheme="", netloc="").geturl() for _, url in requests]
    assert [p for p in paths if not p.startswith(allowed)] == [], paths
    assert paths.count(viewer) == 1
    assert paths.count(probe) == 2
    assert not any("inside=1" in p for p in paths)
    # Nothing changed for the account: no new job, no request spent.
    assert Job.objects.filter(owner=user).count() == 1
    assert MonthlyUsage.objects.get(user=user).used == used
