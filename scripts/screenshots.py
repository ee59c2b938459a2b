"""`make screenshots`: every dashboard page at 1280 px and at a 390 px phone width, in headless Chromium, against a
real DeepRead on embedded defaults with some work done. Saved under var/screenshots/; look at them."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.browser import launch  # noqa: E402
from tests.mailbox import link_to  # noqa: E402
from tests.samples import encode, pdf_bytes, render_lines, render_table  # noqa: E402
from tests.stack import running_stack  # noqa: E402

OUT = ROOT / "var" / "screenshots"
PASSWORD = "a long enough pass phrase"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
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
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{base}/accounts/signup/")
        shots = [("signup", f"{base}/accounts/signup/"), ("login", f"{base}/accounts/login/")]
        page.get_by_label("E-mail address").fill("ada@example.com")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password again").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.wait_for_url(f"{base}/accounts/signup/sent/")
        page.goto(base + link_to(Path(var), "ada@example.com"))
        page.get_by_label("Password chosen at sign-up").fill(PASSWORD)
        page.get_by_role("button", name="Confirm and log in").click()
        page.wait_for_url(f"{base}/welcome/")
        shots.append(("welcome", f"{base}/welcome/"))
        shots.append(("jobs-empty", f"{base}/jobs/"))
        for name, url in shots[2:]:
            for label, (w, h) in WIDTHS.items():
                page.set_viewport_size({"width": w, "height": h})
                page.goto(url)
                page.screenshot(path=str(OUT / f"{name}-{label}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{base}/upload/")
        page.get_by_label("Table Recognition").check()
        page.set_input_files("#files", [str(files / n) for n in ("invoice.png", "prices.png", "report.pdf")])
        page.get_by_text("All uploads finished.").wait_for(timeout=120_000)
        for label, (w, h) in WIDTHS.items():
            page.set_viewport_size({"width": w, "height": h})
            page.screenshot(path=str(OUT / f"upload-done-{label}.png"), full_page=True)
        page.goto(f"{base}/jobs/")
        page.screenshot(path=str(OUT / "jobs-live-desktop.png"), full_page=True)
        expect(page.locator("table.jobs .badge-completed")).to_have_count(6, timeout=180_000)
        page.goto(f"{base}/keys/")
        page.get_by_label("New key name").fill("laptop")
        page.get_by_role("button", name="Create key").click()
        page.locator("#new-key").wait_for()
        for label, (w, h) in WIDTHS.items():
            page.set_viewport_size({"width": w, "height": h})
            page.screenshot(path=str(OUT / f"keys-new-{label}.png"), full_page=True)
        page.goto(f"{base}/jobs/?mode=table")
        table_job = (
            page.locator("table.jobs tr", has_text="prices.png").get_by_role("link", name="View").get_attribute("href")
        )
        pdf_job = (
            page.locator("table.jobs tr", has_text="report.pdf").get_by_role("link", name="View").get_attribute("href")
        )
        pages = {
            "jobs": f"{base}/jobs/",
            "viewer-table": f"{base}{table_job}",
            "viewer-pdf": f"{base}{pdf_job}?page=2",
            "keys": f"{base}/keys/",
            "usage": f"{base}/usage/",
            "modes": f"{base}/modes/",
            "mode-editor": f"{base}/modes/new",
            "password": f"{base}/accounts/password/",
            "upload": f"{base}/upload/",
        }
        for name, url in pages.items():
            for label, (w, h) in WIDTHS.items():
                page.set_viewport_size({"width": w, "height": h})
                page.goto(url)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"{name}-{label}.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{base}/modes/new")
        page.set_input_files("#id_sample", str(files / "invoice.png"))
        page.get_by_role("button", name="Run preview").click()
        page.locator("#preview-result img.annotated").wait_for(timeout=120_000)
        page.screenshot(path=str(OUT / "mode-preview-desktop.png"), full_page=True)
        context.close()
        anonymous = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
        for name, url in shots[:2]:
            anonymous.goto(url)
            anonymous.screenshot(path=str(OUT / f"{name}-phone.png"), full_page=True)
            anonymous.set_viewport_size({"width": 1280, "height": 900})
            anonymous.screenshot(path=str(OUT / f"{name}-desktop.png"), full_page=True)
            anonymous.set_viewport_size({"width": 390, "height": 844})
        browser.close()
    print(f"Screenshots in {OUT}")


if __name__ == "__main__":
    main()
