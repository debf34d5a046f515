"""The daily pipeline as Prefect 3 flows.

    daily
    |-- ingest-prices        (prices, fx_rates)  \\
    |-- ingest-fundamentals                       |  concurrently: extract -> land -> validate -> load
    |-- ingest-cpi                                |  (one Prefect task per step, per dataset)
    |-- ingest-policy_events                     /
    |-- dbt-build            (models + data tests + unit tests)
    |-- publish              (marts copied to published/gapwatch.duckdb, swapped in atomically)
    `-- report               (markdown artifact ``gapwatch-run-summary``; webhook alert if failed/partial)

The scheduled deployment passes ``skip_closed_markets=True``: on a date NYSE
and HKEX are both closed the run completes without ingesting.

Flows only chain tasks; the logic lives in ``flows.ingest``, ``flows.dbt``,
``flows.warehouse``, ``flows.alerts`` and ``flows.summary``. Progress goes to
``flows.progress`` (silent unless the CLI installed a reporter).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed

from flows import alerts, freshness, progress
from flows import dbt as dbt_runner
from flows import ingest as steps
from flows.deployment import closed_markets_reason
from flows.settings import Settings, load_settings
from flows.summary import is_degraded, render_markdown, run_outcome
from flows.validation import DatasetValidationError
from flows.warehouse import Warehouse, publish, utcnow


class PipelineBusy(RuntimeError):
    """Another gapwatch run holds the warehouse lock."""


@dataclass
class RunSummary:
    run_id: str
    as_of: date
    source: str
    home: Path
    loads: list[steps.LoadResult] = field(default_factory=list)
    dbt: dbt_runner.DbtResult | None = None
    mart_rows: dict[str, int] = field(default_factory=dict)
    published_path: Path | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    freshness: list[Any] = field(default_factory=list)
    replay_of: str | None = None
    started_at: Any = None
    finished_at: Any = None
    failed_rules: dict[str, list[str]] = field(default_factory=dict)  # load id -> rules that failed
    skipped: str | None = None  # why a scheduled run ingested nothing (both markets closed)
    alert: str | None = None  # what happened to the webhook alert, when one was due
    alert_delivered: bool | None = None  # None: no alert was due
    flow_run_id: str | None = None
    report_path: Path | None = None  # the HTML report written after publishing
    up_to_date: bool = False  # nothing new loaded and the project unchanged: dbt and publish were skipped

    @property
    def success(self) -> bool:
        return not self.errors

    @property
    def outcome(self) -> str:
        """succeeded | partial | failed | skipped (see flows.summary.OUTCOMES)."""
        degraded = sum(is_degraded(load.status, load.rows_quarantined) for load in self.loads)
        return run_outcome(failed=not self.success, skipped=bool(self.skipped), degraded_loads=degraded)

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def is_sample(self) -> bool:
        return any(load.source == "sample" for load in self.loads)


# Run state shared between the parent flow and its subflows in this process
# (warehouse connection, summary). Flow parameters stay plain strings.
_RUNS: dict[str, tuple[Settings, Warehouse, RunSummary, date | None]] = {}
_REPLAY_STEPS: dict[str, steps.Steps] = {}

extract_task = task(steps.extract, name="extract", cache_policy=NO_CACHE)
land_task = task(steps.land, name="land", cache_policy=NO_CACHE)
validate_task = task(steps.validate, name="validate", cache_policy=NO_CACHE)
load_task = task(steps.load, name="load", cache_policy=NO_CACHE)
TASK_STEPS = steps.Steps(extract=extract_task, land=land_task, validate=validate_task, load=load_task)


def _reported(step: Any, name: str, describe: Any) -> Any:
    """Wrap an ingest step (a Prefect task) so it reports ``[<dataset>.<name>] <outcome>`` progress."""

    def call(subject: Any, **kwargs: Any) -> Any:
        dataset = subject if isinstance(subject, str) else subject.dataset
        with progress.step(f"{dataset}.{name}") as done:
            result = step(subject, **kwargs)
            done(describe(result))
        return result

    return call


def _with_progress(base: steps.Steps) -> steps.Steps:
    return steps.Steps(
        extract=_reported(base.extract, "extract", lambda batch: f"{len(batch.frame)} rows from {batch.source}"),
        land=base.land,
        validate=_reported(
            base.validate,
            "validate",
            lambda report: (
                f"{report.evaluated - report.failed}/{report.evaluated} rules passed"
                + (f", {report.failed} FAILED" if report.failed else "")
            ),
        ),
        load=_reported(base.load, "load", lambda rows: f"{rows} rows inserted or changed"),
    )


def _ingest_family(family: str, run_id: str) -> list[steps.LoadResult]:
    settings, warehouse, summary, start = _RUNS[run_id]
    results = []
    datasets = steps.SUBFLOW_DATASETS[family]
    if summary.replay_of:
        datasets = tuple(d for d in datasets if d == steps.dataset_of_load(summary.replay_of))
    for dataset in datasets:
        try:
            steps.ingest(
                dataset,
                settings=settings,
                warehouse=warehouse,
                as_of=summary.as_of,
                run_id=run_id,
                start=start,
                steps=_with_progress(_REPLAY_STEPS.get(run_id, TASK_STEPS)),
            )
        except (DatasetValidationError, steps.TooManyKeysFailed, steps.PayloadError) as exc:
            summary.errors.append(str(exc))
        except Exception as exc:  # one dataset failing must not lose the others
            summary.errors.append(f"Dataset '{dataset}' failed: {type(exc).__name__}: {exc}")
        finally:
            loaded = [load for load in _loads_for(warehouse, run_id) if load.dataset == dataset]
            results.extend(loaded)
    return results


DATASET_ORDER = ("prices", "fx_rates", "fundamentals", "cpi", "policy_events")


def _loads_for(warehouse: Warehouse, run_id: str) -> list[steps.LoadResult]:
    cursor = warehouse.cursor()
    try:
        rows = cursor.execute(
            "select dataset, load_id, source, status, rows_extracted, rows_loaded, expectations_evaluated, "
            "expectations_failed, landing_path, error, validation_success, rows_quarantined, "
            "coalesce(unchanged, false), "
            "(select list((f.key, f.source, f.error, f.http_status) order by f.failed_at) "
            " from audit.key_failures as f where f.load_id = loads.load_id) "
            "from audit.loads as loads where run_id = ? "
            "order by list_position(?, dataset), started_at",
            [run_id, list(DATASET_ORDER)],
        ).fetchall()
    finally:
        cursor.close()
    return [
        steps.LoadResult(
            dataset=r[0],
            load_id=r[1],
            source=r[2],
            status=r[3],
            rows_extracted=r[4] or 0,
            rows_loaded=r[5] or 0,
            expectations_evaluated=r[6] or 0,
            expectations_failed=r[7] or 0,
            landing_path=Path(r[8]) if r[8] else None,
            error=r[9],
            validation_success=r[10],
            rows_quarantined=r[11] or 0,
            unchanged=bool(r[12]),
            failures=[steps.KeyFailure(f[0], f[1], f[2], f[3]) for f in r[13] or []],
        )  # fmt: skip
        for r in rows
    ]


def _failed_rules(warehouse: Warehouse, run_id: str) -> dict[str, list[str]]:
    """Per load of the run, the rules (audit.validations) that failed."""
    cursor = warehouse.cursor()
    try:
        rows = cursor.execute(
            "select validations.load_id, list(distinct validations.rule order by validations.rule) "
            "from audit.validations as validations join audit.loads as loads using (load_id) "
            "where loads.run_id = ? and not validations.success group by 1",
            [run_id],
        ).fetchall()
    finally:
        cursor.close()
    return {load_id: list(rules) for load_id, rules in rows}


def _key_failures(warehouse: Warehouse, run_id: str) -> list[tuple[str, str, str]]:
    cursor = warehouse.cursor()
    try:
        return cursor.execute(
            "select failures.key, failures.dataset, failures.error "
            "from audit.key_failures as failures join audit.loads as loads using (load_id, dataset) "
            "where run_id = ? order by failed_at",
            [run_id],
        ).fetchall()
    finally:
        cursor.close()


async def _ingest_subflow(family: str, run_id: str) -> Any:
    results = await asyncio.to_thread(_ingest_family, family, run_id)
    failed = [result for result in results if result.status == "failed"]
    if failed:
        return Failed(message="; ".join(f"{r.dataset}: load {r.load_id} failed" for r in failed))
    return Completed(message=", ".join(f"{r.dataset}: {r.rows_loaded} rows" for r in results))


INGEST_SUBFLOWS = {
    family: flow(name=f"ingest-{family}", log_prints=False)(_ingest_subflow) for family in steps.SUBFLOW_DATASETS
}


@task(name="load-universe", cache_policy=NO_CACHE)
def load_universe_task(run_id: str) -> int:
    settings, warehouse, _, _ = _RUNS[run_id]
    return steps.load_securities(settings=settings, warehouse=warehouse, run_id=run_id)


@task(name="dbt-build", cache_policy=NO_CACHE)
def dbt_build_task(run_id: str, full_refresh: bool = False) -> dbt_runner.DbtResult:
    settings, _, _, _ = _RUNS[run_id]
    what = "full refresh (project or universe changed)" if full_refresh else "incremental models and data tests"
    with progress.step("dbt.build", f"dbt build: {what}") as done:
        result = dbt_runner.build(settings, full_refresh=full_refresh)
        done(result.describe())
    return result


@dataclass(frozen=True)
class _PreviousBuilds:
    last_run: str | None  # fingerprint of the latest earlier run if it succeeded, else None
    last_good: str | None  # fingerprint of the latest earlier successful run


def _previous_builds(warehouse: Warehouse, run_id: str) -> _PreviousBuilds:
    cursor = warehouse.cursor()
    try:
        runs = cursor.execute(
            "select status, build_fingerprint from audit.runs where run_id != ? and status != 'skipped' "
            "order by started_at desc",
            [run_id],
        ).fetchall()
    finally:
        cursor.close()
    last_run = runs[0][1] if runs and runs[0][0] == "succeeded" else None
    last_good = next((fingerprint for status, fingerprint in runs if status == "succeeded"), None)
    return _PreviousBuilds(last_run=last_run, last_good=last_good)


def _needs_full_refresh(previous: _PreviousBuilds, fingerprint: str) -> bool:
    """Rebuild the incremental models from scratch when the project or universe changed since the last good
    build, or when the latest earlier run did not succeed: an incremental build tests only the rows it writes
    (dbt_project/tests/generic/unique_combination_of_columns.sql), so after a failed or interrupted run
    everything is rebuilt and tested again."""
    if previous.last_good is None:  # first build: the tables are created whole anyway
        return False
    # last_run is the latest earlier run's fingerprint if it succeeded (then it is also the last good one):
    # it differs when that run failed (None) or built another project or universe
    return previous.last_run != fingerprint


def _marts_are_current(settings: Settings, summary: RunSummary, previous: _PreviousBuilds, fingerprint: str) -> bool:
    """Nothing loaded by this run, the last run built and published successfully with the same project and
    universe, and its published copy is in place: rebuilding would give the same marts."""
    return (
        previous.last_run == fingerprint
        and not any(load.rows_loaded for load in summary.loads)
        and settings.paths.published_database.exists()
    )


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(run_id: str) -> Path:
    _, warehouse, _, _ = _RUNS[run_id]
    with progress.step("publish", "marts -> published copy") as done:
        path = publish(warehouse)
        done(str(path))
    return path


@task(name="report", cache_policy=NO_CACHE)
def report_task(run_id: str) -> Path | None:
    """Write the HTML report from the published marts; a report problem warns, it never fails a published run."""
    from flows.report import write_report

    settings, _, summary, _ = _RUNS[run_id]
    with progress.step("report", "HTML report") as done:
        try:
            path = write_report(settings, run_id=run_id)
        except Exception as exc:  # the marts are published; the report is only a view of them
            summary.warnings.append(f"The HTML report could not be written: {type(exc).__name__}: {exc}")
            done("failed (see warnings)")
            return None
        done(str(path))
    return path


READER_GRACE_SECONDS = 10.0  # how long a run waits for `gapwatch status` readers (shared lock) to finish


class _RunLock:
    """An exclusive lock on <home>/gapwatch.lock naming the holder: fail fast, or wait up to ``wait_seconds``.

    ``gapwatch status`` holds a *shared* lock on the same file for the moment it
    reads the working warehouse (so that no run opens the file meanwhile). A
    run finding only such readers waits for them (up to READER_GRACE_SECONDS)
    instead of failing; another run or writer (exclusive) still fails it fast.
    """

    def __init__(self, path: Path, *, wait_seconds: float = 0.0) -> None:
        self.path = path
        self.wait_seconds = wait_seconds
        self.handle: Any = None

    def __enter__(self) -> _RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        deadline = time.monotonic() + self.wait_seconds
        readers_deadline = time.monotonic() + READER_GRACE_SECONDS
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                if time.monotonic() < readers_deadline and self._only_readers():
                    time.sleep(0.05)
                    continue
                self.handle.seek(0)
                holder = self.handle.read().strip() or "unknown"
                self.handle.close()
                waited = f" after waiting {self.wait_seconds:.0f} s" if self.wait_seconds else ""
                raise PipelineBusy(
                    f"Another gapwatch run is using {self.path.parent} ({holder}){waited}. "
                    "Wait for it to finish (or pass --wait), or point GAPWATCH_HOME elsewhere."
                ) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()} since {utcnow():%Y-%m-%d %H:%M:%S} UTC")
        self.handle.flush()
        return self

    def _only_readers(self) -> bool:
        """True when the lock is held shared only (status readers), not by another run."""
        try:
            fcntl.flock(self.handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        return True

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def new_run_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


ARTIFACT_KEY = "gapwatch-run-summary"


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return str(flow_run.id) if flow_run.id else None


@flow(name="daily", log_prints=False)
async def daily(
    as_of: str | None = None,
    start: str | None = None,
    run_id: str | None = None,
    replay_load_id: str | None = None,
    wait_seconds: float = 0.0,
    skip_closed_markets: bool = False,
) -> Any:
    """Ingest the four datasets concurrently, build and test the marts with dbt, publish them.

    With ``replay_load_id``, only that load's dataset is ingested, from its landing files (no network).
    With ``skip_closed_markets`` (the scheduled deployment), a date on which NYSE and HKEX are both
    closed completes at once without ingesting. Every run ends with a markdown artifact
    (``gapwatch-run-summary``) and, when it failed or was partial, a webhook alert.
    """
    settings = load_settings()
    run_date = date.fromisoformat(as_of) if as_of else settings.today()
    start_date = date.fromisoformat(start) if start else None
    run_id = run_id or new_run_id()
    summary = RunSummary(
        run_id=run_id, as_of=run_date, source=settings.source, home=settings.paths.home, replay_of=replay_load_id
    )
    summary.flow_run_id = _flow_run_id()
    if replay_load_id:
        summary.source = "replay"
        _REPLAY_STEPS[run_id] = steps.Steps(
            extract=task(steps.replay_extractor(replay_load_id), name="extract-from-landing", cache_policy=NO_CACHE),
            land=land_task,
            validate=validate_task,
            load=load_task,
        )
    summary.started_at = utcnow()
    LAST_SUMMARY[run_id] = summary
    progress.note("run", f"{run_id} as of {run_date} (source: {summary.source})")
    reason = closed_markets_reason(run_date) if skip_closed_markets else None
    if reason:
        summary.skipped = reason
        get_run_logger().info("Skipping the daily run as of %s: %s. Nothing was ingested.", run_date, reason)
        progress.note("run", f"skipped: {reason}; nothing ingested")
        _record_skip(settings, summary)
    else:
        try:
            await _run_pipeline(settings, summary, start_date=start_date, wait_seconds=wait_seconds)
        except Exception as exc:  # the run's end is still recorded, reported and alerted
            get_run_logger().exception("The daily run %s crashed", run_id)
            summary.errors.append(f"The run crashed: {type(exc).__name__}: {exc}")
            _record_crash(settings, summary)
    summary.finished_at = summary.finished_at or utcnow()
    await _publish_artifact(summary)
    await _alert(settings, summary)
    if summary.skipped:
        return Completed(message=f"skipped: {summary.skipped}")
    if not summary.success:
        return Failed(message=summary.errors[0].splitlines()[0])
    return Completed(message=f"published {sum(summary.mart_rows.values())} mart rows")


async def _run_pipeline(
    settings: Settings, summary: RunSummary, *, start_date: date | None, wait_seconds: float
) -> None:
    """Lock, ingest, build, publish, and record the run in audit.runs (errors go into ``summary``)."""
    run_id, run_date = summary.run_id, summary.as_of
    try:
        lock = _RunLock(settings.paths.lock_file, wait_seconds=wait_seconds).__enter__()
    except PipelineBusy as exc:
        summary.errors.append(str(exc))
        return
    try:
        warehouse = Warehouse(settings)
        _RUNS[run_id] = (settings, warehouse, summary, start_date)
        try:
            warehouse.record_run(
                run_id=run_id, status="running", as_of=run_date, source=settings.source, started_at=summary.started_at
            )
            load_universe_task(run_id)
            states = await asyncio.gather(
                *(subflow(family, run_id, return_state=True) for family, subflow in INGEST_SUBFLOWS.items())
            )
            summary.loads = _loads_for(warehouse, run_id)
            summary.failed_rules = _failed_rules(warehouse, run_id)
            summary.warnings += [
                f"{failure[1]} {failure[0]}: {failure[2]}" for failure in _key_failures(warehouse, run_id)
            ]
            cursor = warehouse.cursor()
            try:
                summary.freshness = freshness.check(cursor, settings, as_of=run_date)
            finally:
                cursor.close()
            summary.warnings += [
                f"{load.dataset}: {load.rows_quarantined} row(s) quarantined by warning rules "
                f"(`gapwatch quarantine show --load-id {load.load_id}`)"
                for load in summary.loads
                if load.rows_quarantined
            ]
            if any(state.is_failed() for state in states) and not summary.errors:
                summary.errors.append("An ingest subflow failed; see the Prefect logs.")
            fingerprint = dbt_runner.build_fingerprint(settings)
            previous = _previous_builds(warehouse, run_id)
            if summary.success and _marts_are_current(settings, summary, previous, fingerprint):
                summary.up_to_date = True
                summary.mart_rows = warehouse.mart_row_counts()
                summary.published_path = settings.paths.published_database
                progress.note("dbt.build", "skipped: nothing new since the last build, marts are current")
            elif summary.success:
                warehouse.close()  # dbt opens the database file itself
                summary.dbt = dbt_build_task(run_id, full_refresh=_needs_full_refresh(previous, fingerprint))
                warehouse = Warehouse(settings)
                _RUNS[run_id] = (settings, warehouse, summary, start_date)
                if summary.dbt.success:
                    summary.mart_rows = warehouse.mart_row_counts()
                    summary.published_path = publish_task(run_id)
                    summary.report_path = report_task(run_id)
                else:
                    summary.errors.append(
                        "dbt build failed; the published marts were left as they were.\n"
                        + "\n".join(summary.dbt.failures or [summary.dbt.output_tail])
                    )
            else:
                summary.errors.append("Marts were not rebuilt or published because a dataset failed to load.")
            summary.finished_at = utcnow()
            warehouse.record_run(
                run_id=run_id,
                build_fingerprint=fingerprint if summary.success else None,
                status="succeeded" if summary.success else "failed",
                finished_at=summary.finished_at,
                error="\n".join(summary.errors) or None,
            )
        finally:
            warehouse.close()
            _RUNS.pop(run_id, None)
            _REPLAY_STEPS.pop(run_id, None)
    finally:
        lock.__exit__()


def _record_skip(settings: Settings, summary: RunSummary) -> None:
    """Note the skipped run in audit.runs, so `gapwatch status` shows it; never blocks (busy: not recorded)."""
    try:
        with _RunLock(settings.paths.lock_file):
            warehouse = Warehouse(settings)
            try:
                summary.finished_at = utcnow()
                warehouse.record_run(
                    run_id=summary.run_id,
                    status="skipped",
                    as_of=summary.as_of,
                    source=settings.source,
                    started_at=summary.started_at,
                    finished_at=summary.finished_at,
                    error=summary.skipped,
                )
            finally:
                warehouse.close()
    except PipelineBusy:
        summary.warnings.append("Skipped run not recorded in audit.runs: another run holds the warehouse.")


def _record_crash(settings: Settings, summary: RunSummary) -> None:
    """After a crash, mark the run failed in audit.runs (best effort: the warehouse may be unusable)."""
    try:
        with _RunLock(settings.paths.lock_file):
            warehouse = Warehouse(settings)
            try:
                warehouse.record_run(
                    run_id=summary.run_id, status="failed", finished_at=utcnow(), error="\n".join(summary.errors)
                )
            finally:
                warehouse.close()
    except Exception as exc:  # noqa: BLE001 - the crash itself is what the run reports
        summary.warnings.append(f"The crashed run could not be recorded in audit.runs: {type(exc).__name__}: {exc}")


async def _publish_artifact(summary: RunSummary) -> None:
    """The run summary as a markdown artifact in the Prefect UI; a failure here only warns."""
    from prefect.artifacts import acreate_markdown_artifact

    try:
        await acreate_markdown_artifact(
            markdown=render_markdown(summary),
            key=ARTIFACT_KEY,
            description=f"gapwatch run {summary.run_id} as of {summary.as_of}: {summary.outcome}",
        )
    except Exception as exc:  # noqa: BLE001 - reporting must not change the run's result
        get_run_logger().warning("Could not create the run summary artifact: %s: %s", type(exc).__name__, exc)


async def _alert(settings: Settings, summary: RunSummary) -> None:
    """Post the webhook alert for a failed or partial run; an alert problem is a warning, never the run's result."""
    try:
        result = await asyncio.to_thread(alerts.notify, settings, summary)
    except Exception as exc:  # noqa: BLE001 - notify does not raise, but the run's result must survive anything
        result = alerts.AlertResult(sent=False, attempts=0, error=f"{type(exc).__name__}: {exc}")
    if result is None:
        return
    summary.alert, summary.alert_delivered = result.describe(), result.sent
    if result.sent:
        progress.note("alert", summary.alert)
    else:
        get_run_logger().warning("%s", summary.alert)


# Summaries of runs in this process, for the CLI to print after the flow returns.
LAST_SUMMARY: dict[str, RunSummary] = {}


def run_daily(
    *,
    as_of: date | None = None,
    start: date | None = None,
    replay_load_id: str | None = None,
    wait_seconds: float = 0.0,
    skip_closed_markets: bool = False,
) -> RunSummary:
    """Run the ``daily`` flow and return its summary (used by the CLI and tests)."""
    run_id = new_run_id()
    state = asyncio.run(
        daily(
            as_of=as_of.isoformat() if as_of else None,
            start=start.isoformat() if start else None,
            run_id=run_id,
            replay_load_id=replay_load_id,
            wait_seconds=wait_seconds,
            skip_closed_markets=skip_closed_markets,
            return_state=True,
        )
    )
    summary = LAST_SUMMARY.pop(run_id)
    if state.is_failed() and summary.success:
        summary.errors.append(state.message or "The daily flow failed; see the Prefect logs.")
    return summary
