"""The daily pipeline as a Prefect 3 flow.

    daily
    |-- load-universe        (flows/config/universe.yaml -> raw.securities)
    |-- ingest-<family>      one task per dataset family, concurrently:      \\
    |     prices (prices, fx_rates), fundamentals, cpi, policy_events, ...   |  extract -> land -> validate -> load
    |                                                                        /  (one Prefect task per step)
    |-- dbt-build            (models + data tests)
    |-- publish              (marts copied to published/gapwatch.duckdb, swapped in atomically; Parquet)
    `-- report               (HTML report; markdown artifact ``gapwatch-run-summary``; alert if failed/partial)

The families and their datasets come from ``flows.datasets.registry``. One
:class:`~flows.context.RunContext` carries the run (settings, run id, as-of,
summary, lock, warehouse) through every task; the flow returns the
run's :class:`~flows.ops.summary.RunSummary` as its result.

The scheduled deployment passes ``skip_closed_markets=True``: on a date NYSE
and HKEX are both closed the run completes without ingesting.

Flows only chain tasks; the logic lives in ``flows.ingest``, ``flows.warehouse``,
``flows.ops``. Progress goes to ``flows.ops.progress`` (silent unless the CLI
installed a reporter).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import Task, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingResult
from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import quote

from flows.calendars import CalendarRangeError, check_as_of, closed_markets_reason
from flows.context import RunContext
from flows.datasets import freshness as freshness_rules
from flows.datasets import registry
from flows.datasets.base import Dataset
from flows.ingest import steps
from flows.ops import alerts, faults, progress
from flows.ops.summary import RunSummary, render_markdown
from flows.settings import load_settings
from flows.validation import worker as gx_worker
from flows.warehouse import audit
from flows.warehouse import dbt as dbt_runner
from flows.warehouse import ranges as build_ranges
from flows.warehouse.database import Warehouse, utcnow
from flows.warehouse.lock import PipelineBusy, RunLock
from flows.warehouse.publish import PublishError, publish, verify_published
from flows.warehouse.ranges import BuildRanges

ARTIFACT_KEY = "gapwatch-run-summary"

extract_task = task(steps.extract, name="extract", cache_policy=NO_CACHE)
land_task = task(steps.land, name="land", cache_policy=NO_CACHE)
validate_task = task(steps.validate, name="validate", cache_policy=NO_CACHE)
load_task = task(steps.load, name="load", cache_policy=NO_CACHE)
TASK_STEPS = steps.Steps(extract=extract_task, land=land_task, validate=validate_task, load=load_task)


def replay_steps(load_id: str) -> steps.Steps:
    """The task steps with an extract that re-reads ``load_id``'s landing files (no network)."""
    extract = task(steps.replay_extractor(load_id), name="extract-from-landing", cache_policy=NO_CACHE)
    return steps.Steps(extract=extract, land=land_task, validate=validate_task, load=load_task, by_parts=False)


def _unexamined(step: Any) -> Any:
    """Call the Prefect task ``step`` with every argument wrapped in ``quote``: Prefect does not walk into them
    looking for upstream futures (none are there: the steps pass plain values). Without it, every task call
    walked the settings -- the universe, every ticker -- two or three times, about 20 ms each, holding the GIL
    the other ingest tasks need (profiled with py-spy on a 500-ticker day run)."""
    if not isinstance(step, Task):
        return step

    def call(subject: Any, **kwargs: Any) -> Any:
        return step(quote(subject), **{name: quote(value) for name, value in kwargs.items()})

    return call


def _reported(step: Any, name: str, describe: Any) -> Any:
    """Wrap an ingest step (a Prefect task) so it reports ``[<dataset>.<name>] <outcome>`` progress."""
    run = _unexamined(step)

    def call(subject: Any, **kwargs: Any) -> Any:
        dataset = subject.name if isinstance(subject, Dataset) else subject.dataset
        part = kwargs.get("part")  # a part of a chunked ingest: said in its outcome
        with progress.step(f"{dataset}.{name}") as done:
            result = run(subject, **kwargs)
            done(f"{part.label}: {describe(result)}" if part is not None else describe(result))
        return result

    return call


