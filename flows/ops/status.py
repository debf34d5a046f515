"""``gapwatch status``: how the last run went and what the warehouse holds -- read-only and fast.

Reads the working warehouse read-only and the published copy; imports neither
Prefect nor Great Expectations. It never blocks a run and never waits for one:

- While a run (or ``quarantine release``) holds ``<home>/gapwatch.lock``, the
  working warehouse is not opened at all: the warehouse state is ``busy``,
  with the lock holder; the published marts are still shown.
- Otherwise status holds the lock *shared* for the moment it reads, so no run
  opens the file meanwhile (a run starting then waits for it, see
  ``flows.warehouse.lock.RunLock``).
- Anything else holding the DuckDB file (dbt by hand) also gives ``busy``.

``--json`` prints one document (``schema_version`` 1; dates ``YYYY-MM-DD``,
timestamps ISO 8601 UTC with ``Z``, absent values ``null``; keys are only ever
added, never renamed or removed, within a schema version)::

    {
      "schema_version": 1,
      "generated_at": "2026-12-01T09:20:00Z",
      "home": "/abs/warehouse",
      "warehouse": {"path": str, "state": "ok" | "missing" | "busy" | "error",
                    "message": str | null, "lock_holder": str | null},
      "last_run": RUN | null,
      "recent_runs": [RUN, ...],                  # newest first, at most 5 (last_run included)
      "freshness_as_of": "YYYY-MM-DD" | null,     # the last run's as-of, or --as-of
      "datasets": [DATASET, ...],                 # always every registered dataset, in pipeline order
      "quarantine": {"held_rows": int, "by_dataset": {dataset: {"quarantined": int, "rejected": int}}},
      "published": {"path": str, "state": "published" | "not_published" | "error",
                    "published_at": timestamp | null, "message": str | null,
                    "marts": {mart: rows, ...},
                    "publish_id": str | null,             # the DuckDB copy's publish stamp
                    "parquet_publish_id": str | null,     # the Parquet views' publish stamp
                    "behind": "duckdb" | "parquet_views" | null,  # a publish that was cut between the two
                    "rolled_back": {"restored": str, "replaced": str | null, "at": timestamp} | null}
                                       # set while a `gapwatch rollback` is what BI reads (until the next publish)
    }
    RUN = {"run_id", "as_of", "source", "status" (audit.runs: running|succeeded|failed|skipped),
           "outcome" (succeeded|partial|failed|skipped|running|interrupted, see flows.summary.OUTCOMES),
           "started_at", "finished_at", "duration_seconds", "error"}
    DATASET = {"dataset",
               "freshness": {"status": "fresh"|"stale"|"empty", "latest", "expected", "missing": [str],
                             "stale_from": date | null,    # the first day its data is stale (the one rule)
                             "note": str | null} | null,   # e.g. the curated calendar's coverage
               "last_good_as_of": date | null,        # newest as-of of a load that loaded (succeeded/partial)
               "last_load": null | {"load_id", "run_id", "as_of", "source", "status", "started_at",
                   "rows_extracted", "rows_loaded", "rows_quarantined", "failed_keys",
                   "unchanged": bool,                  # its batch was already stored as it is: not re-validated
                   "validation": {"success": bool|null, "rules_evaluated", "rules_passed", "rules_failed",
                                  "failed_rules": [str]},
                   "error": str | null,                # first line
                   "landing_path": str | null},
               "quarantined_rows": {"quarantined": int, "rejected": int}}
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import duckdb

from flows.datasets import registry
from flows.ops.progress import seconds
from flows.ops.summary import run_outcome, validation_text
from flows.settings import Settings
from flows.warehouse import audit, lock
from flows.warehouse.publish import PARQUET_VIEWS, foreign_wal, lock_holder, read_stamp, rollback_note
from flows.warehouse.sql import quote_identifier

SCHEMA_VERSION = 1
RECENT_RUNS = 5


def _timestamp(value: datetime | None) -> str | None:
    """audit timestamps are naive UTC."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _empty_dataset(name: str) -> dict[str, Any]:
    return {
        "dataset": name,
        "freshness": None,
        "last_good_as_of": None,
        "last_load": None,
        "quarantined_rows": {"quarantined": 0, "rejected": 0},
    }


def _run_record(run: audit.RunRow) -> dict[str, Any]:
    if run.status == "running":
        outcome = "interrupted"  # status reads only while no run holds the lock: this process is gone
    elif run.status in {"succeeded", "failed", "skipped"}:
        outcome = run_outcome(
            failed=run.status == "failed", skipped=run.status == "skipped", degraded_loads=run.degraded_loads
        )
    else:
        outcome = run.status
    took = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else None
    return {
        "run_id": run.run_id,
        "as_of": _day(run.as_of),
        "source": run.source,
        "status": run.status,
        "outcome": outcome,
        "started_at": _timestamp(run.started_at),
        "finished_at": _timestamp(run.finished_at),
        "duration_seconds": round(took, 1) if took is not None else None,
        "error": run.error,
    }


