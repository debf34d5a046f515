"""The audit tables (``audit.loads``, ``audit.validations``, ``audit.quarantine``, ``audit.key_failures``,
``audit.runs``): typed rows in, typed rows out.

Writers take a :class:`~flows.warehouse.database.Warehouse`; readers take any
DuckDB connection (``gapwatch status`` reads a read-only one) and return
dataclasses, never positional tuples. This is the only module that knows the
audit tables' columns.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pandas as pd
import pyarrow as pa

from flows.warehouse.database import utcnow

if TYPE_CHECKING:
    from flows.sources.jobs import KeyFailure
    from flows.warehouse.database import Warehouse

AUDIT_TABLES = ("audit.runs", "audit.loads", "audit.validations", "audit.quarantine", "audit.key_failures")


# --- loads ------------------------------------------------------------------------------------------


def new_load_id(dataset: str) -> str:
    """``<dataset>-<UTC timestamp>-<6 hex>``: names the load's landing files, raw rows and audit rows."""
    return f"{dataset}-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass
class LoadResult:
    """One load of one dataset, as the pipeline saw it; recorded as one row of audit.loads."""

    dataset: str
    load_id: str
    source: str
    status: str  # succeeded | partial | failed
    rows_extracted: int = 0
    rows_loaded: int = 0
    expectations_evaluated: int = 0
    expectations_failed: int = 0
    landing_path: Path | None = None
    error: str | None = None
    window_start: date | None = None
    window_end: date | None = None
    validation_success: bool | None = None
    keys: int = 0
    failures: list[KeyFailure] = field(default_factory=list)
    rows_quarantined: int = 0
    failed_rules: list[str] = field(default_factory=list)  # the rules (audit.validations) that failed
    stage_seconds: dict[str, float] = field(default_factory=dict)  # extract, land, validate, load: wall seconds
    unchanged: bool = False  # every extracted row was already stored as it is: not re-validated, nothing loaded

    @property
    def is_degraded(self) -> bool:
        """Loaded, but not everything: some keys failed or rows were quarantined."""
        return self.status == "partial" or bool(self.rows_quarantined)


def record_load(warehouse: Warehouse, result: LoadResult, *, run_id: str, as_of: date, started_at: datetime) -> None:
    """One row in audit.loads, and one in audit.key_failures per failed key."""
    if result.failures:
        warehouse.append(
            "audit.key_failures",
            pd.DataFrame(
                {
                    "load_id": result.load_id,
                    "dataset": result.dataset,
                    "source": [failure.source for failure in result.failures],
                    "key": [failure.key for failure in result.failures],
                    "http_status": pd.array([failure.http_status for failure in result.failures], dtype="Int64"),
                    "error": [failure.error for failure in result.failures],
                    "failed_at": utcnow(),
                }
            ),
        )
    row = {
        "load_id": result.load_id,
        "run_id": run_id,
        "dataset": result.dataset,
        "source": result.source,
        "as_of": as_of,
        "window_start": result.window_start,
        "window_end": result.window_end,
        "rows_extracted": result.rows_extracted,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "validation_success": result.validation_success,
        "unchanged": result.unchanged,
        "expectations_evaluated": result.expectations_evaluated,
        "expectations_failed": result.expectations_failed,
        "status": result.status,
        "error": result.error,
        "landing_path": str(result.landing_path) if result.landing_path else None,
        "stage_seconds": json.dumps({stage: round(seconds, 4) for stage, seconds in result.stage_seconds.items()}),
        "started_at": started_at,
        "finished_at": utcnow(),
    }
    warehouse.append("audit.loads", pd.DataFrame([row]))


@dataclass(frozen=True)
class LoadRow:
    """A dataset's latest load as audit.loads holds it, with its failed keys and rules."""

    dataset: str
    load_id: str
    run_id: str | None
    as_of: date
    source: str
    status: str
    started_at: datetime
    rows_extracted: int
    rows_loaded: int
    rows_quarantined: int
    failed_keys: int
    validation_success: bool | None
    expectations_evaluated: int
    expectations_failed: int
    error: str | None
    landing_path: str | None
    unchanged: bool
    failed_rules: tuple[str, ...]
    last_good_as_of: date | None  # the newest as-of of a load of this dataset that loaded (succeeded/partial)