def _with_progress(base: steps.Steps) -> steps.Steps:
    return steps.Steps(
        extract=_reported(base.extract, "extract", lambda batch: f"{len(batch.frame)} rows from {batch.source}"),
        land=_unexamined(base.land),
        validate=_reported(
            base.validate,
            "validate",
            lambda report: (
                f"{report.evaluated - report.failed}/{report.evaluated} rules passed"
                + (f", {report.failed} FAILED" if report.failed else "")
            ),
        ),
        load=_reported(base.load, "load", lambda rows: f"{rows} rows inserted or changed"),
        by_parts=base.by_parts,
    )


def _ingest_family(ctx: RunContext, family: str) -> list[audit.LoadResult]:
    """Ingest the family's datasets one after the other; one failing does not stop the next."""
    results = []
    members = registry.families()[family]
    if ctx.summary.replay_of:
        members = tuple(d for d in members if d is registry.dataset_of_load(ctx.summary.replay_of))
    for dataset in members:
        try:
            result = steps.ingest(
                dataset,
                settings=ctx.settings,
                warehouse=ctx.require_warehouse(),
                as_of=ctx.as_of,
                run_id=ctx.run_id,
                start=ctx.start,
                steps=_with_progress(ctx.steps),
            )
        except steps.IngestFailed as failure:
            ctx.summary.errors.append(str(failure))
            result = failure.result
        ctx.loads.append(result)
        if result.rows_loaded and result.status != "failed":
            ctx.prepare_dbt()  # the marts will be rebuilt: let dbt start and parse while the rest loads
        if result.unchanged:
            progress.note(
                f"{dataset.name}.compare", f"unchanged: {result.rows_extracted} rows already stored, not re-validated"
            )
        results.append(result)
    return results


def _ingest_family_state(ctx: RunContext, family: str) -> State:
    """The ``ingest-<family>`` task: the family's datasets, then Completed, or Failed naming the failed loads."""
    results = _ingest_family(ctx, family)
    failed = [result for result in results if result.status == "failed"]
    if failed:
        return Failed(message="; ".join(f"{r.dataset}: load {r.load_id} failed" for r in failed), data=results)
    return Completed(message=", ".join(f"{r.dataset}: {r.rows_loaded} rows" for r in results), data=results)


INGEST_TASKS = {
    family: task(name=f"ingest-{family}", cache_policy=NO_CACHE)(_ingest_family_state) for family in registry.families()
}


@task(name="load-universe", cache_policy=NO_CACHE)
def load_universe_task(ctx: RunContext) -> int:
    return ctx.require_warehouse().load_universe(load_id=f"securities-{ctx.run_id}")


@task(name="dbt-build", cache_policy=NO_CACHE)
def dbt_build_task(
    ctx: RunContext,
    full_refresh_because: str | None = None,
    *,
    first_build: bool = False,
    price_rows: int = 0,
    ranges: BuildRanges | None = None,
) -> dbt_runner.DbtResult:
    """``dbt build``: incremental, a full refresh, or (``ranges``: a whole build of a large warehouse) one build
    per date range (flows.warehouse.ranges)."""
    what = f"full refresh ({full_refresh_because})" if full_refresh_because else "incremental models and data tests"
    if ranges is not None:
        what = f"{'full refresh' if full_refresh_because else 'first build'} in {len(ranges)} date ranges"
    with progress.step("dbt.build", f"dbt build: {what}") as done:
        if ranges is None:
            result = dbt_runner.build(
                ctx.settings,
                full_refresh=full_refresh_because is not None,
                whole=first_build,
                price_rows=price_rows,
                prepared=ctx.take_dbt(),
            )
        else:
            ctx.cancel_dbt()  # parsed without the ranges' vars: each range's build parses with its own
            result = dbt_runner.build_in_ranges(
                ctx.settings,
                ranges,
                full_refresh=full_refresh_because is not None,
                price_rows=price_rows,
                on_range=lambda index, outcome: progress.note(
                    "dbt.build", f"{ranges.describe(index)}: {outcome.describe()} in {outcome.seconds:.1f} s"
                ),
            )
        done(result.describe())
    return result


