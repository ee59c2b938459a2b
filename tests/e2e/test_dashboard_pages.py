"""Every dashboard page and state in headless Chromium at 1280 px and on a 390 px phone: no sideways scrolling,
axe-core with no serious or critical violation, the viewer's JSON tab leaving the page's width alone, and the
keyboard reaching every action (tabs by arrow keys, the account menu closed by Escape).

Work is done through the public API against the fake vLLM server, so results arrive in seconds on any machine."""

from __future__ import annotations

import pytest
import requests

from devtools.browser import chromium_path
from devtools.samples import encode, pdf_bytes, render_lines, render_table
from tests.e2e.test_browser import sign_up

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.vllm,
    pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]
EMAIL = "pages@example.com"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


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
    files = {"invoice": invoice}
    yield {"base": base, "context": context, "page": page, "jobs": jobs, "key": key, "files": files}
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


def test_bulk_delete_on_a_phone_by_keyboard(site):
    """At 390 px: pick two jobs with the keyboard, the bar counts them (and keeps them through the table's poll),
    a declined confirmation deletes nothing, an accepted one deletes exactly those two in one POST."""
    page, base, headers = site["page"], site["base"], {"X-API-Key": site["key"]}
    doomed = []
    for name in ("trash-one.png", "trash-two.png"):
        ticket = requests.post(
            f"{base}/api/v1/upload/signed-url?mode=ocr", json={"filename": name, "content_type": "image/png"},
            headers=headers, timeout=30,
        ).json()  # fmt: skip
        doomed.append(ticket["job_id"])
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/jobs/")
    rows_before = page.locator("table.jobs tbody tr").count()
    assert page.get_by_role("button", name="Delete selected").is_disabled()
    for job_id in doomed:
        page.locator(f"#pick-{job_id}").focus()
        page.keyboard.press("Space")
    assert page.locator("#bulk-count").inner_text() == "2 selected"
    # the list polls while jobs are pending: the picks survive a refresh of the table
    with page.expect_response(lambda r: r.url.startswith(f"{base}/jobs/?") and r.request.method == "GET"):
        pass
    page.wait_for_load_state("networkidle")
    assert page.locator("#pick-" + doomed[0]).is_checked()
    assert page.locator("#pick-" + doomed[1]).is_checked()
    assert _sideways(page) <= 0
    assert _serious(page) == []
    delete = page.get_by_role("button", name="Delete selected")
    assert delete.is_enabled()
    page.once("dialog", lambda dialog: dialog.dismiss())
    delete.focus()
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert page.locator("table.jobs tbody tr").count() == rows_before  # declined: nothing sent, nothing deleted
    posts = []
    page.on("request", lambda r: posts.append(r.post_data) if r.method == "POST" else None)
    page.once("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("Enter")
    page.wait_for_selector("text=2 jobs deleted.")
    assert len(posts) == 1
    assert all(job_id in posts[0] for job_id in doomed)
    assert page.locator("table.jobs tbody tr").count() == rows_before - 2
    for job_id in doomed:
        gone = requests.get(f"{base}/api/v1/results/{job_id}", headers=headers, timeout=30)
        assert gone.status_code == 404
    for job_id in site["jobs"].values():
        assert requests.get(f"{base}/api/v1/jobs/{job_id}", headers=headers, timeout=30).status_code == 200
    assert _serious(page) == []
    assert _sideways(page) <= 0


def test_a_file_read_before_in_a_mode_waits_for_upload_again(site):
    """The invoice was read in the document mode: picking it again (under another name) in document and general OCR
    holds the document one back, before anything is spent, with a link to the earlier job; the other mode uploads.
    "Upload again" then sends it."""
    page, base, headers = site["page"], site["base"], {"X-API-Key": site["key"]}

    def count() -> int:
        return requests.get(f"{base}/api/v1/processing-jobs", headers=headers, timeout=30).json()["total_count"]

    before = count()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/upload/")
    assert page.evaluate("window.isSecureContext")  # 127.0.0.1: the browser hashes with crypto.subtle
    page.get_by_label("Document Analysis").check()
    page.set_input_files(
        "#files", [{"name": "renamed-invoice.png", "mimeType": "image/png", "buffer": site["files"]["invoice"]}]
    )
    page.get_by_text("1 file was uploaded before in that mode: view it or upload again.").wait_for(timeout=60_000)
    held = page.locator("#uploads li.held")
    assert held.count() == 1
    assert "renamed-invoice.png · document" in held.inner_text()
    assert "already uploaded on" in held.inner_text()
    assert held.get_by_role("link", name="view").get_attribute("href") == f"/jobs/{site['jobs']['image']}/"
    assert count() == before + 1  # only the general OCR one was sent
    assert _sideways(page) <= 0
    assert _serious(page) == []
    held.get_by_role("button", name="Upload renamed-invoice.png · document again").click()
    page.locator("#uploads li.done").nth(1).wait_for(timeout=60_000)
    assert count() == before + 2


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_mode_editor_asks_before_a_template_replaces_a_typed_prompt(site, width):
    page = site["page"]
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    page.goto(f"{site['base']}/modes/new")
    prompt = page.locator("#id_prompt")
    templates = page.get_by_role("group", name="Prompt templates").get_by_role("button")
    first, second = templates.nth(0), templates.nth(1)
    asked: list[str] = []
    decision = {"accept": False}

    def handle(dialog):
        asked.append(dialog.message)
        dialog.accept() if decision["accept"] else dialog.dismiss()

    page.on("dialog", handle)
    try:
        # An empty prompt, or one that is a template untouched, is replaced without a question.
        first.click()
        assert prompt.input_value() == first.get_attribute("data-template")
        second.click()
        assert prompt.input_value() == second.get_attribute("data-template")
        assert asked == []
        # A typed prompt: declining keeps it; accepting replaces it.
        prompt.fill("<image>\nMy own careful prompt.")
        first.click()
        assert asked == ["Replace the prompt you typed with this template?"]
        assert prompt.input_value() == "<image>\nMy own careful prompt."
        decision["accept"] = True
        first.click()
        assert len(asked) == 2
        assert prompt.input_value() == first.get_attribute("data-template")
    finally:
        page.remove_listener("dialog", handle)


def test_the_preview_button_is_busy_and_disabled_while_it_runs(site):
    page, base = site["page"], site["base"]
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{base}/modes/new")
    held = []
    page.route("**/modes/preview", lambda route: held.append(route))  # held until the checks below are done
    page.get_by_role("group", name="Prompt templates").get_by_role("button").first.click()
    page.set_input_files(
        "#id_sample", [{"name": "invoice.png", "mimeType": "image/png", "buffer": site["files"]["invoice"]}]
    )
    button = page.locator("#preview-form button[type=submit]")
    button.click()
    page.wait_for_function("document.querySelector('#preview-form').getAttribute('aria-busy') === 'true'")
    assert button.is_disabled()
    assert button.inner_text() == "Running…"
    assert _serious(page) == []
    while not held:
        page.wait_for_timeout(50)
    held[0].continue_()
    page.unroute("**/modes/preview")
    page.locator("#preview-result img.annotated").wait_for(timeout=60_000)
    assert button.is_enabled()
    assert button.inner_text() == "Run preview"
    assert page.locator("#preview-form").get_attribute("aria-busy") is None
    assert page.locator("#preview-result").inner_text().strip()