def latest_loads(connection: duckdb.DuckDBPyConnection) -> list[LoadRow]:
    """The latest load of every dataset that has one."""
    rows = connection.execute(
        """
        select dataset, load_id, run_id, as_of, source, status, started_at,
               coalesce(rows_extracted, 0), coalesce(rows_loaded, 0), coalesce(rows_quarantined, 0),
               (select count(*) from audit.key_failures as failures where failures.load_id = loads.load_id),
               validation_success, coalesce(expectations_evaluated, 0), coalesce(expectations_failed, 0),
               error, landing_path, coalesce(unchanged, false),
               coalesce((select list(distinct rule order by rule) from audit.validations as validations
                         where validations.load_id = loads.load_id and not validations.success), []),
               max(as_of) filter (where status in ('succeeded', 'partial')) over (partition by dataset)
        from audit.loads as loads
        qualify row_number() over (partition by dataset order by started_at desc) = 1
        """
    ).fetchall()
    return [LoadRow(*row[:17], tuple(row[17]), row[18]) for row in rows]


# --- validations -------------------------------------------------------------------------------------

Outcome = tuple[str, str, bool, int | None]  # rule, severity, success, unexpected count


def record_validation(warehouse: Warehouse, *, dataset: str, load_id: str, outcomes: list[Outcome]) -> None:
    """One row per evaluated rule in audit.validations."""
    if not outcomes:
        return
    rules, severities, successes, counts = zip(*outcomes, strict=True)
    frame = pd.DataFrame(
        {
            "load_id": load_id,
            "dataset": dataset,
            "rule": list(rules),
            "severity": list(severities),
            "success": list(successes),
            "unexpected_count": pd.array(list(counts), dtype="Int64"),
            "validated_at": utcnow(),
        }
    )
    warehouse.append("audit.validations", frame)


# --- quarantine --------------------------------------------------------------------------------------


def quarantine(
    warehouse: Warehouse,
    dataset: str,
    frame: pd.DataFrame,
    failing: dict[int, list[str]],
    *,
    load_id: str,
    status: str,
    first_row: int = 0,
) -> int:
    """Keep the failing rows of a batch in audit.quarantine with their rules and raw values.

    ``failing`` maps positions in ``frame`` to rules; ``first_row`` is the position of ``frame``'s first row in
    its load (a part of a chunked load): ``row_number`` is the row's position in the whole load."""
    if not failing:
        return 0
    positions = sorted(failing)
    rows = frame.reset_index(drop=True).iloc[positions]
    records = [json.dumps(record, default=str) for record in rows.to_dict(orient="records")]
    quarantined = pd.DataFrame(
        {
            "load_id": load_id,
            "dataset": dataset,
            "row_number": [first_row + p for p in positions],
            "rules": [failing[p] for p in positions],
            "record_json": records,
            "status": status,
            "quarantined_at": utcnow(),
        }
    )
    warehouse.append("audit.quarantine", quarantined)
    return len(quarantined)


@dataclass(frozen=True)
class QuarantineGroup:
    """The held rows of one load with one status."""

    load_id: str
    dataset: str
    status: str  # quarantined | rejected | released
    rows: int
    rules: tuple[str, ...]
    since: datetime


@dataclass(frozen=True)
class QuarantinedRow:
    load_id: str
    dataset: str
    row_number: int
    status: str
    rules: tuple[str, ...]
    record_json: str
    as_of: date | None  # the as-of of the load that held it back


def quarantine_groups(connection: duckdb.DuckDBPyConnection) -> list[QuarantineGroup]:
    rows = connection.execute(
        """
        select load_id, dataset, status, count(*) as rows, list(distinct rule order by rule) as rules,
               min(quarantined_at) as since
        from (select *, unnest(rules) as rule from audit.quarantine)
        group by load_id, dataset, status
        order by since desc
        """
    ).fetchall()
    return [QuarantineGroup(row[0], row[1], row[2], row[3], tuple(row[4]), row[5]) for row in rows]


def quarantined_rows(
    connection: duckdb.DuckDBPyConnection,
    *,
    load_id: str,
    statuses: tuple[str, ...] | None = None,
    limit: int | None = None,
) -> list[QuarantinedRow]:
    """The held rows of ``load_id`` in row order (only those with one of ``statuses``, when given)."""
    rows = connection.execute(
        "select quarantine.load_id, quarantine.dataset, quarantine.row_number, quarantine.status, quarantine.rules, "
        "quarantine.record_json, loads.as_of "
        "from audit.quarantine as quarantine left join audit.loads as loads using (load_id) "
        "where quarantine.load_id = ? and (? or list_contains(?, quarantine.status)) "
        "order by quarantine.row_number limit ?",
        [load_id, statuses is None, list(statuses or ()), limit],
    ).fetchall()
    return [QuarantinedRow(row[0], row[1], row[2], row[3], tuple(row[4]), row[5], row[6]) for row in rows]