def _full_refresh_reason(previous: audit.PreviousBuilds, fingerprint: str) -> str | None:
    """Rebuild the incremental models from scratch when the project or universe changed since the last good
    build, or when the latest earlier run did not succeed: an incremental build tests only the rows it writes
    (dbt_project/tests/generic/unique_combination_of_columns.sql), so after a failed or interrupted run
    everything is rebuilt and tested again. Returns the reason the summary prints, or None for incremental."""
    if not previous.earlier_runs:  # first build: the tables are created whole anyway
        return None
    # last_run is the latest earlier run's fingerprint if it succeeded (then it is also the last good one); a
    # first run that failed may have left tables behind (written by an older project, or rows its tests rejected)
    if previous.last_run is None:
        return "the previous run did not succeed: every model is rebuilt and tested again"
    if previous.last_run != fingerprint:
        return "the dbt project, build settings or universe changed since the last good build"
    return None


def _marts_are_current(ctx: RunContext, previous: audit.PreviousBuilds, fingerprint: str) -> bool:
    """Nothing loaded by this run, the last run built and published successfully with the same project and
    universe, and its published copies verify against the warehouse (opened read-only: publish stamp, rows and
    content): rebuilding would give the same marts. A copy that does not verify is republished (publish says
    why, and rebuilds a damaged or foreign-modified file whole)."""
    if previous.last_run != fingerprint or any(load.rows_loaded for load in ctx.summary.loads):
        return False
    problem = verify_published(ctx.require_warehouse())
    if problem:
        progress.note("publish", f"the published copy does not verify ({problem}); republishing")
    return problem is None


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(ctx: RunContext) -> Path:
    with progress.step("publish", "marts -> published copy") as done:
        path = publish(ctx.require_warehouse(), warnings=ctx.summary.warnings)
        done(str(path))
    return path


@task(name="report", cache_policy=NO_CACHE)
def report_task(ctx: RunContext) -> Path | None:
    """Write the HTML report from the published marts; a report problem warns, it never fails a published run."""
    from flows.report import write_report

    with progress.step("report", "HTML report") as done:
        try:
            path = write_report(ctx.settings, run_id=ctx.run_id)
        except Exception as exc:  # the marts are published; the report is only a view of them
            ctx.summary.warnings.append(f"The HTML report could not be written: {type(exc).__name__}: {exc}")
            done("failed (see warnings)")
            return None
        done(str(path))
    return path


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return str(flow_run.id) if flow_run.id else None


def _started_at(invoked_at: str | None) -> datetime:
    """The run's start: when its command was invoked (start-up included), else now."""
    now = utcnow()
    try:
        invoked = datetime.fromisoformat(invoked_at) if invoked_at else None
    except ValueError:
        invoked = None
    # a plausible invocation only: not in the future, not before yesterday (a stale value passed by hand)
    return invoked if invoked is not None and now - timedelta(days=1) <= invoked <= now else now


