"""Every dashboard page and state in headless Chromium at 1280 px and on a 390 px phone: no sideways scrolling,
axe-core with no serious or critical violation, the viewer's JSON tab leaving the page's width alone, and the
keyboard reaching every action (tabs by arrow keys, the account menu closed by Escape).

Work is done through the public API against the fake vLLM server, so results arrive in seconds on any machine."""

from __future__ import annotations

import pytest
import requests

from tests.browser import chromium_path, launch
from tests.e2e.test_browser import sign_up
from tests.samples import encode, pdf_bytes, render_lines, render_table

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.vllm,
    pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]
EMAIL = "pages@example.com"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def _submit(base: str, key: str, name: str, data: bytes, mode: str, content_type: str) -> str:
    ticket = requests.post(
        f"{base}/api/v1/upload/signed-url?mode={mode}",
        json={"filename": name, "content_type": content_type},
        headers={"X-API-Key": key},
        timeout=30,
    ).json()
    put = requests.put(ticket["upload_url"], data=data, headers={"Content-Type": content_type}, timeout=60)
    assert put.status_code == 200, put.text
    return ticket["job_id"]


@pytest.fixture(scope="module")
def site(browser, vllm_service):
    """A signed-up account with a key, three finished jobs (image, table, 3-page PDF) and one awaiting its file."""
    base = vllm_service.base_url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_up(page, vllm_service, EMAIL)
    key = vllm_service.new_key(EMAIL, "standard")
    headers = {"X-API-Key": key}
    invoice = encode(render_lines(["Invoice 2024-0117 for Northwind Traders", "Total amount payable: 1,284.50 EUR"]))
    prices = encode(render_table([["Item", "Qty", "Price"], ["Paper", "10", "4.50"], ["Ink", "2", "19.99"]]))
    report = pdf_bytes([["Annual report", "Page one text"], ["Page two text"], ["Page three text"]])
    jobs = {
        "image": _submit(base, key, "invoice.png", invoice, "document", "image/png"),
        "table": _submit(base, key, "prices.png", prices, "table", "image/png"),
        "pdf": _submit(base, key, "report.pdf", report, "ocr", "application/pdf"),
    }
    for job_id in jobs.values():
        assert vllm_service.wait_result(headers, job_id)["status"] == "completed"
    pending = requests.post(f"{base}/api/v1/upload/signed-url?mode=ocr", headers=headers, timeout=30).json()
    jobs["pending"] = pending["job_id"]
    yield {"base": base, "context": context, "page": page, "jobs": jobs, "key": key}
    context.close()


def _pages(site) -> dict[str, str]:
    base, jobs = site["base"], site["jobs"]
    return {
        "welcome": f"{base}/welcome/",
        "upload": f"{base}/upload/",
        "jobs": f"{base}/jobs/",
        "jobs-filtered": f"{base}/jobs/?mode=ocr&status=completed",
        "viewer-image": f"{base}/jobs/{jobs['image']}/",
        "viewer-table": f"{base}/jobs/{jobs['table']}/",
        "viewer-pdf": f"{base}/jobs/{jobs['pdf']}/?page=2",
        "viewer-pending": f"{base}/jobs/{jobs['pending']}/",
        "keys": f"{base}/keys/",
        "usage": f"{base}/usage/",
        "modes": f"{base}/modes/",
        "mode-editor": f"{base}/modes/new",
        "password": f"{base}/accounts/password/",
    }


def _serious(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:4]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def _sideways(page) -> int:
    """How many CSS pixels the page is wider than the window (0: no horizontal scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_page_fits_the_width_and_passes_axe(site, width):
    page = site["page"]
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    problems = {}
    for name, url in _pages(site).items():
        page.goto(url)
        page.wait_for_load_state("load")
        found = _serious(page)
        if _sideways(page) > 0:
            found.append(f"scrolls sideways by {_sideways(page)} px")
        if found:
            problems[name] = found
    assert problems == {}


@pytest.mark.parametrize("width", list(WIDTHS))
def test_anonymous_pages_fit_and_pass_axe(browser, vllm_service, width):
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h})
    page = context.new_page()
    problems = {}
    for name in ("accounts/login/", "accounts/signup/"):
        page.goto(f"{vllm_service.base_url}/{name}")
        found = _serious(page) + ([f"sideways {_sideways(page)} px"] if _sideways(page) > 0 else [])
        if found:
            problems[name] = found
    context.close()
    assert problems == {}


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("job", ["pdf", "table"])
def test_the_json_tab_leaves_the_page_width_and_image_alone(site, width, job):
    page = site["page"]
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    page.goto(f"{site['base']}/jobs/{site['jobs'][job]}/")
    image = page.locator(".page-view img")
    before = (page.evaluate("document.documentElement.scrollWidth"), image.bounding_box()["width"])
    page.get_by_role("tab", name="JSON").click()
    assert page.locator("#tab-json").is_visible()
    after = (page.evaluate("document.documentElement.scrollWidth"), image.bounding_box()["width"])
    assert after == before
    assert _sideways(page) <= 0
    assert _serious(page) == []
    # the tabs above the image still take clicks (no overlay over them)
    page.get_by_role("tab", name="Text").click()
    assert page.locator("#tab-text").is_visible()


def test_the_viewer_by_keyboard_alone(site):
    page = site["page"]
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{site['base']}/jobs/{site['jobs']['pdf']}/")
    stops = []
    for _ in range(60):
        page.keyboard.press("Tab")
        stops.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
        if stops[-1] == "t-text":
            break
    assert stops[-1] == "t-text", stops
    assert len(stops) <= 40, " | ".join(stops)  # links, buttons and thumbnails, not one stop per recognised box
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "t-blocks"
    assert page.locator("#tab-blocks").is_visible()
    page.keyboard.press("End")
    assert page.evaluate("document.activeElement.id") == "t-json"
    assert page.locator("#tab-json").is_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Copy text"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.tagName") == "PRE"  # the JSON box scrolls by keyboard too
    # the account menu opens from the keyboard and Escape closes it, focus back on its summary
    page.locator("details.account summary").focus()
    page.keyboard.press("Enter")
    assert page.locator("details.account").get_attribute("open") is not None
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    assert page.locator("details.account").get_attribute("open") is None
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"


def test_the_job_list_polls_once_and_back_restores_its_filters(site):
    page = site["page"]
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{site['base']}/jobs/")
    page.get_by_label("Mode").select_option("table")
    page.wait_for_url("**mode=table**")
    page.goto(f"{site['base']}/usage/")
    page.go_back()
    page.wait_for_url("**mode=table**")
    page.wait_for_load_state("load")
    assert page.locator("#f-mode").input_value() == "table", page.content()[:3000]
    assert page.locator("table.jobs tbody tr").count() == 1
    assert page.locator("[hx-trigger='every 2s']").count() <= 1


def test_times_are_local_with_their_zone(browser, site):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        timezone_id="Asia/Tokyo",
        storage_state=site["context"].storage_state(),  # the same logged-in session
    )
    page = context.new_page()
    page.goto(f"{site['base']}/jobs/")
    shown = page.locator("table.jobs time").first
    assert "GMT+9" in shown.inner_text() or "JST" in shown.inner_text()
    assert shown.get_attribute("title").endswith("UTC")
    context.close()
