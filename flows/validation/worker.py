"""The GX worker: a child process that imports Great Expectations while the run does other things.

``import great_expectations`` costs ~3.6 s of one core, holding the GIL the whole time. Done in the run's
own process, the first batch to validate waits for it, and so do the other ingest tasks, starved of
the GIL. :func:`start` spawns one worker process per pipeline process (the daily flow starts it as soon as it
knows a new session of prices is due, so batches will most likely be validated); it imports GX on the other
core and then validates batches sent to it, one at a time, with the same function the run would call itself
(:func:`flows.validation.engine.run_suite`). :func:`run` sends a suite run there when a worker was started,
and runs it here otherwise (a run with no session due, tests, ``gapwatch quarantine``). A run with nothing
new starts none: the import would take the other core from the run's own work, and the run's exit would wait
for it.

Lifetime: the worker lives as long as the process that started it -- the next run in the same process
(tests, a notebook) reuses it, already warm. It ends when that process exits (:func:`stop` at exit) or
dies: the worker reads requests from a pipe, and a parent killed with ``kill -9`` closes the pipe, so the
worker's next read ends it. If the worker itself dies (killed, out of memory), the run notes it and
validates in its own process: the worker only changes where GX runs, never what it checks.
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from typing import Any

from flows.ops import progress
from flows.validation.engine import SuiteRun, run_suite

_lock = threading.Lock()
_worker: _Worker | None = None


class _Worker:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process that runs threads
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), name="gapwatch-gx-worker", daemon=True)
        self.process.start()
        child.close()

    def run(self, suite_run: SuiteRun) -> dict[str, Any]:
        self.connection.send(suite_run)
        ok, value = self.connection.recv()
        if not ok:
            raise value
        return value

    def close(self) -> None:
        # Killed, not asked to finish: it holds nothing (close is called under the lock, so no batch is being
        # validated), and its own exit -- tearing down GX's modules, ~0.5 s -- or the rest of its GX import
        # would be waited for at the end of every run.
        self.connection.close()
        self.process.kill()
        self.process.join()


def _serve(connection: Connection) -> None:
    """The worker's loop: import GX, then validate each request until the parent's end of the pipe closes."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations  # noqa: F401 - the point of the worker: imported before the first batch arrives

    from flows.validation.engine import _context

    _context()
    while True:
        try:
            suite_run = connection.recv()
        except (EOFError, OSError):  # the pipeline process ended (or was killed)
            return
        try:
            connection.send((True, run_suite(suite_run)))
        except Exception as exc:  # noqa: BLE001 - sent back and raised in the pipeline, where it is reported
            try:
                connection.send((False, exc))
            except Exception:  # noqa: BLE001 - an exception that does not pickle: its text still reaches the run
                connection.send((False, RuntimeError(f"{type(exc).__name__}: {exc}")))
        # the batch is not kept while the worker waits (through dbt's build, the run's largest process)
        suite_run = None
        _release_memory()


def _release_memory() -> None:
    """Free the last batch and hand the freed heap back to the system (glibc keeps it otherwise)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the memory is reused by the next batch instead
        pass


def start() -> None:
    """Start this process's GX worker, unless one is running (idempotent, returns at once)."""
    global _worker
    with _lock:
        if _worker is None or not _worker.process.is_alive():
            _worker = _Worker()


def stop() -> None:
    """End this process's GX worker, if any."""
    global _worker
    with _lock:
        if _worker is not None:
            _worker.close()
            _worker = None


atexit.register(stop)


def run(suite_run: SuiteRun) -> dict[str, Any]:
    """Run the suite in the GX worker if one was started, else in this process (see the module's docstring)."""
    global _worker
    with _lock:  # one batch at a time, as GX in one process validates them anyway
        if _worker is None:
            return run_suite(suite_run)
        try:
            return _worker.run(suite_run)
        except (EOFError, OSError, BrokenPipeError) as exc:
            code = _worker.process.exitcode
            _worker.close()
            _worker = None
            progress.note(
                f"{suite_run.dataset}.validate",
                f"the GX worker process ended ({type(exc).__name__}, exit code {code}); validating in this process",
            )
    return run_suite(suite_run)
