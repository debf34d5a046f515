"""Progress of long work: rich progress bars on a terminal, plain ``[stage] message`` lines otherwise.

The pipeline reports through the module functions -- ``step`` (a timed stage),
``track`` (per-key progress over an iterable) and ``note`` (one line) -- which
do nothing until a command installs a reporter with ``use``. So library code,
tests and Prefect-served runs stay silent, and the CLI decides what is shown:

- stdout is a terminal: rich progress bars (spinner, bar for per-key work, elapsed time);
- stdout is a pipe or a file: plain lines, e.g. ``[prices.extract] 28071 rows (1.2 s)``;
- ``--quiet``: nothing (the CLI prints only errors).

Stages are named ``<dataset>.<step>`` (``prices.extract``, ``prices.validate``,
``prices.load``), ``dbt.build``, ``publish``, ``run``. Reporters are thread-safe:
the ingest tasks run concurrently.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TypeVar

T = TypeVar("T")

PLAIN_KEY_STEPS = 10  # a plain reporter prints per-key progress about this many times per stage


class Reporter:
    """Receives progress events; this base class ignores them (quiet)."""

    def start(self, stage: str, message: str = "", *, total: int | None = None) -> None:
        """A stage begins; ``total`` when it iterates a known number of keys."""

    def advance(self, stage: str, amount: int = 1) -> None:
        """``amount`` more keys of the stage are done."""

    def finish(self, stage: str, message: str) -> None:
        """The stage ended, with a one-line outcome (``28071 rows (1.2 s)``, ``FAILED: ...``)."""

    def note(self, stage: str, message: str) -> None:
        """One line that is not a stage (the run id, a skip)."""

    def close(self) -> None:
        """No more events: stop any live display."""


class PlainReporter(Reporter):
    """``[stage] message`` lines on a stream: for pipes, files, CI logs and tests."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._totals: dict[str, tuple[int, int, int]] = {}  # stage -> (done, total, last printed)

    def _line(self, stage: str, message: str) -> None:
        with self._lock:
            self.stream.write(f"[{stage}] {message}\n")
            self.stream.flush()

    def start(self, stage: str, message: str = "", *, total: int | None = None) -> None:
        if total:
            self._totals[stage] = (0, total, 0)
        self._line(stage, message or ("started" if not total else f"0/{total} keys"))

    def advance(self, stage: str, amount: int = 1) -> None:
        if stage not in self._totals:
            return
        done, total, printed = self._totals[stage]
        done += amount
        every = max(1, total // PLAIN_KEY_STEPS)
        if done - printed >= every or done == total:
            printed = done
            self._line(stage, f"{done}/{total} keys")
        self._totals[stage] = (done, total, printed)

    def finish(self, stage: str, message: str) -> None:
        self._totals.pop(stage, None)
        self._line(stage, message)

    def note(self, stage: str, message: str) -> None:
        self._line(stage, message)


class RichReporter(Reporter):
    """Rich progress bars on a terminal: one row per stage, a bar where the number of keys is known."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(file=stream)
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("[bold]{task.fields[stage]:<22}"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[keys]:>11}"),  # "250/500" for per-key stages, blank otherwise
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._tasks: dict[str, Any] = {}
        self._done: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self.progress.start()

    def start(self, stage: str, message: str = "", *, total: int | None = None) -> None:
        with self._lock:
            keys = f"0/{total}" if total else ""
            self._tasks[stage] = self.progress.add_task(message, total=total, stage=stage, keys=keys)
            if total:
                self._done[stage] = (0, total)

    def advance(self, stage: str, amount: int = 1) -> None:
        with self._lock:
            task = self._tasks.get(stage)
            if task is None or stage not in self._done:
                return
            done, total = self._done[stage]
            self._done[stage] = (done + amount, total)
        self.progress.update(task, advance=amount, keys=f"{done + amount}/{total}")

    def finish(self, stage: str, message: str) -> None:
        with self._lock:
            task = self._tasks.pop(stage, None)
            self._done.pop(stage, None)
        if task is None:
            self.console.print(f"[{stage}] {message}", markup=False)
            return
        total = self.progress.tasks[task].total or 1
        failed = "FAILED" in message
        self.progress.update(task, description=f"[red]{message}" if failed else message, total=total, completed=total)
        self.progress.stop_task(task)

    def note(self, stage: str, message: str) -> None:
        self.progress.console.print(f"[{stage}] {message}", markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def reporter_for(stream: IO[str], *, quiet: bool = False) -> Reporter:
    """Quiet: nothing. A terminal: rich bars. Anything else: plain lines."""
    if quiet:
        return Reporter()
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return RichReporter(stream)
    return PlainReporter(stream)


_current: Reporter = Reporter()


def current() -> Reporter:
    return _current


@contextmanager
def use(reporter: Reporter) -> Iterator[Reporter]:
    """Send the progress events of the block (all threads) to ``reporter``."""
    global _current
    previous, _current = _current, reporter
    try:
        yield reporter
    finally:
        _current = previous
        reporter.close()


def seconds(elapsed: float) -> str:
    if elapsed < 60:
        return f"{elapsed:.1f} s"
    minutes, rest = divmod(round(elapsed), 60)
    return f"{minutes} min {rest:02d} s"


class _Outcome:
    """What ``step`` prints when its block ends: call it with the stage's one-line result."""

    def __init__(self) -> None:
        self.text = "done"

    def __call__(self, text: str) -> None:
        self.text = text


@contextmanager
def step(stage: str, message: str = "") -> Iterator[Callable[[str], None]]:
    """A timed stage: ``with step("dbt.build") as done: ...; done("passed")``.

    The outcome line gets the elapsed time appended; an exception ends the
    stage as ``FAILED: <type>`` and propagates.
    """
    reporter = _current
    outcome = _Outcome()
    started = time.monotonic()
    reporter.start(stage, message)
    try:
        yield outcome
    except BaseException as exc:
        reporter.finish(stage, f"FAILED: {type(exc).__name__} ({seconds(time.monotonic() - started)})")
        raise
    reporter.finish(stage, f"{outcome.text} ({seconds(time.monotonic() - started)})")


def track(items: Iterable[T], stage: str, *, total: int | None = None) -> Iterator[T]:
    """Yield ``items`` and report per-key progress under ``stage`` (for loops over tickers, series, pages)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    reporter = _current
    reporter.start(stage, total=total)
    count = 0
    for item in items:
        yield item
        count += 1
        reporter.advance(stage)
    reporter.finish(stage, f"{count} keys")


def note(stage: str, message: str) -> None:
    _current.note(stage, message)