@flow(name="daily", log_prints=False)
async def daily(
    as_of: str | None = None,
    start: str | None = None,
    run_id: str | None = None,
    replay_load_id: str | None = None,
    wait_seconds: float = 0.0,
    skip_closed_markets: bool = False,
    invoked_at: str | None = None,
) -> State:
    """Ingest the datasets concurrently, build and test the marts with dbt, publish them.

    ``invoked_at`` (naive UTC, ISO) is when the command that started the run was invoked: the run's start, so
    its duration -- in the summary and in ``gapwatch status`` -- includes the start-up the user waited for.

    With ``replay_load_id``, only that load's dataset is ingested, from its landing files (no network).
    With ``skip_closed_markets`` (the scheduled deployment), a date on which NYSE and HKEX are both
    closed completes at once without ingesting. Every run ends with a markdown artifact
    (``gapwatch-run-summary``) and, when it failed or was partial, an alert. The run's RunSummary is
    the flow's result.
    """
    settings = load_settings()
    ctx = RunContext(
        settings,
        as_of=date.fromisoformat(as_of) if as_of else settings.today(),
        run_id=run_id,
        start=date.fromisoformat(start) if start else None,
        replay_of=replay_load_id,
        wait_seconds=wait_seconds,
        steps=replay_steps(replay_load_id) if replay_load_id else TASK_STEPS,
    )
    summary = ctx.summary
    summary.flow_run_id = _flow_run_id()
    summary.started_at = _started_at(invoked_at)
    progress.note("run", f"{ctx.run_id} as of {ctx.as_of} (source: {summary.source})")
    reason = closed_markets_reason(ctx.as_of) if skip_closed_markets else None
    if reason:
        summary.skipped = reason
        get_run_logger().info("Skipping the daily run as of %s: %s. Nothing was ingested.", ctx.as_of, reason)
        progress.note("run", f"skipped: {reason}; nothing ingested")
        _record_skip(ctx)
    else:
        try:
            await _run_pipeline(ctx)
        except Exception as exc:  # the run's end is still recorded, reported and alerted
            # one line naming the file and the next step; the traceback only with --verbose (GAPWATCH_VERBOSE)
            get_run_logger().error("The daily run %s crashed", ctx.run_id, exc_info=settings.verbose)
            summary.errors.append(f"The run crashed: {faults.describe_fault(exc)}")
            _record_crash(ctx)
    summary.finished_at = summary.finished_at or utcnow()
    await _publish_artifact(summary)
    await _alert(ctx)
    if summary.skipped:
        return Completed(message=f"skipped: {summary.skipped}", data=summary)
    if not summary.success:
        return Failed(message=summary.errors[0].splitlines()[0], data=summary)
    return Completed(message=f"published {sum(summary.mart_rows.values())} mart rows", data=summary)


async def _run_pipeline(ctx: RunContext) -> None:
    """Lock, ingest, build, publish, and record the run in audit.runs (errors go into the summary)."""
    try:
        with ctx.lock:
            try:
                await _locked_run(ctx)
            finally:
                ctx.cancel_dbt()  # started ahead but not used: nothing to build, or the run failed
                ctx.close_warehouse()
    except PipelineBusy as exc:
        ctx.summary.errors.append(str(exc))