def _load_record(load: audit.LoadRow) -> dict[str, Any]:
    return {
        "load_id": load.load_id,
        "run_id": load.run_id,
        "as_of": _day(load.as_of),
        "source": load.source,
        "status": load.status,
        "started_at": _timestamp(load.started_at),
        "rows_extracted": load.rows_extracted,
        "rows_loaded": load.rows_loaded,
        "rows_quarantined": load.rows_quarantined,
        "failed_keys": load.failed_keys,
        "unchanged": load.unchanged,
        "validation": {
            "success": load.validation_success,
            "rules_evaluated": load.expectations_evaluated,
            "rules_passed": load.expectations_evaluated - load.expectations_failed,
            "rules_failed": load.expectations_failed,
            "failed_rules": list(load.failed_rules),
        },
        "error": load.error.splitlines()[0] if load.error else None,
        "landing_path": load.landing_path,
    }


def _read_warehouse(
    connection: duckdb.DuckDBPyConnection, settings: Settings, *, as_of: date | None, report: dict[str, Any]
) -> None:
    datasets = {name: _empty_dataset(name) for name in registry.names()}
    if audit.has_audit_tables(connection):
        report["recent_runs"] = [_run_record(run) for run in audit.recent_runs(connection, limit=RECENT_RUNS)]
        report["last_run"] = report["recent_runs"][0] if report["recent_runs"] else None
        for load in audit.latest_loads(connection):
            entry = datasets.setdefault(load.dataset, _empty_dataset(load.dataset))
            entry["last_good_as_of"] = _day(load.last_good_as_of)
            entry["last_load"] = _load_record(load)
        held = audit.held_counts(connection)
        for dataset, counts in held.items():
            datasets.setdefault(dataset, _empty_dataset(dataset))["quarantined_rows"].update(counts)
        report["quarantine"] = {
            "held_rows": sum(sum(counts.values()) for counts in held.values()),
            "by_dataset": held,
        }
    freshness_as_of = as_of or (date.fromisoformat(report["last_run"]["as_of"]) if report["last_run"] else None)
    if freshness_as_of and audit.has_audit_tables(connection):
        report["freshness_as_of"] = freshness_as_of.isoformat()
        try:
            checked = registry.freshness(connection, settings, as_of=freshness_as_of)
        except ValueError as exc:  # CalendarRangeError: an --as-of beyond the bundled calendars
            report["warehouse"]["message"] = f"freshness not checked: {exc}"
            checked = []
        for row in checked:
            datasets.setdefault(row.dataset, _empty_dataset(row.dataset))["freshness"] = {
                "status": row.status,
                "latest": _day(row.latest),
                "expected": _day(row.expected),
                "missing": list(row.missing),
                "stale_from": _day(row.stale_from),
                "note": row.note or None,
            }
    report["datasets"] = list(datasets.values())


