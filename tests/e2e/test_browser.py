"""The dashboard in real headless Chromium against a real DeepRead (gunicorn, worker, CPU engine)."""

from __future__ import annotations

import json
import re

import pytest
import requests

from devtools.browser import chromium_path
from devtools.mailbox import link_to
from devtools.samples import encode, pdf_bytes, render_lines

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]
PASSWORD = "a long enough pass phrase"
TIMEOUT_MS = 120_000


def expect(locator):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def sign_up(page, stack, email: str) -> None:
    """Sign up, open the confirmation link the stack mailed (var/mail/), confirm with the sign-up password: logged in
    on the welcome page."""
    base = stack.base_url
    page.goto(f"{base}/accounts/signup/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{base}/accounts/signup/sent/")
    page.goto(base + link_to(stack.var, email))
    page.get_by_label("Password chosen at sign-up").fill(PASSWORD)
    page.get_by_role("button", name="Confirm and log in").click()
    page.wait_for_url(f"{base}/welcome/")


def create_key(page, base: str, name: str) -> str:
    page.goto(f"{base}/keys/")
    page.get_by_label("New key name").fill(name)
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").input_value()
    assert key.startswith("ocr_")
    return key


def test_sign_up_key_upload_two_files_in_two_modes_view_and_download(page, service, tmp_path):
    base = service.base_url
    sign_up(page, service, "browser-one@example.com")
    assert page.get_by_role("button", name="Create my first API key").is_visible()
    key = create_key(page, base, "laptop")
    assert requests.get(f"{base}/api/v1/ocr-modes", headers={"X-API-Key": key}, timeout=10).status_code == 200

    png = tmp_path / "letter.png"
    png.write_bytes(encode(render_lines(["Dear Ada, the invoice is attached.", "Total due: 1,284.50 EUR"])))
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(pdf_bytes([["Report page one"], ["Report page two"], ["Report page three"]]))
    page.goto(f"{base}/upload/")
    page.get_by_label("Document Analysis").check()  # General OCR is the default; add document
    page.set_input_files("#files", [str(png), str(pdf)])
    page.get_by_text("All uploads finished.").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#uploads li.done").count() == 4

    page.get_by_role("link", name="Watch them in the job list").click()
    page.wait_for_url(f"{base}/jobs/")
    expect(page.locator("table.jobs tbody tr")).to_have_count(4)
    # Rows update themselves through htmx until every job is done.
    expect(page.locator("table.jobs .badge-completed")).to_have_count(4, timeout=TIMEOUT_MS)
    expect(page.locator("table.jobs tr[hx-trigger]")).to_have_count(0)  # polling stopped

    page.locator("table.jobs tr", has_text="report.pdf").filter(has_text="document").get_by_role(
        "link", name="View"
    ).click()
    page.get_by_text("Page 1 of 3").wait_for()
    assert page.locator("#overlay rect.blk").count() >= 1
    assert "Report page one" in page.locator("#tab-text").inner_text()
    page.get_by_role("link", name="Page 2 →").click()
    page.get_by_text("Page 2 of 3").wait_for()
    expect(page.locator("#tab-text")).to_contain_text("Report page two")
    # Hovering a box highlights its block; the toggle hides the boxes.
    page.get_by_role("tab", name="Blocks").click()
    page.locator("#overlay rect.blk").first.hover()
    expect(page.locator(".blocks li.hl")).to_have_count(1)
    expect(page.locator("#overlay rect.blk").first).to_have_class(re.compile(r"\bhl\b"))
    page.get_by_label(re.compile("Show recognised blocks")).uncheck()
    expect(page.locator("#overlay")).to_have_class("overlay hidden")

    with page.expect_download() as info:
        page.get_by_role("link", name="JSON", exact=True).click()
    with open(info.value.path(), encoding="utf-8") as fh:
        document = json.load(fh)
    assert document["filename"] == "report.pdf"
    assert document["mode"] == "document"
    assert [p["page"] for p in document["pages"]] == [1, 2, 3]
    assert "Report page three" in document["extracted_text"]


def test_custom_mode_preview_then_use_in_an_upload(page, service, tmp_path):
    base = service.base_url
    sign_up(page, service, "browser-two@example.com")
    page.goto(f"{base}/modes/new")
    page.get_by_role("button", name="Table Recognition").click()
    assert page.get_by_label("Prompt", exact=True).input_value() == "<|grounding|>Convert the document to markdown."
    page.get_by_label("Name", exact=True).fill("invoice-lines")
    page.get_by_label("Display name").fill("Invoice lines")
    sample = tmp_path / "sample.png"
    sample.write_bytes(encode(render_lines(["Preview me please"])))
    page.set_input_files("#id_sample", str(sample))
    page.get_by_role("button", name="Run preview").click()
    page.locator("#preview-result img.annotated").wait_for(timeout=TIMEOUT_MS)
    assert "Preview me please" in page.locator("#preview-result").inner_text()
    page.get_by_role("button", name="Create mode").click()
    page.get_by_text("Mode invoice-lines created").wait_for()

    page.goto(f"{base}/upload/")
    page.get_by_label("General OCR").uncheck()
    page.get_by_label("Invoice lines").check()
    page.set_input_files("#files", str(sample))
    page.get_by_text("All uploads finished.").wait_for(timeout=TIMEOUT_MS)
    page.goto(f"{base}/jobs/?mode=invoice-lines")
    expect(page.locator("table.jobs .badge-completed")).to_have_count(1, timeout=TIMEOUT_MS)


def test_a_revoked_key_is_refused_by_the_api(page, service):
    base = service.base_url
    sign_up(page, service, "browser-three@example.com")
    key = create_key(page, base, "to revoke")
    page.goto(f"{base}/keys/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("link", name="Revoke").click()
    page.get_by_role("link", name="Show 1 revoked key").wait_for()  # revoked keys are hidden behind a toggle
    page.get_by_role("link", name="Show 1 revoked key").click()
    page.locator(".badge-failed", has_text="revoked").wait_for()
    response = requests.get(f"{base}/api/v1/ocr-modes", headers={"X-API-Key": key}, timeout=10)
    assert response.status_code == 401


def test_another_user_cannot_open_the_first_users_result(browser, service, tmp_path):
    base = service.base_url
    first = browser.new_context()
    page = first.new_page()
    sign_up(page, service, "owner@example.com")
    image = tmp_path / "private.png"
    image.write_bytes(encode(render_lines(["Private letter"])))
    page.goto(f"{base}/upload/")
    page.set_input_files("#files", str(image))
    page.get_by_text("All uploads finished.").wait_for(timeout=TIMEOUT_MS)
    job_url = page.locator("#uploads a").first.get_attribute("href")
    first.close()

    second = browser.new_context()
    intruder = second.new_page()
    sign_up(intruder, service, "intruder@example.com")
    for path in (job_url, f"{job_url}row", f"{job_url}pages/1.png", f"{job_url}download/json",
                 f"{job_url}download/original"):  # fmt: skip
        response = intruder.goto(f"{base}{path}")
        assert response.status == 404, path
        assert "Private letter" not in intruder.content()
    second.close()


def test_every_page_fits_a_390px_phone_without_sideways_scrolling(browser, service):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_up(page, service, "phone@example.com")
    create_key(page, service.base_url, "phone")  # the page with the widest content: a key and its snippet
    for path in (
        "/keys/",
        "/jobs/",
        "/upload/",
        "/usage/",
        "/modes/",
        "/modes/new",
        "/welcome/",
        "/accounts/password/",
    ):
        if path != "/keys/":
            page.goto(f"{service.base_url}{path}")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    context.close()
