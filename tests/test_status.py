"""`gapwatch status`: read-only, fast, never blocked by a run; text and a stable JSON shape."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from conftest import AS_OF, Home
from flows.cli import app
from flows.datasets.registry import names as dataset_names

RUN_KEYS = {"run_id", "as_of", "source", "status", "outcome", "started_at", "finished_at", "duration_seconds", "error"}
LOAD_KEYS = {
    "load_id", "run_id", "as_of", "source", "status", "started_at", "rows_extracted", "rows_loaded",
    "rows_quarantined", "failed_keys", "unchanged", "validation", "error", "landing_path",
}  # fmt: skip


def _status(home: Home, *args: str) -> str:
    with home:
        result = CliRunner().invoke(app, ["status", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _copy(home: Home, target: Path) -> Home:
    shutil.copytree(home.path, target, ignore=shutil.ignore_patterns("gapwatch.lock"))
    return Home(target)


def test_status_text_on_the_built_warehouse(warehouse: Home) -> None:
    output = _status(warehouse)
    summary = warehouse.summary  # type: ignore[attr-defined]
    assert f"last run   {summary.run_id}  SUCCEEDED" in output
    assert f"as of {summary.as_of} (source sample)" in output and "took " in output
    lines = {line.split()[0]: line for line in output.splitlines() if line.startswith("  ") and line.split()}
    for load in summary.loads:
        row = lines[load.dataset]
        checks = f"{load.expectations_evaluated}/{load.expectations_evaluated} passed"
        assert "succeeded" in row and checks in row and str(load.rows_loaded) in row, row
    for fresh in summary.freshness:
        assert fresh.status in lines[fresh.dataset] and str(fresh.latest) in lines[fresh.dataset]
    assert "quarantine: no rows held" in output
    published = dict(
        warehouse.query(
            "select table_name, estimated_size from duckdb_tables() where schema_name = 'marts'", published=True
        )
    )
    assert published
    for mart in published:
        (count,) = warehouse.query(f"select count(*) from marts.{mart}", published=True)[0]
        assert f"marts.{mart}" in output and str(count) in lines[f"marts.{mart}"]


def test_status_json_has_the_documented_shape(warehouse: Home) -> None:
    report = json.loads(_status(warehouse, "--json"))
    summary = warehouse.summary  # type: ignore[attr-defined]
    assert set(report) == {
        "schema_version", "generated_at", "home", "warehouse", "last_run", "recent_runs", "freshness_as_of",
        "datasets", "quarantine", "published",
    }  # fmt: skip
    assert report["schema_version"] == 1 and report["generated_at"].endswith("Z")
    assert report["warehouse"] == {
        "path": str(warehouse.path / "gapwatch.duckdb"),
        "state": "ok",
        "message": None,
        "lock_holder": None,
    }
    run = report["last_run"]
    assert set(run) == RUN_KEYS and run == report["recent_runs"][0]
    assert (run["run_id"], run["as_of"], run["status"], run["outcome"]) == (
        summary.run_id,
        summary.as_of.isoformat(),
        "succeeded",
        "succeeded",
    )
    assert run["duration_seconds"] > 0 and run["error"] is None
    assert report["freshness_as_of"] == summary.as_of.isoformat()
    assert [entry["dataset"] for entry in report["datasets"]] == dataset_names()
    expected_freshness = {row.dataset: row for row in summary.freshness}
    for entry, load in zip(report["datasets"], summary.loads, strict=True):
        assert set(entry) == {"dataset", "freshness", "last_good_as_of", "last_load", "quarantined_rows"}
        assert set(entry["last_load"]) == LOAD_KEYS
        assert entry["last_load"]["load_id"] == load.load_id and entry["last_load"]["rows_loaded"] == load.rows_loaded
        validation = entry["last_load"]["validation"]
        assert validation == {
            "success": True,
            "rules_evaluated": load.expectations_evaluated,
            "rules_passed": load.expectations_evaluated,
            "rules_failed": 0,
            "failed_rules": [],
        }
        fresh = expected_freshness[entry["dataset"]]
        assert entry["freshness"]["status"] == fresh.status
        assert entry["freshness"]["latest"] == (fresh.latest.isoformat() if fresh.latest else None)
        assert entry["last_good_as_of"] == summary.as_of.isoformat()
        assert entry["quarantined_rows"] == {"quarantined": 0, "rejected": 0}
    assert report["quarantine"] == {"held_rows": 0, "by_dataset": {}}
    published = report["published"]
    assert published["state"] == "published" and published["published_at"].endswith("Z")
    assert published["marts"] == summary.mart_rows


def test_status_on_an_empty_home_creates_nothing(tmp_path: Path) -> None:
    home = Home(tmp_path / "nowhere")
    text = _status(home)
    assert "No warehouse at" in text and "run `gapwatch run` first" in text
    assert "published marts: not published yet" in text
    report = json.loads(_status(home, "--json"))
    assert report["warehouse"]["state"] == "missing" and report["last_run"] is None
    assert report["recent_runs"] == [] and report["published"]["state"] == "not_published"
    assert [entry["last_load"] for entry in report["datasets"]] == [None] * len(dataset_names())
    assert not home.path.exists()


def test_status_reports_busy_at_once_while_a_run_holds_the_lock(tmp_path: Path, warehouse: Home) -> None:
    home = _copy(warehouse, tmp_path / "home")
    with open(home.path / "gapwatch.lock", "w") as holder:
        holder.write("pid 4242 since 2026-12-01 09:00:00 UTC")
        holder.flush()
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        started = time.monotonic()
        report = json.loads(_status(home, "--json"))
        text = _status(home)
        assert time.monotonic() - started < 10
    assert report["warehouse"]["state"] == "busy"
    assert report["warehouse"]["lock_holder"] == "pid 4242 since 2026-12-01 09:00:00 UTC"
    assert report["last_run"] is None
    assert report["published"]["marts"] == warehouse.summary.mart_rows  # type: ignore[attr-defined]
    assert "warehouse: BUSY" in text and "pid 4242" in text and "marts.relative_performance" in text


def test_status_reports_busy_when_another_process_writes_the_file(tmp_path: Path, warehouse: Home) -> None:
    home = _copy(warehouse, tmp_path / "home")
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); time.sleep(120)",
            str(home.path / "gapwatch.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "open"
        report = json.loads(_status(home, "--json"))
    finally:
        writer.kill()
        writer.wait()
    assert report["warehouse"]["state"] == "busy", report["warehouse"]
    assert "read-only" in report["warehouse"]["message"]
    assert report["published"]["state"] == "published"


def test_a_run_waits_for_a_status_reader_but_not_for_another_run(tmp_path: Path) -> None:
    from flows.warehouse.lock import PipelineBusy, RunLock

    lock_path = tmp_path / "gapwatch.lock"
    lock_path.write_text("pid 4242 since test")
    reader = open(lock_path)
    fcntl.flock(reader, fcntl.LOCK_SH)  # what `gapwatch status` holds while it reads
    threading.Timer(1.0, lambda: (fcntl.flock(reader, fcntl.LOCK_UN), reader.close())).start()
    started = time.monotonic()
    with RunLock(lock_path):
        assert time.monotonic() - started >= 0.9
    with open(lock_path) as other_run:
        fcntl.flock(other_run, fcntl.LOCK_EX)
        started = time.monotonic()
        with pytest.raises(PipelineBusy, match="pid"):
            with RunLock(lock_path):
                pass
        assert time.monotonic() - started < 2


def test_status_names_failures_quarantine_partial_and_interrupted_runs(tmp_path: Path, warehouse: Home) -> None:
    """Audit rows as a failed, a partial and a killed run leave them, on a copy of the warehouse."""
    home = _copy(warehouse, tmp_path / "home")
    connection = duckdb.connect(str(home.path / "gapwatch.duckdb"))
    try:
        connection.execute(
            """
            insert into audit.runs (run_id, as_of, source, started_at, finished_at, status, error) values
              ('run-a-failed', '2026-11-20', 'sample', '2030-01-01 23:30:00', '2030-01-01 23:30:40', 'failed',
               'Validation failed for dataset ''policy_events'' (load policy_events-x1)'),
              ('run-b-partial', '2026-11-20', 'sample', '2030-01-02 23:30:00', '2030-01-02 23:31:00', 'succeeded',
               null),
              ('run-c-killed', '2026-11-20', 'sample', '2030-01-03 23:30:00', null, 'running', null)
            """
        )
        connection.execute(
            """
            insert into audit.loads (load_id, run_id, dataset, source, as_of, rows_extracted, rows_loaded,
                validation_success, expectations_evaluated, expectations_failed, status, error, landing_path,
                started_at, finished_at, rows_quarantined) values
              ('policy_events-x1', 'run-a-failed', 'policy_events', 'curated', '2026-11-20', 38, 0, false, 23, 1,
               'failed', 'Validation failed for dataset ''policy_events'' (load policy_events-x1): 1 of 23 failed.',
               '/landing/policy_events/2026-11-20/policy_events-x1.csv', '2030-01-01 23:30:05', '2030-01-01 23:30:09',
               0),
              ('prices-x2', 'run-b-partial', 'prices', 'sample', '2026-11-20', 10, 8, false, 40, 1, 'succeeded',
               null, '/landing/prices/2026-11-20/prices-x2.parquet', '2030-01-02 23:30:05', '2030-01-02 23:30:09', 2)
            """
        )
        connection.execute(
            """
            insert into audit.validations values
              ('policy_events-x1', 'policy_events', 'expect_column_values_to_be_in_set(column=category)', 'critical',
               false, 1, '2030-01-01 23:30:08'),
              ('prices-x2', 'prices', 'expect_column_values_to_be_between(column=close)', 'warning', false, 2,
               '2030-01-02 23:30:08')
            """
        )
        connection.execute(
            """
            insert into audit.quarantine (load_id, dataset, row_number, rules, record_json, status, quarantined_at)
            values ('prices-x2', 'prices', 3, ['expect_column_values_to_be_between(column=close)'], '{}',
                    'quarantined', '2030-01-02 23:30:08'),
                   ('prices-x2', 'prices', 4, ['expect_column_values_to_be_between(column=close)'], '{}',
                    'quarantined', '2030-01-02 23:30:08'),
                   ('policy_events-x1', 'policy_events', 37, ['expect_column_values_to_be_in_set(column=category)'],
                    '{}', 'rejected', '2030-01-01 23:30:08')
            """
        )
    finally:
        connection.close()
    report = json.loads(_status(home, "--json"))
    outcomes = {run["run_id"]: run["outcome"] for run in report["recent_runs"]}
    assert outcomes["run-a-failed"] == "failed"
    assert outcomes["run-b-partial"] == "partial"
    assert report["last_run"]["run_id"] == "run-c-killed" and report["last_run"]["outcome"] == "interrupted"
    datasets = {entry["dataset"]: entry for entry in report["datasets"]}
    events = datasets["policy_events"]
    assert events["last_load"]["status"] == "failed"
    assert events["last_load"]["validation"]["failed_rules"] == ["expect_column_values_to_be_in_set(column=category)"]
    assert events["last_load"]["validation"]["rules_passed"] == 22
    assert events["last_good_as_of"] == "2026-11-20"  # the session run's load before it
    assert events["quarantined_rows"] == {"quarantined": 0, "rejected": 1}
    assert datasets["prices"]["quarantined_rows"] == {"quarantined": 2, "rejected": 0}
    assert report["quarantine"]["held_rows"] == 3
    text = _status(home)
    assert "last run   run-c-killed  INTERRUPTED" in text and "never recorded its end" in text
    assert "run-a-failed  as of 2026-11-20  failed" in text and "run-b-partial  as of 2026-11-20  partial" in text
    assert "policy_events: failed rules in load policy_events-x1:" in text
    assert "landing file: /landing/policy_events/2026-11-20/policy_events-x1.csv" in text
    assert "quarantine: 3 row(s) held" in text and "gapwatch quarantine list" in text


def test_status_imports_neither_prefect_nor_great_expectations(warehouse: Home) -> None:
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from flows.cli import app\n"
        "result = CliRunner().invoke(app, ['status', '--json'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'great_expectations', 'dbt', 'httpx'})\n"
        "print(heavy)\n"
    )
    env = {**os.environ, "GAPWATCH_HOME": str(warehouse.path)}
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
    assert time.monotonic() - started < 20  # generous for 2 busy cores; about 1 s when idle


def test_status_checks_freshness_as_of_another_date(warehouse: Home) -> None:
    """A week after the build, prices and FX are a week behind: stale, with the missed sessions named."""
    report = json.loads(_status(warehouse, "--json", "--as-of", "2026-11-27"))
    assert report["freshness_as_of"] == "2026-11-27"
    fresh = {entry["dataset"]: entry["freshness"] for entry in report["datasets"]}
    assert fresh["prices"]["status"] == "stale" and fresh["prices"]["expected"] == "2026-11-27"
    assert "NVDA 2026-11-24" in fresh["prices"]["missing"]
    assert "NVDA 2026-11-26" not in fresh["prices"]["missing"]  # Thanksgiving: NYSE closed, not a gap
    assert fresh["fx_rates"]["status"] == "stale"


# --- one freshness rule; the same words and durations as the run ---------------------------------------------------


def test_dbt_source_freshness_says_what_status_says(tmp_path: Path, warehouse: Home) -> None:
    """One rule per dataset (flows/datasets/freshness.py): `dbt source freshness` (as of now) warns exactly for the
    datasets `gapwatch status --as-of <today>` calls stale or empty."""
    from flows.settings import load_settings
    from flows.warehouse.dbt import run_dbt

    home = _copy(warehouse, tmp_path / "home")
    with home:
        settings = load_settings()
        result = run_dbt(settings, "source", "freshness")
        verdicts = json.loads((settings.paths.dbt_target / "sources.json").read_text())["results"]
        today = settings.today().isoformat()
    dbt_says = {row["unique_id"].rsplit(".", 1)[1]: row["status"] for row in verdicts}
    report = json.loads(_status(home, "--json", "--as-of", today))
    status_says = {entry["dataset"]: entry["freshness"]["status"] for entry in report["datasets"]}
    assert set(dbt_says) == set(status_says), (dbt_says, result.output_tail)
    assert dbt_says == {name: "pass" if said == "fresh" else "warn" for name, said in status_says.items()}
    # both verdicts occur, so the comparison is not vacuous: CPI (Aug 2026 held, Sep released in October) is
    # stale by now, the curated policy calendar's stated coverage ended, fundamentals never go stale by date
    assert status_says["cpi"] == "stale" and status_says["policy_events"] == "stale"
    assert status_says["fundamentals"] == "fresh"


def test_the_curated_calendar_states_its_coverage_and_freshness_says_when_to_extend(
    tmp_path: Path, warehouse: Home
) -> None:
    from flows.datasets import registry
    from flows.datasets.policy_events import coverage_file, stated_coverage
    from flows.settings import ConfigError, load_settings

    settings = load_settings({"GAPWATCH_HOME": str(warehouse.path)})
    covered_through, _ = stated_coverage(settings)
    events = __import__("pandas").read_csv(settings.policy_events_file)
    assert covered_through is not None and str(covered_through) >= events["event_date"].max()

    def policy(as_of: date, **env: str) -> Any:
        connection = duckdb.connect(str(warehouse.path / "gapwatch.duckdb"), read_only=True)
        try:
            checked = registry.freshness(
                connection, load_settings({"GAPWATCH_HOME": str(warehouse.path), **env}), as_of=as_of
            )
        finally:
            connection.close()
        return next(row for row in checked if row.dataset == "policy_events")

    on_the_day = policy(covered_through)
    assert on_the_day.status == "fresh" and "extend" not in on_the_day.note
    after = policy(covered_through + timedelta(days=1))
    assert after.status == "stale" and after.stale_from == covered_through + timedelta(days=1)
    assert f"covers events through {covered_through}; extend flows/sources/curated/policy_events.csv and" in after.note
    # a calendar of one's own without a coverage statement: the note says so (no date to be stale from)
    own = tmp_path / "my_events.csv"
    shutil.copy(settings.policy_events_file, own)
    unstated = policy(covered_through + timedelta(days=1), GAPWATCH_POLICY_EVENTS_FILE=str(own))
    assert unstated.stale_from is None and f"add {coverage_file(own).name}" in unstated.note
    coverage_file(own).write_text("covered_through: 2026-13-01\n")
    with pytest.raises(ConfigError, match="covered_through must be a date"):
        policy(covered_through, GAPWATCH_POLICY_EVENTS_FILE=str(own))


def test_a_nothing_new_run_reads_the_same_in_status_and_its_duration_includes_start_up(
    tmp_path: Path, warehouse: Home
) -> None:
    from prefect.settings import get_current_settings

    home = _copy(warehouse, tmp_path / "home")
    env = {**os.environ, "GAPWATCH_HOME": str(home.path), "PREFECT_API_URL": str(get_current_settings().api.url)}
    launched = datetime.now(UTC).replace(tzinfo=None)
    completed = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--as-of", AS_OF.isoformat()],
        cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    summary_rows: dict[str, str] = {}
    for line in completed.stdout.splitlines():  # the dataset table comes first (freshness lines follow)
        if line.split():
            summary_rows.setdefault(line.split()[0], line)
    report = json.loads(_status(home, "--json"))
    text = _status(home)
    status_rows = {line.split()[0]: line for line in text.splitlines() if line.startswith("  ") and line.split()}
    for entry in report["datasets"]:
        assert entry["last_load"]["unchanged"] is True, (entry["dataset"], completed.stdout)
        assert "unchanged (validated when loaded)" in summary_rows[entry["dataset"]]
        assert "unchanged (validated when loaded)" in status_rows[entry["dataset"]], text
        assert "not run" not in status_rows[entry["dataset"]]
    run = report["last_run"]
    started = datetime.fromisoformat(run["started_at"].removesuffix("Z"))
    # the run starts when the command was invoked, before Prefect, dbt and GX were imported
    assert launched - timedelta(seconds=1) <= started <= launched + timedelta(seconds=1.5), (launched, started)
