"""Rows held back by validation: list them, show them, release them after a fix.

A row lands in ``audit.quarantine`` when it fails a rule of its dataset's GX
suite: with status ``quarantined`` when the rule's severity is ``warning``
(the rest of the batch loaded), or ``rejected`` when a ``critical`` rule
rejected the whole batch. ``release`` re-validates the held rows against the
*current* suite and configuration (after the operator fixed the universe, the
suite or the source), loads the ones that now pass, marks them ``released``,
and rebuilds and publishes the marts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from flows import dbt as dbt_runner
from flows.ingest import LoadResult, load_securities, new_load_id, record_load
from flows.settings import Settings
from flows.validation import validate_frame
from flows.warehouse import Warehouse, publish, utcnow

DATE_COLUMNS = ("trade_date", "rate_date", "fiscal_period_end", "report_date", "period_date", "event_date")


@dataclass
class ReleaseResult:
    load_id: str
    dataset: str
    released: int = 0
    still_failing: dict[int, list[str]] = field(default_factory=dict)
    release_load_id: str | None = None
    dbt: dbt_runner.DbtResult | None = None


def list_quarantine(warehouse: Warehouse) -> list[tuple]:
    cursor = warehouse.cursor()
    try:
        return cursor.execute(
            """
            select load_id, dataset, status, count(*) as rows, list(distinct rule order by rule) as rules,
                   min(quarantined_at) as since
            from (select *, unnest(rules) as rule from audit.quarantine)
            group by load_id, dataset, status
            order by since desc
            """
        ).fetchall()
    finally:
        cursor.close()


def show_quarantine(warehouse: Warehouse, *, load_id: str, limit: int = 50) -> list[tuple]:
    cursor = warehouse.cursor()
    try:
        return cursor.execute(
            "select row_number, status, rules, record_json from audit.quarantine "
            "where load_id = ? order by row_number limit ?",
            [load_id, limit],
        ).fetchall()
    finally:
        cursor.close()


def _frame(records: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame([json.loads(record) for record in records])
    for column in DATE_COLUMNS:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], errors="coerce").dt.date
    return frame


def release(settings: Settings, warehouse: Warehouse, *, load_id: str, rows: list[int] | None = None) -> ReleaseResult:
    """Re-validate held rows of ``load_id``; load and mark released those that pass now."""
    cursor = warehouse.cursor()
    try:
        held = cursor.execute(
            "select q.dataset, q.row_number, q.record_json, l.as_of from audit.quarantine as q "
            "left join audit.loads as l using (load_id) "
            "where q.load_id = ? and q.status in ('quarantined', 'rejected') order by q.row_number",
            [load_id],
        ).fetchall()
    finally:
        cursor.close()
    if rows is not None:
        held = [row for row in held if row[1] in set(rows)]
    if not held:
        raise LookupError(f"No quarantined rows to release for load {load_id} (see `gapwatch quarantine list`).")
    dataset, as_of = held[0][0], held[0][3] or date.today()
    frame = _frame([row[2] for row in held])
    numbers = [row[1] for row in held]
    last_closes = warehouse.last_closes_before(frame) if dataset == "prices" else None
    report = validate_frame(dataset, frame, settings=settings, as_of=as_of, last_closes=last_closes)
    failing = report.failing_rows()
    if report.blocking and not failing:
        failing = dict.fromkeys(range(len(frame)), [failure.rule for failure in report.blocking])
    result = ReleaseResult(load_id=load_id, dataset=dataset)
    result.still_failing = {numbers[position]: rules for position, rules in failing.items()}
    passing = [position for position in range(len(frame)) if position not in failing]
    if not passing:
        return result
    release_id = new_load_id(dataset)
    started_at = utcnow()
    loaded = warehouse.upsert(dataset, frame.iloc[passing], load_id=release_id, loaded_at=utcnow())
    # a fix to the universe (a new ticker) must reach raw.securities before the marts are rebuilt
    load_securities(settings=settings, warehouse=warehouse, run_id=release_id)
    record_load(
        warehouse,
        LoadResult(
            dataset=dataset,
            load_id=release_id,
            source=f"release of {load_id}",
            status="succeeded",
            rows_extracted=len(passing),
            rows_loaded=loaded,
            expectations_evaluated=report.evaluated,
            validation_success=True,
        ),  # fmt: skip
        run_id=f"release-{load_id}",
        as_of=as_of,
        started_at=started_at,
    )
    with warehouse.transaction() as write:
        write.execute(
            "update audit.quarantine set status = 'released', released_at = ?, released_by_load = ? "
            "where load_id = ? and list_contains(?, row_number)",
            [utcnow(), release_id, load_id, [numbers[position] for position in passing]],
        )
    result.released, result.release_load_id = len(passing), release_id
    return result


def rebuild_and_publish(settings: Settings) -> dbt_runner.DbtResult:
    """dbt build, then publish if it passed (the warehouse file must not be held open meanwhile)."""
    result = dbt_runner.build(settings)
    if result.success:
        warehouse = Warehouse(settings)
        try:
            publish(warehouse)
        finally:
            warehouse.close()
    return result