async def _locked_run(ctx: RunContext) -> None:
    summary = ctx.summary
    warehouse = ctx.open_warehouse()
    audit.record_run(
        warehouse,
        run_id=ctx.run_id,
        status="running",
        as_of=ctx.as_of,
        source=ctx.settings.source,
        started_at=summary.started_at,
    )
    if _refused(ctx, warehouse):
        return
    if _prices_due(ctx, warehouse):  # a new session is due: batches to validate and marts to build, most likely
        gx_worker.start()  # GX imports in another process meanwhile, off this run's path (no-op if started)
        ctx.prepare_dbt()  # dbt imports and parses while the datasets load
    load_universe_task(ctx)
    states = await _ingest_families(ctx)
    _collect_loads(ctx, states)
    fingerprint = dbt_runner.build_fingerprint(ctx.settings)
    cursor = warehouse.cursor()
    try:
        summary.freshness = registry.freshness(cursor, ctx.settings, as_of=ctx.as_of)
        freshness_rules.record(cursor, summary.freshness)  # for `dbt source freshness`: the same verdicts
        previous = audit.previous_builds(cursor, run_id=ctx.run_id)
        price_rows = registry.price_rows(cursor)
        full_refresh_because = _full_refresh_reason(previous, fingerprint)
        whole = previous.last_good is None or full_refresh_because is not None
        ranges = None
        if whole and summary.success:
            ranges = build_ranges.plan_for(cursor, ctx.settings, price_rows=price_rows)
    finally:
        cursor.close()
    if summary.success and _marts_are_current(ctx, previous, fingerprint):
        summary.up_to_date = True
        summary.mart_rows = warehouse.mart_row_counts()
        summary.published_path = ctx.settings.paths.published_database
        progress.note("dbt.build", "skipped: nothing new since the last build, marts are current")
    elif summary.success:
        ctx.close_warehouse()  # dbt opens the database file itself
        summary.dbt = dbt_build_task(
            ctx,
            full_refresh_because=full_refresh_because,
            first_build=previous.last_good is None,
            price_rows=price_rows,
            ranges=ranges,
        )
        warehouse = ctx.open_warehouse()
        if summary.dbt.success:
            summary.mart_rows = warehouse.mart_row_counts()
            try:
                summary.published_path = publish_task(ctx)
            except PublishError as exc:  # the marts in the warehouse are good; the message says how to recover
                summary.errors.append(str(exc))
            else:
                summary.report_path = report_task(ctx)
        else:
            summary.errors.append(
                "dbt build failed; the published marts were left as they were.\n"
                + "\n".join(summary.dbt.failures or [summary.dbt.output_tail])
            )
    else:
        summary.errors.append("Marts were not rebuilt or published because a dataset failed to load.")
    summary.finished_at = utcnow()
    audit.record_run(
        warehouse,
        run_id=ctx.run_id,
        build_fingerprint=fingerprint if summary.success else None,
        status="succeeded" if summary.success else "failed",
        finished_at=summary.finished_at,
        error="\n".join(summary.errors) or None,
    )


async def _ingest_families(ctx: RunContext) -> dict[str, State]:
    """Run the ``ingest-<family>`` tasks concurrently, each in its own thread; their step tasks run inside them.

    Tasks, not subflows: a Prefect task run is recorded through events, while each subflow cost eight API
    writes -- and a SQLite-backed Prefect server answers concurrent writes with "database is locked", which
    the client retries after 2 s. Six subflows started together took 1.9-6.4 s just to be created."""
    states = await asyncio.gather(
        *(
            asyncio.to_thread(family_task, quote(ctx), family, return_state=True)
            for family, family_task in INGEST_TASKS.items()
        )
    )
    return dict(zip(INGEST_TASKS, states, strict=True))


def _prices_due(ctx: RunContext, warehouse: Warehouse) -> bool:
    cursor = warehouse.cursor()
    try:
        return registry.session_due(cursor, ctx.settings, as_of=ctx.as_of)
    finally:
        cursor.close()


def _refused(ctx: RunContext, warehouse: Warehouse) -> bool:
    """Refuse, before anything is extracted, an as-of beyond the bundled calendars, or (but for a replay, which
    reloads a recorded load) earlier than rows the warehouse already holds; the refusal is recorded as a failed run."""
    try:
        check_as_of(ctx.as_of, today=ctx.settings.today(), history_start=ctx.settings.sample.start_date)
        if not ctx.summary.replay_of:
            steps.check_as_of(warehouse, ctx.as_of)
    except (CalendarRangeError, steps.AsOfBehindWarehouse) as refusal:
        ctx.summary.errors.append(str(refusal))
        ctx.summary.finished_at = utcnow()
        audit.record_run(
            warehouse, run_id=ctx.run_id, status="failed", finished_at=ctx.summary.finished_at, error=str(refusal)
        )
        return True
    return False


def _collect_loads(ctx: RunContext, states: dict[str, State]) -> None:
    """The loads the ingest tasks finished (``ctx.loads``), in pipeline order, with their warnings; a task that
    did not complete, for another reason than a failed load it reported, is an error naming its final state."""
    summary = ctx.summary
    for family, state in states.items():
        if not state.is_completed() and not summary.errors:
            summary.errors.append(
                f"The ingest-{family} task ended {state.type.value}: {state.message}; see the Prefect logs."
            )
    order = registry.names()
    summary.loads = sorted(ctx.loads, key=lambda load: order.index(load.dataset))
    summary.warnings += [
        f"{load.dataset} {failure.key}: {failure.error}" for load in summary.loads for failure in load.failures
    ]
    summary.warnings += [
        f"{load.dataset}: {load.rows_quarantined} row(s) quarantined by warning rules "
        f"(`gapwatch quarantine show --load-id {load.load_id}`)"
        for load in summary.loads
        if load.rows_quarantined
    ]


