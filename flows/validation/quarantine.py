"""Rows held back by validation: release them after a fix.

A row lands in ``audit.quarantine`` when it fails a rule of its dataset's GX
suite: with status ``quarantined`` when the rule's severity is ``warning``
(the rest of the batch loaded), or ``rejected`` when a ``critical`` rule
rejected the whole batch. ``release`` re-validates the held rows against the
*current* suite and configuration (after the operator fixed the universe, the
suite or the source), loads the ones that now pass, marks them ``released``;
``rebuild_and_publish`` then rebuilds and publishes the marts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from flows.datasets import registry
from flows.datasets.base import Dataset
from flows.settings import Settings
from flows.validation.gx import validate_frame
from flows.warehouse import audit
from flows.warehouse import dbt as dbt_runner
from flows.warehouse.database import Warehouse, utcnow
from flows.warehouse.publish import publish


@dataclass
class ReleaseResult:
    load_id: str
    dataset: str
    released: int = 0
    still_failing: dict[int, list[str]] = field(default_factory=dict)
    release_load_id: str | None = None


def _frame(dataset: Dataset, records: list[str]) -> pd.DataFrame:
    """The held rows as a batch again: the raw values as extracted, dates read back as dates."""
    frame = pd.DataFrame([json.loads(record) for record in records])
    for column in dataset.table.date_columns:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], errors="coerce").dt.date
    return frame


def release(settings: Settings, warehouse: Warehouse, *, load_id: str, rows: list[int] | None = None) -> ReleaseResult:
    """Re-validate held rows of ``load_id``; load and mark released those that pass now.

    Raises LookupError when the load holds no rows to release (or the load does not exist).
    """
    cursor = warehouse.cursor()
    try:
        held = audit.quarantined_rows(cursor, load_id=load_id, statuses=("quarantined", "rejected"))
    finally:
        cursor.close()
    if rows is not None:
        held = [row for row in held if row.row_number in set(rows)]
    if not held:
        raise LookupError(f"No quarantined rows to release for load {load_id} (see `gapwatch quarantine list`).")
    dataset = registry.get(held[0].dataset)
    as_of = held[0].as_of or date.today()
    frame = _frame(dataset, [row.record_json for row in held])
    numbers = [row.row_number for row in held]
    history = None
    if dataset.history is not None:
        cursor = warehouse.cursor()
        try:
            history = dataset.history(cursor, frame)
        finally:
            cursor.close()
    report = validate_frame(dataset, frame, settings=settings, as_of=as_of, history=history)
    failing = report.failing_rows()
    if report.blocking and not failing:
        failing = dict.fromkeys(range(len(frame)), [failure.rule for failure in report.blocking])
    result = ReleaseResult(load_id=load_id, dataset=dataset.name)
    result.still_failing = {numbers[position]: rules for position, rules in failing.items()}
    passing = [position for position in range(len(frame)) if position not in failing]
    if not passing:
        return result
    release_id = audit.new_load_id(dataset.name)
    started_at = utcnow()
    loaded = warehouse.upsert(dataset.table, frame.iloc[passing], load_id=release_id, loaded_at=utcnow())
    # a fix to the universe (a new ticker) must reach raw.securities before the marts are rebuilt
    warehouse.load_universe(load_id=f"securities-{release_id}")
    audit.record_load(
        warehouse,
        audit.LoadResult(
            dataset=dataset.name,
            load_id=release_id,
            source=f"release of {load_id}",
            status="succeeded",
            rows_extracted=len(passing),
            rows_loaded=loaded,
            expectations_evaluated=report.evaluated,
            validation_success=True,
        ),
        run_id=f"release-{load_id}",
        as_of=as_of,
        started_at=started_at,
    )
    audit.mark_released(
        warehouse, load_id=load_id, row_numbers=[numbers[position] for position in passing], release_load_id=release_id
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