def _read_published(settings: Settings) -> dict[str, Any]:
    path = settings.paths.published_database
    published: dict[str, Any] = {
        "path": str(path),
        "state": "not_published",
        "published_at": None,
        "message": None,
        "marts": {},
        "publish_id": None,
        "parquet_publish_id": None,
        "behind": None,
        "rolled_back": None,
    }
    if not path.exists():
        return published
    note = rollback_note(settings)
    if note:
        at = note.get("at")
        published["rolled_back"] = {**note, "at": f"{at.replace(' ', 'T')}Z" if at else None}
    try:
        published["published_at"] = _timestamp(datetime.fromtimestamp(path.stat().st_mtime, UTC))
        connection = duckdb.connect(str(path), read_only=True)
        try:
            tables = connection.execute(
                "select table_name from information_schema.tables where table_schema = ? order by table_name", ["marts"]
            ).fetchall()
            published["marts"] = {
                name: connection.execute(f"select count(*) from marts.{quote_identifier(name)}").fetchone()[0]
                for (name,) in tables
            }
            stamp = read_stamp(connection)
        finally:
            connection.close()
        published["state"] = "published"
    except (duckdb.Error, OSError) as exc:
        published["state"] = "error"
        holder = lock_holder(exc) if isinstance(exc, duckdb.Error) else None
        published["message"] = (
            f"held open for writing by {holder}: BI readers cannot open it and the next run will not publish "
            "over it; close that connection"
            if holder
            else f"{type(exc).__name__}: {str(exc).splitlines()[0]}; the next `gapwatch run` rebuilds it"
        )
        return published
    wal = foreign_wal(path)
    if wal is not None:
        published["state"] = "error"
        published["message"] = (
            f"{wal.name} beside it was not written by gapwatch (another process wrote to the file); "
            "the next `gapwatch run` republishes it whole"
        )
    elif stamp is None:
        published["message"] = "no publish stamp (published by an older gapwatch); the next run republishes it"
    elif {name: signature[0] for name, signature in stamp["marts"].items()} != published["marts"]:
        published["state"] = "error"
        published["message"] = (
            "its row counts differ from its publish stamp (modified outside gapwatch); "
            "the next `gapwatch run` republishes it whole"
        )
    published["publish_id"] = stamp["publish_id"] if stamp else None
    published["parquet_publish_id"] = _parquet_publish_id(settings)
    duckdb_id, parquet_id = published["publish_id"], published["parquet_publish_id"]
    if duckdb_id and duckdb_id != parquet_id:
        published["behind"] = "parquet_views" if parquet_id is None or parquet_id < duckdb_id else "duckdb"
        published["message"] = published["message"] or (
            f"the {'Parquet views' if published['behind'] == 'parquet_views' else 'DuckDB copy'} are behind "
            f"(DuckDB copy: publish {duckdb_id}, Parquet views: publish {parquet_id or 'none'}): the last publish "
            "was interrupted; the next `gapwatch run` republishes both"
        )
    return published


def _parquet_publish_id(settings: Settings) -> str | None:
    try:
        connection = duckdb.connect(str(settings.paths.published_dir / PARQUET_VIEWS), read_only=True)
        try:
            stamp = read_stamp(connection)
        finally:
            connection.close()
    except duckdb.Error:
        return None
    return stamp["publish_id"] if stamp else None


def collect(settings: Settings, *, as_of: date | None = None) -> dict[str, Any]:
    """The status document (see the module docstring for its shape)."""
    database = settings.paths.database
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _timestamp(_now()),
        "home": str(settings.paths.home),
        "warehouse": {"path": str(database), "state": "ok", "message": None, "lock_holder": None},
        "last_run": None,
        "recent_runs": [],
        "freshness_as_of": None,
        "datasets": [_empty_dataset(name) for name in registry.names()],
        "quarantine": {"held_rows": 0, "by_dataset": {}},
        "published": None,
    }
    warehouse = report["warehouse"]
    if not database.exists():
        warehouse["state"] = "missing"
        warehouse["message"] = f"No warehouse at {database} yet; run `gapwatch run` first."
    else:
        with lock.shared(settings.paths.lock_file) as holder:
            if holder is not None:
                warehouse["state"] = "busy"
                warehouse["lock_holder"] = holder
                warehouse["message"] = (
                    f"A run holds {settings.paths.lock_file} ({holder}); the working warehouse is not read "
                    "until it finishes. The published marts below are what BI readers see."
                )
            else:
                try:
                    connection = duckdb.connect(str(database), read_only=True)
                except duckdb.Error as exc:
                    text = str(exc).splitlines()[0]
                    warehouse["state"] = "busy" if "lock" in text.lower() else "error"
                    warehouse["message"] = f"Cannot open {database} read-only: {text}"
                else:
                    try:
                        _read_warehouse(connection, settings, as_of=as_of, report=report)
                    except duckdb.Error as exc:
                        warehouse["state"] = "error"
                        warehouse["message"] = f"Reading {database} failed: {str(exc).splitlines()[0]}"
                    finally:
                        connection.close()
    report["published"] = _read_published(settings)
    return report


def _when(timestamp: str | None) -> str:
    return timestamp.replace("T", " ").replace("Z", " UTC") if timestamp else "-"


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _run_line(run: dict[str, Any]) -> str:
    took = seconds(run["duration_seconds"]) if run["duration_seconds"] is not None else "-"
    return f"  {run['run_id']}  as of {run['as_of']}  {run['outcome']:<11} {_when(run['started_at'])}  took {took}"


def _validation_words(load: dict[str, Any]) -> str:
    validation = load.get("validation") or {}
    return validation_text(
        validation.get("rules_evaluated"), validation.get("rules_failed"), unchanged=bool(load.get("unchanged"))
    )


