"""`deepread ocr`: many files through the job API at once, with a progress bar per file (bytes sent, then pages
read) and one for the whole run. Results are written atomically; Ctrl-C stops uploads and polling, removes
nothing finished and leaves no partial file."""

from __future__ import annotations

import concurrent.futures as futures
import io
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from deepread.client.outputs import output_path, render, write_atomic
from deepread.client.sdk import ApiError, Cancelled, Client, JobResult


@dataclass(frozen=True)
class Item:
    """One file to send: its path and mode (None: the account's default)."""

    source: Path
    mode: str | None  # None: the account's default mode


@dataclass
class Outcome:
    """What became of an Item: the result file written, or an error message; the job id once one was created."""

    item: Item
    written: Path | None = None
    error: str | None = None
    job_id: str | None = None


@dataclass
class Run:
    """One `deepread ocr` invocation; `run()` returns an Outcome per (file, mode), in input order."""

    client: Client
    items: list[Item]
    fmt: str
    out_dir: Path | None
    concurrency: int
    console: Console
    poll_s: float = 1.0
    svg: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        sources = {item.source for item in self.items}
        stems = Counter((self.out_dir or src.parent, src.stem) for src in sources)
        self._clash = {src for src in sources if stems[(self.out_dir or src.parent, src.stem)] > 1}
        self.progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(bar_width=30, style="grey42"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._snapshot_taken = False
        self._lock = threading.Lock()

    def run(self) -> list[Outcome]:
        """Upload and wait for every item with `concurrency` threads, showing progress; returns one Outcome per item.

        Ctrl-C sets `cancel` (uploads under way stop), drops the files not started and re-raises KeyboardInterrupt.
        """
        total = self.progress.add_task("[bold]total", total=len(self.items), detail=f"0/{len(self.items)} files")
        bars = {
            item: self.progress.add_task(
                self._label(item),
                total=item.source.stat().st_size if item.source.is_file() else 1,
                detail="waiting",
                start=False,  # its clock starts when its upload does
            )
            for item in self.items
        }
        outcomes: dict[Item, Outcome] = {}
        with self.progress, futures.ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            try:
                pending = {pool.submit(self._one, item, bars[item]): item for item in self.items}
                while pending:
                    done, _ = futures.wait(pending, timeout=0.2, return_when=futures.FIRST_COMPLETED)
                    for future in done:
                        item = pending.pop(future)
                        outcomes[item] = future.result()
                        finished = len(outcomes)
                        self.progress.update(total, completed=finished, detail=f"{finished}/{len(self.items)} files")
                        self._maybe_snapshot(finished)
            except KeyboardInterrupt:
                self.cancel.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        if self.svg and not self._snapshot_taken:
            self._snapshot()
        return [outcomes[item] for item in self.items]

    def _label(self, item: Item) -> str:
        return item.source.name + (f" [{item.mode}]" if item.mode else "")

    def _one(self, item: Item, bar: TaskID) -> Outcome:
        outcome = Outcome(item)
        self.progress.start_task(bar)
        try:
            if not item.source.is_file():
                raise ApiError(0, "No such file.")
            size = item.source.stat().st_size
            sent = 0

            def on_bytes(n: int) -> None:
                """Progress callback: `n` more bytes of the upload were sent."""
                nonlocal sent
                sent += n
                self.progress.update(bar, completed=sent, detail=f"upload {_mb(sent)}/{_mb(size)}")

            upload = self.client.upload(item.source, mode=item.mode, on_bytes=on_bytes, cancel=self.cancel)
            outcome.job_id = upload.job_id
            self.progress.update(bar, total=1, completed=0, detail="queued")
            state = self.client.wait(upload.job_id, poll_s=self.poll_s, cancel=self.cancel,
                                     on_update=lambda s: self._pages(bar, s))  # fmt: skip
            if state.status != "completed" or state.result is None:
                raise ApiError(0, state.error or f"The job ended {state.status}.")
            target = output_path(item.source, mode=state.mode, fmt=self.fmt, out_dir=self.out_dir,
                                 clashing=item.source in self._clash)  # fmt: skip
            write_atomic(target, render(state.result, self.fmt))
            outcome.written = target
            self.progress.update(bar, detail=f"[green]✓ {target.name}")
        except Cancelled:
            outcome.error = "interrupted"
            self.progress.update(bar, detail="[yellow]interrupted")
        except (ApiError, OSError, TimeoutError) as exc:
            outcome.error = exc.detail if isinstance(exc, ApiError) else str(exc)
            self.progress.update(bar, detail=f"[red]✗ {outcome.error}")
        return outcome

    def _pages(self, bar: TaskID, state: JobResult) -> None:
        pages = state.pages or 0
        if pages:
            self.progress.update(bar, total=pages, completed=state.pages_done,
                                 detail=f"{state.pages_done}/{pages} pages, {state.status}")  # fmt: skip
        else:
            self.progress.update(bar, detail=state.status)

    def _maybe_snapshot(self, finished: int) -> None:
        if self.svg and not self._snapshot_taken and finished >= max(1, len(self.items) // 2):
            self._snapshot()

    def _snapshot(self) -> None:
        """Record the bars as they are now as an SVG (`--svg`, for the README)."""
        with self._lock:
            recorder = Console(record=True, width=110, file=io.StringIO())
            recorder.print(self.progress.get_renderable())
            recorder.save_svg(str(self.svg), title="deepread ocr")
            self._snapshot_taken = True


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.0f} kB"
