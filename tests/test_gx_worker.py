"""The GX worker process: the same verdicts as GX in the pipeline's process, and it never outlives the pipeline.

(The daily flow starts the worker when a session of prices is due, so most flow tests validate through it too;
tests/test_runs.py checks that a run with nothing due starts none.)
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
import weakref
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from conftest import AS_OF, process_alive
from flows.datasets import registry
from flows.ops import progress
from flows.settings import load_settings
from flows.validation import worker
from flows.validation.engine import SuiteRun, _context, run_suite
from flows.validation.gx import (
    ValidationReport,
    derive_checks,
    load_suite_document,
    suite_parameters,
    validate_frame,
)

ROW = {
    "ticker": "0700.HK", "trade_date": date(2026, 11, 19), "open": 400.0, "high": 405.0, "low": 398.0,
    "close": 401.0, "adj_close": 401.0, "volume": 1000, "dividend": 0.0, "split_ratio": 1.0,
    "currency": "HKD", "exchange": "XHKG", "source": "sample",
}  # fmt: skip
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_worker() -> Iterator[None]:
    """No GX worker during the test (one a flow test started is stopped), and none left behind."""
    worker.stop()
    yield
    worker.stop()


def _bad_prices() -> pd.DataFrame:
    changes = [{}, {"high": 390.0}, {"close": -1.0, "trade_date": date(2026, 11, 18)}, {"currency": "USD"}]
    return pd.DataFrame([{**ROW, **change} for change in changes])


def _verdict(report: ValidationReport) -> tuple:
    failures = [(f.rule, f.column, f.unexpected_count, f.examples, f.note, f.severity, f.rows) for f in report.failures]
    return report.success, report.evaluated, report.outcomes, failures


def test_gx_keeps_no_batch_after_validating_it(no_worker: None, tmp_path: Path) -> None:
    """A suite run leaves no data source behind, and nothing in GX refers to the batch any more: the worker
    waits through dbt's build, so a batch GX kept (the whole price history after a full build) would stay
    in memory beside dbt's."""
    settings, prices = load_settings({}), registry.get("prices")
    checked = derive_checks(prices, _bad_prices(), settings=settings, as_of=AS_OF)
    kept = weakref.ref(checked)
    suite_run = SuiteRun(
        dataset="prices",
        checked=checked,
        suite=load_suite_document(settings, prices),
        parameters=suite_parameters(settings),
        docs_folder=tmp_path / "data_docs",
        load_id="prices-test",
    )
    result = run_suite(suite_run)
    del checked, suite_run
    gc.collect()
    assert result["success"] is False and (tmp_path / "data_docs" / "index.html").exists()
    assert kept() is None
    assert list(_context().data_sources.all()) == []


def test_the_worker_gives_the_verdict_gx_gives_here(no_worker: None) -> None:
    settings, prices = load_settings({}), registry.get("prices")
    here = validate_frame(prices, _bad_prices(), settings=settings, as_of=AS_OF)
    worker.start()
    there = validate_frame(prices, _bad_prices(), settings=settings, as_of=AS_OF)
    assert not here.success and len(here.failures) >= 3
    assert _verdict(there) == _verdict(here)
    assert there.raw["results"] == here.raw["results"]


def test_an_error_raised_by_gx_in_the_worker_is_raised_in_the_pipeline(no_worker: None) -> None:
    from flows.validation.engine import SuiteRun

    broken = SuiteRun(
        dataset="prices",
        checked=pd.DataFrame([ROW]),
        suite={"name": "prices"},  # no expectations: run_suite fails reading the document
        parameters={},
    )
    with pytest.raises(KeyError, match="expectations"):
        worker.run(broken)
    worker.start()
    with pytest.raises(KeyError, match="expectations"):
        worker.run(broken)
    assert worker._worker is not None and worker._worker.process.is_alive()  # and the worker serves on


def test_a_dead_worker_is_noted_and_the_batch_validated_here(no_worker: None) -> None:
    settings, prices = load_settings({}), registry.get("prices")
    worker.start()
    assert worker._worker is not None
    process = worker._worker.process
    os.kill(process.pid, signal.SIGKILL)
    process.join(timeout=10)
    notes: list[str] = []

    class Listen(progress.Reporter):
        def note(self, stage: str, message: str) -> None:
            notes.append(f"[{stage}] {message}")

    with progress.use(Listen()):
        report = validate_frame(prices, _bad_prices(), settings=settings, as_of=AS_OF)
    assert not report.success and len(report.failures) >= 3
    assert len(notes) == 1 and notes[0].startswith("[prices.validate] the GX worker process ended")
    assert worker._worker is None  # later batches are validated here too, until a run starts a new worker


def test_the_worker_ends_when_the_pipeline_process_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from flows.validation import worker
        worker.start()
        print(worker._worker.process.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        assert process_alive(child)
        parent.kill()  # kill -9: no atexit, no cleanup
        parent.wait()
        deadline = time.monotonic() + 60  # the worker may still be importing GX; then it reads the closed pipe
        while process_alive(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not process_alive(child), f"the GX worker {child} outlived its killed pipeline process"
    finally:
        parent.kill()
