"""The `deepread` command: OCR files and folders through a DeepRead server, and look at jobs, modes and usage.

    deepread ocr scans/ invoice.pdf --mode document --format md --out results/ --concurrency 4
    deepread jobs --mode table --json
    deepread result 550e8400-e29b-41d4-a716-446655440000 --format txt
    deepread modes
    deepread usage

Exit status: 0 when everything worked, 1 when a file failed (each is listed), 2 for a usage or configuration
error, 130 after Ctrl-C. `--json` prints machine-readable output on stdout; progress and messages go to stderr.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from deepread.client.batch import Item, Run
from deepread.client.config import ConfigError, resolve
from deepread.client.outputs import FORMATS, expand_inputs, render
from deepread.client.sdk import ApiError, Cancelled, Client, RetryPolicy

stderr = Console(stderr=True)
stdout = Console()


def _connection_options(command: Callable) -> Callable:
    @click.option("--api-key", envvar="DEEPREAD_API_KEY", help="ocr_… key (or DEEPREAD_API_KEY, or the config file)")
    @click.option("--base-url", envvar="DEEPREAD_BASE_URL", help="server root, e.g. https://ocr.example.com")
    @click.option("--config", "config_file", envvar="DEEPREAD_CONFIG", help="TOML file with api_key and base_url")
    @click.option("--json", "as_json", is_flag=True, help="machine-readable output on stdout")
    @functools.wraps(command)
    def wrapper(api_key: str | None, base_url: str | None, config_file: str | None, **kwargs: Any) -> Any:
        """Resolve settings, build a Client and run the command; an ApiError is printed and exits with status 1.

        Raises click.UsageError when no API key or base URL can be found.
        """
        try:
            settings = resolve(api_key=api_key, base_url=base_url, config=config_file)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from exc
        cancel = threading.Event()

        def sleep(seconds: float) -> None:
            """Wait `seconds` between retries; raises Cancelled as soon as Ctrl-C sets `cancel`."""
            if cancel.wait(seconds):
                raise Cancelled

        def on_retry(status: int, wait_s: float, url: str) -> None:
            """Tell the user a request is being retried (`status` 0 = connection error, `wait_s` seconds)."""
            reason = f"HTTP {status}" if status else "a connection error"
            stderr.print(f"[yellow]retrying after {reason} in {wait_s:.1f} s[/] ({url.split('?')[0]})")

        client = Client(settings.api_key, settings.base_url, retry=RetryPolicy(sleep=sleep), on_retry=on_retry)
        try:
            return command(client=client, cancel=cancel, **kwargs)
        except ApiError as exc:
            stderr.print(f"[red]error:[/] {exc}")
            sys.exit(1)
        finally:
            client.close()

    return wrapper


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="deepread", prog_name="deepread")
def main() -> None:
    """OCR files with a DeepRead server, and look at your jobs, modes and usage."""


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--mode", "-m", "modes", multiple=True, help="mode to run; repeat for several (default: yours)")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False, path_type=Path), help="write results here")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option("--concurrency", "-c", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--poll", "poll_s", type=click.FloatRange(0.1, 60), default=1.0, show_default=True, hidden=True)
@click.option("--svg", type=click.Path(dir_okay=False, path_type=Path), hidden=True, help="save the bars as SVG")
@_connection_options
def ocr(
    client: Client,
    cancel: threading.Event,
    files: tuple[str, ...],
    modes: tuple[str, ...],
    out_dir: Path | None,
    fmt: str,
    concurrency: int,
    poll_s: float,
    svg: Path | None,
    as_json: bool,
) -> None:
    """OCR FILES (files, folders or globs) through the job API; write <stem>.<mode>.<format> beside each input or
    in --out.

    Raises click.UsageError (exit 2) when the arguments name no PNG, JPEG, BMP, TIFF or PDF file.
    """
    sources = expand_inputs(files)
    if not sources:
        raise click.UsageError("No PNG, JPEG, BMP, TIFF or PDF files found in the arguments.")
    items = [Item(source, mode) for source in sources for mode in (modes or (None,))]
    run = Run(client=client, items=items, fmt=fmt, out_dir=out_dir, concurrency=concurrency, console=stderr,
              poll_s=poll_s, svg=svg, cancel=cancel)  # fmt: skip
    try:
        outcomes = run.run()
    except KeyboardInterrupt:
        stderr.print("[yellow]Interrupted.[/] Finished results are kept; nothing was left half-written.")
        sys.exit(130)
    failed = [o for o in outcomes if o.error]
    if as_json:
        _print_json({
            "written": [{"file": str(o.item.source), "mode": o.item.mode, "job_id": o.job_id, "output": str(o.written)}
                        for o in outcomes if o.written],
            "failed": [{"file": str(o.item.source), "mode": o.item.mode, "job_id": o.job_id, "error": o.error}
                       for o in failed],
        })  # fmt: skip
    done = len(outcomes) - len(failed)
    stderr.print(f"{done} of {len(outcomes)} done" + (f", written to {out_dir}" if out_dir and done else "") + ".")
    if failed:
        stderr.print("[red]Failed:[/]")
        for o in failed:
            stderr.print(f"  {o.item.source}" + (f" [{o.item.mode}]" if o.item.mode else "") + f": {o.error}")
        sys.exit(1)


@main.command()
@click.option("--mode", "-m", help="only this mode")
@click.option("--filename", help="part of the file name")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@_connection_options
def jobs(client: Client, cancel: threading.Event, mode: str | None, filename: str | None, limit: int,
         as_json: bool) -> None:  # fmt: skip
    """List your jobs, newest first."""
    listing = client.jobs(mode=mode, filename=filename, limit=limit)
    if as_json:
        _print_json({"files": [vars(f) for f in listing.files], "total_count": listing.total_count,
                     "completed_count": listing.completed_count, "pending_count": listing.pending_count})  # fmt: skip
        return
    table = Table("job id", "file", "mode", "status", "output key", "modified")
    for f in listing.files:
        table.add_row(f.job_id, f.filename, f.mode, f.status, f.output_key or "", (f.last_modified or "")[:19])
    stdout.print(table)
    stdout.print(f"{listing.total_count} jobs: {listing.completed_count} completed, {listing.pending_count} pending")


@main.command()
@click.argument("job_id")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@_connection_options
def result(client: Client, cancel: threading.Event, job_id: str, fmt: str, as_json: bool) -> None:
    """Show one job's result (its status while it runs)."""
    state = client.result(job_id)
    if as_json:
        _print_json(vars(state))
    elif state.status == "completed" and state.result is not None:
        click.echo(render(state.result, fmt), nl=False)
    else:
        stderr.print(f"{state.filename} [{state.mode}]: {state.status}" + (f": {state.error}" if state.error else ""))
    if state.status == "failed":
        sys.exit(1)


@main.command()
@_connection_options
def modes(client: Client, cancel: threading.Event, as_json: bool) -> None:
    """List the modes you can use."""
    found = client.modes()
    if as_json:
        _print_json([vars(m) for m in found])
        return
    table = Table("name", "display name", "description", "default")
    for m in found:
        table.add_row(m.name, m.display_name, m.description, "✓" if m.is_default else "")
    stdout.print(table)


@main.command()
@_connection_options
def usage(client: Client, cancel: threading.Event, as_json: bool) -> None:
    """This month's requests against your limit."""
    summary = client.usage()
    if as_json:
        _print_json(summary)
        return
    month = summary.get("month") or {}
    limit = month.get("limit")
    line = f"Used {month.get('used', 0)} of {limit if limit is not None else 'unlimited'} requests this month"
    if limit is not None:
        line += f"; {month.get('remaining')} left, reset {month.get('reset')}"
    stdout.print(line)
    by_mode = summary.get("by_mode") or []
    if by_mode:
        table = Table("mode", "requests")
        for row in by_mode:
            table.add_row(str(row.get("mode")), str(row.get("count")))
        stdout.print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