def _record_skip(ctx: RunContext) -> None:
    """Note the skipped run in audit.runs, so `gapwatch status` shows it; never blocks (busy: not recorded)."""
    summary = ctx.summary
    try:
        with RunLock(ctx.settings.paths.lock_file):
            warehouse = Warehouse(ctx.settings)
            try:
                summary.finished_at = utcnow()
                audit.record_run(
                    warehouse,
                    run_id=ctx.run_id,
                    status="skipped",
                    as_of=ctx.as_of,
                    source=ctx.settings.source,
                    started_at=summary.started_at,
                    finished_at=summary.finished_at,
                    error=summary.skipped,
                )
            finally:
                warehouse.close()
    except PipelineBusy:
        summary.warnings.append("Skipped run not recorded in audit.runs: another run holds the warehouse.")


def _record_crash(ctx: RunContext) -> None:
    """After a crash, mark the run failed in audit.runs (best effort: the warehouse may be unusable)."""
    summary = ctx.summary
    try:
        with RunLock(ctx.settings.paths.lock_file):
            warehouse = Warehouse(ctx.settings)
            try:
                audit.record_run(
                    warehouse, run_id=ctx.run_id, status="failed", finished_at=utcnow(), error="\n".join(summary.errors)
                )
            finally:
                warehouse.close()
    except Exception as exc:  # noqa: BLE001 - the crash itself is what the run reports
        summary.warnings.append(f"The crashed run could not be recorded in audit.runs: {faults.describe_fault(exc)}")


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


async def _alert(ctx: RunContext) -> None:
    """Post the webhook alert for a failed or partial run; an alert problem is a warning, never the run's result."""
    summary = ctx.summary
    try:
        result = await asyncio.to_thread(alerts.notify, ctx.settings, summary)
    except Exception as exc:  # noqa: BLE001 - notify does not raise, but the run's result must survive anything
        result = alerts.AlertResult.failed(f"{type(exc).__name__}: {exc}")
    if result is None:
        return
    summary.alert, summary.alert_delivered = result.describe(), result.sent
    if result.sent:
        progress.note("alert", summary.alert)
    else:
        get_run_logger().warning("%s", summary.alert)


def run_daily(
    *,
    as_of: date | None = None,
    start: date | None = None,
    replay_load_id: str | None = None,
    wait_seconds: float = 0.0,
    skip_closed_markets: bool = False,
    invoked_at: datetime | None = None,
) -> RunSummary:
    """Run the ``daily`` flow and return its summary (used by the CLI and tests). ``invoked_at``: when the
    command started (naive UTC), so the run's duration includes its start-up."""
    state = asyncio.run(
        daily(
            as_of=as_of.isoformat() if as_of else None,
            start=start.isoformat() if start else None,
            replay_load_id=replay_load_id,
            wait_seconds=wait_seconds,
            skip_closed_markets=skip_closed_markets,
            invoked_at=invoked_at.isoformat() if invoked_at else None,
            return_state=True,
        )
    )
    try:
        summary = state.result(raise_on_failure=False)
    except MissingResult:  # a final state read back from the API carries no data
        summary = None
    if not isinstance(summary, RunSummary):  # the flow itself crashed before it could return its summary
        settings = load_settings()
        summary = RunSummary(
            run_id="-", as_of=as_of or settings.today(), source=settings.source, home=settings.paths.home
        )
        summary.errors.append(state.message or "The daily flow crashed; see the Prefect logs.")
    elif state.is_failed() and summary.success:
        summary.errors.append(state.message or "The daily flow failed; see the Prefect logs.")
    return summary
