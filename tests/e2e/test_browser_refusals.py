"""The upload page in headless Chromium when the server refuses files (issue 12, item 5): the refused job is
cancelled and its request given back at once, the page says nothing was charged and does not claim the uploads
finished; an accepted file's row follows its job to the end."""

from __future__ import annotations

import re

import pytest

from devtools.browser import chromium_path
from devtools.samples import encode, render_lines
from tests.e2e.test_browser import TIMEOUT_MS, expect, sign_up

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.browser,
    pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed (.ci/run installs it)"),
]


@pytest.fixture
def console_errors_expected() -> tuple[str, ...]:
    """The refused uploads' own 400 answers are the only console errors these pages may log."""
    return ("status of 400",)


def _remaining(tab) -> int:
    return int(tab.locator("#quota-remaining").inner_text())


def test_every_file_refused_cancels_the_jobs_and_says_nothing_was_charged(page, service, tmp_path):
    base = service.base_url
    sign_up(page, service, "refused@example.com")
    damaged = tmp_path / "damaged.png"
    damaged.write_bytes(encode(render_lines(["Half a file"]))[:120])
    disguised = tmp_path / "notes.png"
    disguised.write_bytes(b"GIF89a" + bytes(200))
    page.goto(f"{base}/upload/")
    before = _remaining(page)
    page.set_input_files("#files", [str(damaged), str(disguised)])
    page.get_by_text("Every file was refused; nothing was charged.").wait_for(timeout=TIMEOUT_MS)
    expect(page.get_by_text("All uploads finished.")).to_have_count(0)
    expect(page.locator("#after-upload")).to_be_hidden()
    expect(page.locator("#uploads li.failed")).to_have_count(2)
    expect(page.locator("#uploads li.failed").first).to_contain_text("not charged")
    expect(page.locator("#quota-remaining")).to_have_text(str(before))

    page.goto(f"{base}/jobs/")  # both jobs ended at once, nothing is left pending
    expect(page.locator("table.jobs tbody tr")).to_have_count(2)
    expect(page.locator("table.jobs .badge-cancelled")).to_have_count(2)
    page.goto(f"{base}/upload/")
    assert _remaining(page) == before


def test_an_accepted_row_follows_its_job_beside_a_refused_one(page, service, tmp_path):
    base = service.base_url
    sign_up(page, service, "mixed@example.com")
    good = tmp_path / "letter.png"
    good.write_bytes(encode(render_lines(["Dear Grace, the parcel arrived."])))
    bad = tmp_path / "broken.png"
    bad.write_bytes(encode(render_lines(["Broken"]))[:100])
    page.goto(f"{base}/upload/")
    before = _remaining(page)
    page.set_input_files("#files", [str(good), str(bad)])
    page.get_by_text("1 of 2 uploads finished; the refused ones were not charged.").wait_for(timeout=TIMEOUT_MS)
    row = page.locator("#uploads li", has_text="letter.png")
    expect(row.get_by_role("link", name=re.compile("done: view the result"))).to_be_visible(timeout=TIMEOUT_MS)
    expect(row).to_have_class(re.compile(r"\bcompleted\b"))
    expect(page.locator("#quota-remaining")).to_have_text(str(before - 1))
