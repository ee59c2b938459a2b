"""Headless Chromium (Debian's `chromium`) driven by Playwright, for the browser tests and `make screenshots`."""

from __future__ import annotations

import os
import shutil

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    return os.environ.get("DEEPREAD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def launch(playwright):
    path = chromium_path()
    if path is None:
        raise RuntimeError("No Chromium: install Debian's `chromium` (make test does it under .ci/run).")
    return playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