def render_text(report: dict[str, Any]) -> str:
    """The status document as text for a terminal."""
    lines = [f"gapwatch status  (home {report['home']}, at {_when(report['generated_at'])})", ""]
    warehouse = report["warehouse"]
    if warehouse["state"] != "ok":
        lines += [f"warehouse: {warehouse['state'].upper()}: {warehouse['message']}", ""]
    run = report["last_run"]
    if run:
        took = seconds(run["duration_seconds"]) if run["duration_seconds"] is not None else "-"
        lines.append(f"last run   {run['run_id']}  {run['outcome'].upper()}")
        lines.append(
            f"  as of {run['as_of']} (source {run['source']}), started {_when(run['started_at'])}, took {took}"
        )
        if run["outcome"] == "interrupted":
            lines.append("  the run never recorded its end (killed or crashed); the next run converges")
        if run["error"]:  # the headline of each error; the details are under the datasets below
            headlines = [line for line in run["error"].splitlines() if line.strip() and not line[0].isspace()]
            lines += [f"  {_clip(line)}" for line in headlines[:4]]
        if len(report["recent_runs"]) > 1:
            lines += ["earlier runs:"] + [_run_line(r) for r in report["recent_runs"][1:]]
        lines.append("")
    elif warehouse["state"] == "ok":
        lines += ["last run   none recorded", ""]
    if warehouse["state"] == "ok":
        as_of = report["freshness_as_of"] or "-"
        lines.append(
            f"datasets (freshness as of {as_of} against the NYSE/Nasdaq/HKEX calendars; holidays are not gaps)"
        )
        words = {entry["dataset"]: _validation_words(entry["last_load"] or {}) for entry in report["datasets"]}
        width = max([len("validation"), *map(len, words.values())]) + 2
        lines.append(
            f"  {'dataset':<14} {'fresh':<6} {'latest':<10}  {'expected':<10}  {'last load':<10} "
            f"{'validation':<{width}}{'loaded':>6} {'held':>5}  last good"
        )
        details: list[str] = []
        for entry in report["datasets"]:
            fresh = entry["freshness"] or {}
            load = entry["last_load"] or {}
            validation = load.get("validation") or {}
            checks = words[entry["dataset"]]
            held = sum(entry["quarantined_rows"].values())
            lines.append(
                f"  {entry['dataset']:<14} {fresh.get('status', '-'):<6} {fresh.get('latest') or '-':<10}  "
                f"{fresh.get('expected') or '-':<10}  {load.get('status', '-'):<10} {checks:<{width}}"
                f"{load.get('rows_loaded', '-') if load else '-':>6} {held:>5}  {entry['last_good_as_of'] or '-'}"
            )
            if validation.get("failed_rules"):
                details.append(f"  {entry['dataset']}: failed rules in load {load['load_id']}:")
                details += [f"      {_clip(rule)}" for rule in validation["failed_rules"]]
            if load.get("status") == "failed" and load.get("error"):
                details.append(f"  {entry['dataset']}: {_clip(load['error'])}")
                if load.get("landing_path"):
                    details.append(f"      landing file: {load['landing_path']}")
            if load.get("failed_keys"):
                details.append(f"  {entry['dataset']}: {load['failed_keys']} key(s) failed in load {load['load_id']}")
            if fresh.get("status") == "stale" and fresh.get("note"):
                details.append(f"  {entry['dataset']}: {fresh['note']}")
            if fresh.get("missing"):
                missing = fresh["missing"]
                more = f" and {len(missing) - 6} more" if len(missing) > 6 else ""
                details.append(f"  {entry['dataset']}: missing {', '.join(missing[:6])}{more}")
        lines += details
        held = report["quarantine"]
        lines.append("")
        if held["held_rows"]:
            parts = [
                ", ".join(f"{count} {status}" for status, count in counts.items() if count) + f" ({dataset})"
                for dataset, counts in held["by_dataset"].items()
            ]
            lines.append(
                f"quarantine: {held['held_rows']} row(s) held: {'; '.join(parts)}; see `gapwatch quarantine list`"
            )
        else:
            lines.append("quarantine: no rows held")
        lines.append("")
    published = report["published"]
    if published["state"] == "not_published":
        lines.append(f"published marts: not published yet ({published['path']})")
    elif published["state"] == "error":
        lines.append(f"published marts: cannot read {published['path']}: {published['message']}")
    else:
        lines.append(f"published marts ({published['path']}, published {_when(published['published_at'])}):")
        if published["message"]:
            lines.append(f"  WARNING: {published['message']}")
        if published["rolled_back"]:
            back = published["rolled_back"]
            lines.append(
                f"  ROLLED BACK at {_when(back['at'])}: BI reads publish {back['restored']} (replaced "
                f"{back['replaced'] or '-'}); the next successful run republishes the warehouse's marts"
            )
        lines += [f"  marts.{name:<28}{rows:>10}" for name, rows in published["marts"].items()]
    return "\n".join(lines)
