"""Engine processes owned by a web process, so that CPU-heavy OCR for a waiting caller never runs on the threads
(or under the GIL) of the process that serves pages.

`EngineProcessPool(engine, options, size)` starts `size` processes (spawned, not forked: the web process has
threads), each loading the engine once; `run(...)` sends one document to a free one and waits for its outcome. A
process that dies mid-call (killed, out of memory, a crash in native code) fails that call with `EngineProcessDied`
and the pool is replaced, so the next call gets a fresh process. An engine process exits by itself if the web
process that owns it dies.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import multiprocessing
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from inference.base import EngineError, ModeSpec, PageResult
from inference.documents import DocumentInfo, InputError, PageImage
from inference.oneshot import recognize_pages


class EngineProcessDied(EngineError):
    """The engine process ended while it held the call; the call was not done."""

    retryable = True


class EngineLoadFailed(EngineError):
    """The engine failed to load in the worker process; retryable."""

    retryable = True


_ENGINE: Any = None


def _load(engine: str, options: dict[str, Any]) -> Any:
    """`engine` is a registry name (`rapidocr`) or `module:callable` (tests' engines)."""
    if ":" in engine:
        module, _, attr = engine.partition(":")
        return getattr(importlib.import_module(module), attr)(**options)
    from inference.registry import get_engine

    return get_engine(engine, **options)


def _watch_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(0)  # the web process is gone: nobody will ever read our answer
        time.sleep(1.0)


def _child_init(engine: str, options: dict[str, Any], parent: int) -> None:
    global _ENGINE
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()
    _ENGINE = _load(engine, options)


def _child_ping() -> str:
    return _ENGINE.model_name


def _child_run(data: bytes, info: DocumentInfo, spec: ModeSpec, kwargs: dict[str, Any]) -> tuple:
    """Returns ("ok", outcome) or ("error", class name, message, retryable, kind): exceptions are sent back as
    plain values, since not all of them survive pickling with their attributes."""
    try:
        return ("ok", recognize_pages(_ENGINE, data, info, spec, **kwargs))
    except InputError as exc:
        return ("error", "InputError", exc.message, False, exc.kind)
    except EngineError as exc:
        return ("error", type(exc).__name__, exc.message, exc.retryable, "")


class EngineProcessPool:
    """A pool of `size` processes each holding a loaded engine, replaced when one dies."""

    def __init__(self, engine: str, options: dict[str, Any], *, size: int) -> None:
        self.engine, self.options, self.size = engine, dict(options), size
        self._lock = threading.Lock()
        self._executor: concurrent.futures.ProcessPoolExecutor | None = None
        self._warm: concurrent.futures.Future | None = None

    def start(self) -> None:
        """Start the processes and load the engine in the background (idempotent)."""
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.size,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_child_init,
                    initargs=(self.engine, self.options, os.getpid()),
                )
                self._warm = self._executor.submit(_child_ping)

    @property
    def ready(self) -> bool:
        """Whether the engine has loaded (a process answered)."""
        warm = self._warm
        return warm is not None and warm.done() and warm.exception() is None

    def wait_ready(self, timeout: float) -> bool:
        """Start the pool and wait up to `timeout` seconds for a process to load the engine.

        Returns False (never raises) when it has not loaded by then or failed to; a broken pool is replaced.
        """
        self.start()
        try:
            self._warm.result(timeout)  # type: ignore[union-attr]
        except BrokenProcessPool:
            self._replace(self._executor)
            return False
        except Exception:
            return False
        return True

    def load_error(self) -> str | None:
        """Why loading the engine failed, or None while it is loading or once it has loaded."""
        warm = self._warm
        if warm is None or not warm.done() or warm.exception() is None:
            return None
        return str(warm.exception()) or type(warm.exception()).__name__

    def run(self, data: bytes, info: DocumentInfo, spec: ModeSpec, **kwargs: Any) -> list[tuple[PageImage, PageResult]]:
        """One document in an engine process; `kwargs` go to `inference.oneshot.recognize_pages`. Raises what
        that raises, or `EngineProcessDied`."""
        self.start()
        executor = self._executor
        try:
            answer = executor.submit(_child_run, data, info, spec, kwargs).result()  # type: ignore[union-attr]
        except BrokenProcessPool as exc:
            self._replace(executor)
            raise EngineProcessDied("The OCR engine process stopped during the call; retry it.") from exc
        if answer[0] == "ok":
            return answer[1]
        _, name, message, retryable, kind = answer
        if name == "InputError":
            raise InputError(message, kind)
        from inference import base

        error_class = getattr(base, name, EngineError)
        error = error_class(message) if issubclass(error_class, EngineError) else EngineError(message)
        if retryable and not error.retryable:
            error.retryable = True
        raise error

    def child_pids(self) -> list[int]:
        """Process ids of the pool's child processes ([] before it starts)."""
        executor = self._executor
        return list(getattr(executor, "_processes", {}) or {}) if executor else []

    def _replace(self, broken: concurrent.futures.ProcessPoolExecutor | None) -> None:
        with self._lock:
            if self._executor is broken and broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = None
        self.start()

    def shutdown(self) -> None:
        """Stop the pool without waiting, cancelling queued work; safe to call twice."""
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