def held_counts(connection: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """Rows still held (not released) per dataset and status."""
    counts: dict[str, dict[str, int]] = {}
    for dataset, status, count in connection.execute(
        "select dataset, status, count(*) from audit.quarantine where status <> 'released' group by all order by all"
    ).fetchall():
        counts.setdefault(dataset, {"quarantined": 0, "rejected": 0})[status] = count
    return counts


def mark_released(warehouse: Warehouse, *, load_id: str, row_numbers: list[int], release_load_id: str) -> None:
    with warehouse.transaction() as cursor:
        cursor.execute(
            "update audit.quarantine set status = 'released', released_at = ?, released_by_load = ? "
            "where load_id = ? and list_contains(?, row_number)",
            [utcnow(), release_load_id, load_id, row_numbers],
        )


def mark_rejected(warehouse: Warehouse, *, load_id: str) -> None:
    """The rows a load held back as quarantined become rejected: the load itself was rejected (a part of a chunked
    load failed a critical rule after an earlier part's warning rows were held), so none of its rows is loaded
    and none can be released into the raw table."""
    with warehouse.transaction() as cursor:
        cursor.execute(
            "update audit.quarantine set status = 'rejected' where load_id = ? and status = 'quarantined'", [load_id]
        )


def load_exists(connection: duckdb.DuckDBPyConnection, load_id: str) -> bool:
    (count,) = connection.execute("select count(*) from audit.loads where load_id = ?", [load_id]).fetchone()
    return bool(count)


# --- runs --------------------------------------------------------------------------------------------


def record_run(warehouse: Warehouse, *, run_id: str, status: str, **fields: object) -> None:
    """Insert the run's row in audit.runs, or update the given fields of it."""
    with warehouse.transaction() as cursor:
        exists = cursor.execute("select count(*) from audit.runs where run_id = ?", [run_id]).fetchone()[0]
        if exists:
            assignments = ", ".join(f"{name} = ?" for name in ["status", *fields])
            cursor.execute(f"update audit.runs set {assignments} where run_id = ?", [status, *fields.values(), run_id])
        else:
            frame = pd.DataFrame([{"run_id": run_id, "status": status, **fields}])
            cursor.register("run_record", pa.Table.from_pandas(frame, preserve_index=False))
            cursor.execute("insert into audit.runs by name select * from run_record")
            cursor.unregister("run_record")


@dataclass(frozen=True)
class RunRow:
    run_id: str
    as_of: date
    source: str
    status: str  # running | succeeded | failed | skipped
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    build_fingerprint: str | None
    degraded_loads: int  # loads of the run that were partial or quarantined rows


def recent_runs(connection: duckdb.DuckDBPyConnection, *, limit: int, excluding: str | None = None) -> list[RunRow]:
    """The newest runs first (without ``excluding``, the run asking)."""
    rows = connection.execute(
        """
        select run_id, as_of, source, status, started_at, finished_at, error, build_fingerprint,
               (select count(*) from audit.loads as loads where loads.run_id = runs.run_id
                and (loads.status = 'partial' or coalesce(loads.rows_quarantined, 0) > 0))
        from audit.runs as runs
        where ? is null or run_id <> ?
        order by started_at desc
        limit ?
        """,
        [excluding, excluding, limit],
    ).fetchall()
    return [RunRow(*row) for row in rows]


@dataclass(frozen=True)
class PreviousBuilds:
    """What the runs before this one built: decides whether dbt runs in full, incrementally, or not at all."""

    last_run: str | None  # fingerprint of the latest earlier run if it succeeded, else None
    last_good: str | None  # fingerprint of the latest earlier successful run
    earlier_runs: bool  # any earlier run (not skipped): a failed first run may have left tables behind


def previous_builds(connection: duckdb.DuckDBPyConnection, *, run_id: str) -> PreviousBuilds:
    rows = connection.execute(
        "select status, build_fingerprint from audit.runs where run_id != ? and status != 'skipped' "
        "order by started_at desc",
        [run_id],
    ).fetchall()
    last_run = rows[0][1] if rows and rows[0][0] == "succeeded" else None
    last_good = next((fingerprint for status, fingerprint in rows if status == "succeeded"), None)
    return PreviousBuilds(last_run=last_run, last_good=last_good, earlier_runs=bool(rows))


def has_audit_tables(connection: duckdb.DuckDBPyConnection) -> bool:
    """True when the file holds every audit table (a file dbt created on its own holds none)."""
    tables = {
        row[0]
        for row in connection.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
        ).fetchall()
    }
    return set(AUDIT_TABLES) <= tables
