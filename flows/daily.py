"""The daily pipeline as Prefect 3 flows.

    daily
    |-- ingest-prices        (prices, fx_rates)  \\
    |-- ingest-fundamentals                       |  concurrently: extract -> land -> validate -> load
    |-- ingest-cpi                                |  (one Prefect task per step, per dataset)
    |-- ingest-policy_events                     /
    |-- dbt-build            (models + data tests + unit tests)
    `-- publish              (marts copied to published/gapwatch.duckdb, swapped in atomically)

Flows only chain tasks; the logic lives in ``flows.ingest``, ``flows.dbt``
and ``flows.warehouse``.
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

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed, Failed

from flows import dbt as dbt_runner
from flows import freshness
from flows import ingest as steps
from flows.settings import Settings, load_settings
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

    @property
    def success(self) -> bool:
        return not self.errors

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
                steps=_REPLAY_STEPS.get(run_id, TASK_STEPS),
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
            failures=[steps.KeyFailure(f[0], f[1], f[2], f[3]) for f in r[12] or []],
        )  # fmt: skip
        for r in rows
    ]


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
def dbt_build_task(run_id: str) -> dbt_runner.DbtResult:
    settings, _, _, _ = _RUNS[run_id]
    return dbt_runner.build(settings)


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(run_id: str) -> Path:
    _, warehouse, _, _ = _RUNS[run_id]
    return publish(warehouse)


class _RunLock:
    """An exclusive lock on <home>/gapwatch.lock naming the holder: fail fast, or wait up to ``wait_seconds``."""

    def __init__(self, path: Path, *, wait_seconds: float = 0.0) -> None:
        self.path = path
        self.wait_seconds = wait_seconds
        self.handle: Any = None

    def __enter__(self) -> _RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a+")
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.5)
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

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def new_run_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@flow(name="daily", log_prints=False)
async def daily(
    as_of: str | None = None,
    start: str | None = None,
    run_id: str | None = None,
    replay_load_id: str | None = None,
    wait_seconds: float = 0.0,
) -> Any:
    """Ingest the four datasets concurrently, build and test the marts with dbt, publish them.

    With ``replay_load_id``, only that load's dataset is ingested, from its landing files (no network).
    """
    settings = load_settings()
    run_date = date.fromisoformat(as_of) if as_of else settings.today()
    start_date = date.fromisoformat(start) if start else None
    run_id = run_id or new_run_id()
    summary = RunSummary(
        run_id=run_id, as_of=run_date, source=settings.source, home=settings.paths.home, replay_of=replay_load_id
    )
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
    try:
        lock = _RunLock(settings.paths.lock_file, wait_seconds=wait_seconds).__enter__()
    except PipelineBusy as exc:
        summary.errors.append(str(exc))
        return Failed(message=str(exc))
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
            if summary.success:
                warehouse.close()  # dbt opens the database file itself
                summary.dbt = dbt_build_task(run_id)
                warehouse = Warehouse(settings)
                _RUNS[run_id] = (settings, warehouse, summary, start_date)
                if summary.dbt.success:
                    summary.mart_rows = warehouse.mart_row_counts()
                    summary.published_path = publish_task(run_id)
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
    if not summary.success:
        return Failed(message=summary.errors[0].splitlines()[0])
    return Completed(message=f"published {sum(summary.mart_rows.values())} mart rows")


# Summaries of runs in this process, for the CLI to print after the flow returns.
LAST_SUMMARY: dict[str, RunSummary] = {}


def run_daily(
    *,
    as_of: date | None = None,
    start: date | None = None,
    replay_load_id: str | None = None,
    wait_seconds: float = 0.0,
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
            return_state=True,
        )
    )
    summary = LAST_SUMMARY.pop(run_id)
    if state.is_failed() and summary.success:
        summary.errors.append(state.message or "The daily flow failed; see the Prefect logs.")
    return summary
