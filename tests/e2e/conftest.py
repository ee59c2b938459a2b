"""The end-to-end fixtures: a real DeepRead (devtools/stack.py) per engine."""

from __future__ import annotations

import pytest

from devtools.fake_vllm import FakeVllm
from devtools.stack import running_stack


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    # Images for /v1/ocr are served on loopback here, so the private-address guard is turned off, explicitly.
    env = {"DEEPREAD_URL_FETCH_ALLOW_PRIVATE": "1"}
    with running_stack(tmp_path_factory.mktemp("e2e-var"), env=env) as stack:
        yield stack


@pytest.fixture(scope="session")
def fake_vllm_server():
    fake = FakeVllm(capacity=64, latency=0.15).start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def vllm_service(tmp_path_factory, fake_vllm_server):
    """DeepRead with DEEPREAD_ENGINE=vllm: the gpu worker on threads, against the fake vLLM server."""
    # The ladder's last step (the CPU engine) is off here so that a page looping at every step fails, as the
    # tests expect; tests/inference/test_models_guard_ladder.py covers that step.
    env = {
        "VLLM_BASE_URL": fake_vllm_server.base_url,
        "DEEPREAD_VLLM_BACKOFF_S": "0.05",
        "DEEPREAD_LADDER_CPU": "0",
    }
    with running_stack(tmp_path_factory.mktemp("e2e-vllm-var"), engine="vllm", env=env) as stack:
        yield stack


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (devtools.browser.launch), one per test module."""
    from playwright.sync_api import sync_playwright

    from devtools.browser import launch

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def console_errors_expected() -> tuple[str, ...]:
    """Console errors a module's pages are meant to log, by a piece of their text (none here; a module overrides
    this fixture, e.g. with the browser's line for a refused upload's 400)."""
    return ()


@pytest.fixture
def page(browser, console_errors_expected):
    """A 1280×900 page in a fresh browser context (downloads accepted, 30 s timeouts); fails the test if the page
    logged a console error (a refused Content-Security-Policy, a failing script) other than those expected."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.set_default_timeout(30_000)
    yield page
    context.close()
    assert [e for e in errors if not any(expected in e for expected in console_errors_expected)] == [], errors
