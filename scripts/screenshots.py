"""`make screenshots`: every dashboard page and state at 1280 px and at a 390 px phone width, in headless Chromium,
against a real DeepRead on embedded defaults (the CPU engine) with some work done. Saved under var/screenshots/
as <page>-desktop.png and <page>-phone.png; look at every one.
Run from the repository root: `python -m scripts.screenshots`.

The CPU engine on a busy machine is slow: every wait for recognition is generous (minutes), and only bounds a hang.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

from devtools.browser import launch
from devtools.mailbox import link_to
from devtools.samples import encode, pdf_bytes, render_lines, render_table
from devtools.stack import running_stack

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "var" / "screenshots"
PASSWORD = "a long enough pass phrase"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
SLOW_MS = 900_000  # recognition on the CPU engine of a loaded machine


def shoot(page, name: str, url: str | None = None, then=None) -> None:
    """`name`-desktop.png and `name`-phone.png: at each width open `url` (if any), run `then(page)` (a state to
    reach), and take the whole page."""
    for label, (w, h) in WIDTHS.items():
        page.set_viewport_size({"width": w, "height": h})
        if url:
            page.goto(url)
            page.wait_for_load_state("load")
        if then:
            then(page)
        page.wait_for_timeout(300)  # local times and the table's first swap settle
        page.screenshot(path=str(OUT / f"{name}-{label}.png"), full_page=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    with tempfile.TemporaryDirectory() as var, running_stack(Path(var)) as stack, sync_playwright() as playwright:
        base = stack.base_url
        files = Path(var) / "files"
        files.mkdir()
        (files / "invoice.png").write_bytes(
            encode(render_lines(["Invoice 2024-0117 for Northwind Traders", "Total amount payable: 1,284.50 EUR"]))
        )
        (files / "prices.png").write_bytes(
            encode(render_table([["Item", "Qty", "Price"], ["Paper", "10", "4.50"], ["Ink", "2", "19.99"]]))
        )
        (files / "report.pdf").write_bytes(pdf_bytes([["Annual report", "Page one text"], ["Page two text"]]))
        browser = launch(playwright)
        anonymous = browser.new_context().new_page()
        shoot(anonymous, "login", f"{base}/accounts/login/")
        shoot(anonymous, "signup", f"{base}/accounts/signup/")
        shoot(anonymous, "password-reset", f"{base}/accounts/password/reset/")

        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{base}/accounts/signup/")
        page.get_by_label("E-mail address").fill("ada@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(f"{base}/accounts/signup/sent/")
        shoot(page, "signup-sent")
        confirm = base + link_to(Path(var), "ada@example.com")
        shoot(page, "signup-confirm", confirm)
        page.get_by_label("Password chosen at sign-up").fill("not the sign-up password")
        page.get_by_role("button", name="Confirm and log in").click()
        shoot(page, "signup-confirm-wrong")
        page.get_by_label("Password chosen at sign-up").fill(PASSWORD)
        page.get_by_role("button", name="Confirm and log in").click()
        page.wait_for_url(f"{base}/welcome/")
        shoot(page, "welcome", f"{base}/welcome/")
        shoot(page, "jobs-empty", f"{base}/jobs/")
        shoot(page, "upload", f"{base}/upload/")

        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{base}/upload/")
        page.get_by_label("Table Recognition").check()
        page.set_input_files("#files", [str(files / n) for n in ("invoice.png", "prices.png", "report.pdf")])
        page.get_by_text("All uploads finished.").wait_for(timeout=SLOW_MS)
        shoot(page, "upload-done")
        shoot(page, "jobs-live", f"{base}/jobs/")
        page.goto(f"{base}/jobs/")
        expect(page.locator("table.jobs .badge-completed")).to_have_count(6, timeout=SLOW_MS)

        # The same file again: held back before anything is spent.
        def pick_again(p) -> None:
            p.set_input_files("#files", str(files / "invoice.png"))
            p.get_by_text("uploaded before in that mode").wait_for(timeout=SLOW_MS)

        shoot(page, "upload-duplicate", f"{base}/upload/", pick_again)

        # Keys: one new (shown once), one revoked (its confirmation, then the list with revoked keys shown).
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{base}/keys/")
        page.get_by_label("New key name").fill("old laptop")
        page.get_by_role("button", name="Create key").click()
        page.locator("#new-key").wait_for()
        page.goto(f"{base}/keys/")
        revoke = page.get_by_role("link", name="Revoke").first.get_attribute("href")
        shoot(page, "key-revoke-confirm", f"{base}{revoke}")
        page.get_by_role("button", name="Revoke").click()
        page.goto(f"{base}/keys/")
        page.get_by_label("New key name").fill("laptop")
        page.get_by_role("button", name="Create key").click()
        page.locator("#new-key").wait_for()
        shoot(page, "keys-new")
        shoot(page, "keys-revoked", f"{base}/keys/?revoked=show")
        shoot(page, "keys", f"{base}/keys/")

        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{base}/jobs/?mode=table")
        row = page.locator("table.jobs tr", has_text="prices.png")
        table_job = row.get_by_role("link", name="View").get_attribute("href")
        pdf_job = (
            page.locator("table.jobs tr", has_text="report.pdf").get_by_role("link", name="View").get_attribute("href")
        )
        page.goto(f"{base}/jobs/?mode=ocr")
        image_job = page.locator("table.jobs tr", has_text="invoice.png").get_by_role("link", name="View")
        image_job = image_job.get_attribute("href")
        shoot(page, "jobs", f"{base}/jobs/")

        def pick_two(p) -> None:
            boxes = p.locator("input[name=ids]")
            boxes.nth(0).check()
            boxes.nth(1).check()

        shoot(page, "jobs-selected", f"{base}/jobs/", pick_two)
        shoot(page, "jobs-filtered", f"{base}/jobs/?mode=table&status=completed")
        shoot(page, "jobs-search", f"{base}/jobs/?q=Northwind")
        shoot(page, "viewer-image", f"{base}{image_job}")
        shoot(page, "viewer-table", f"{base}{table_job}")
        shoot(page, "viewer-pdf", f"{base}{pdf_job}?page=2")

        def json_tab(p) -> None:
            p.get_by_role("tab", name="JSON").click()

        shoot(page, "viewer-json", f"{base}{table_job}", json_tab)

        # A job whose file never came: the pending viewer (made through the API with a key).
        key = stack.new_key("ada@example.com")
        pending = requests.post(
            f"{base}/api/v1/upload/signed-url?mode=ocr",
            json={"filename": "waiting.png", "content_type": "image/png"},
            headers={"X-API-Key": key},
            timeout=60,
        ).json()["job_id"]
        shoot(page, "viewer-pending", f"{base}/jobs/{pending}/")
        shoot(page, "usage", f"{base}/usage/")
        shoot(page, "modes", f"{base}/modes/")
        shoot(page, "mode-editor", f"{base}/modes/new")

        def preview(p) -> None:
            p.get_by_role("group", name="Prompt templates").get_by_role("button").first.click()
            p.set_input_files("#id_sample", str(files / "invoice.png"))
            p.get_by_role("button", name="Run preview").click()
            p.locator("#preview-result img.annotated").wait_for(timeout=SLOW_MS)

        shoot(page, "mode-preview", f"{base}/modes/new", preview)
        shoot(page, "webhooks", f"{base}/webhooks/")
        shoot(page, "password", f"{base}/accounts/password/")
        shoot(page, "not-found", f"{base}/jobs/00000000-0000-0000-0000-000000000000/")
        context.close()
        browser.close()
    print(f"Screenshots in {OUT}: {len(list(OUT.glob('*.png')))} files")


if __name__ == "__main__":
    main()
