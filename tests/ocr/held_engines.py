"""Engines that hold a call until the test lets it go, so admission is tested with events, not timers.

- `EventEngine`: in-process (the request's thread); `entered` is released once per call that reaches the engine,
  and every call waits for `release`.
- `FileHeldEngine`: for an engine process (`inference.procpool`, built there from `module:callable`); a call
  writes `<dir>/entered-<pid>` and waits until `<dir>/release` exists.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from inference.base import Block, ModeSpec, PageResult

HANG_BOUND_S = 60  # only bounds a hang if a test forgets to release


class EventEngine:
    model_name = "held-engine"

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.calls = 0

    def supports(self, mode: ModeSpec) -> bool:
        return True

    def recognize(self, image, mode: ModeSpec, *, source=None) -> PageResult:
        self.calls += 1
        self.entered.release()
        if not self.release.wait(HANG_BOUND_S):
            raise AssertionError("the test never released the engine")
        return PageResult(text="held text", blocks=[Block("text", "held text", [0, 0, 1, 1])], width=1, height=1)


class FileHeldEngine:
    model_name = "held-engine"

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def supports(self, mode: ModeSpec) -> bool:
        return True

    def recognize(self, image, mode: ModeSpec, *, source=None) -> PageResult:
        (self.folder / f"entered-{os.getpid()}").write_text("")
        deadline = time.monotonic() + HANG_BOUND_S
        while not (self.folder / "release").exists():
            if time.monotonic() > deadline:
                raise AssertionError("the test never released the engine")
            time.sleep(0.01)
        return PageResult(text="file text", blocks=[], width=image.width, height=image.height)
