"""Tests that are about running the pipeline: idempotency, --as-of increments, backfill, failures."""

from __future__ import annotations

import hashlib
import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import AS_OF, Home
from flows.calendars import sessions
from flows.cli import app
from flows.datasets import registry
from flows.validation import worker as gx_worker

pytestmark = pytest.mark.usefixtures("prefect_server")  # these tests run Prefect flows

MARTS = ("relative_performance", "execution_gap", "policy_event_impact", "policy_event_group_impact", "inflation")
RAW = tuple(registry.names())


def _contents(home: Home, table: str, *, exclude: tuple[str, ...] = (), published: bool = False) -> list[tuple]:
    """All rows of a table as a sorted list (order-independent comparison)."""
    columns = [row[0] for row in home.query(f"describe {table}", published=published) if row[0] not in exclude]
    select = ", ".join(f'"{c}"' for c in columns)
    return sorted(home.query(f"select {select} from {table}", published=published), key=repr)


def _copy_home(source: Home, target: Path, **extra: str) -> Home:
    shutil.copytree(source.path, target, ignore=shutil.ignore_patterns("gapwatch.lock"))
    return Home(target, **extra)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rerun_is_idempotent_and_as_of_adds_only_new_days(tmp_path: Path, warehouse: Home) -> None:
    earlier = date(2026, 11, 13)
    home = Home(tmp_path / "home")
    with home:
        first = home.run(as_of=earlier)
        assert first.success, first.errors
        raw_before = {name: _contents(home, f"raw.{name}") for name in RAW}
        marts_before = {name: _contents(home, f"marts.{name}", published=True) for name in MARTS}

        gx_worker.stop()  # (one a previous run of this process started)
        again = home.run(as_of=earlier)
        assert again.success, again.errors
        # no session due, nothing to validate: no GX worker was started (its import would slow this run down)
        assert gx_worker._worker is None
        assert {load.dataset: load.rows_loaded for load in again.loads} == dict.fromkeys(RAW, 0)
        # nothing new: every batch is found unchanged (not re-validated) and dbt and publish are skipped
        assert all(load.unchanged for load in again.loads)
        assert again.up_to_date and again.dbt is None
        # Byte-for-byte the same rows, load ids included: unchanged rows are not rewritten.
        assert {name: _contents(home, f"raw.{name}") for name in RAW} == raw_before
        assert {name: _contents(home, f"marts.{name}", published=True) for name in MARTS} == marts_before

        later = home.run(as_of=AS_OF)
        assert later.success, later.errors
        assert gx_worker._worker is not None  # new sessions were due: the worker imported GX while they extracted
        assert not later.up_to_date and later.dbt is not None and later.dbt.success
        loaded = {load.dataset: load.rows_loaded for load in later.loads}
        new_sessions = {
            exchange: len(sessions(exchange, date(2026, 11, 14), AS_OF)) for exchange in ("XNYS", "XNAS", "XHKG")
        }
        expected_prices = sum(
            count * new_sessions[exchange]
            for exchange, count in home.query("select exchange, count(*) from raw.securities group by exchange")
        )
        assert loaded["prices"] == expected_prices == 25 * 5  # 25 tickers (RSP and VT: market proxies)
        assert loaded["fx_rates"] == 3 * 5
        assert home.query("select count(*) - count(distinct (ticker, trade_date)) from raw.prices") == [(0,)]

        # The incremental warehouse equals the one built in one go as of the same date.
        for name in RAW:
            assert _contents(home, f"raw.{name}", exclude=("load_id", "loaded_at")) == _contents(
                warehouse, f"raw.{name}", exclude=("load_id", "loaded_at")
            ), name
        for name in MARTS:
            assert _contents(
                home, f"marts.{name}", exclude=("load_id", "inputs_loaded_through"), published=True
            ) == _contents(warehouse, f"marts.{name}", exclude=("load_id", "inputs_loaded_through"), published=True), (
                name
            )


def test_the_cli_starts_the_gx_worker_only_for_a_run_that_will_validate(tmp_path: Path, warehouse: Home) -> None:
    """Decided before Prefect is imported, from the warehouse opened read-only (the rule the flow applies too:
    flows.datasets.registry.session_due)."""
    from flows.cli import _will_validate

    with warehouse:
        assert not _will_validate({"as_of": AS_OF})  # prices are fresh as of AS_OF: nothing new is due
        assert _will_validate({"as_of": date(2026, 11, 23)})  # the next session
        assert _will_validate({"as_of": AS_OF, "start": date(2026, 11, 2)})  # a backfill reloads a range
        assert _will_validate({"as_of": AS_OF, "replay_load_id": "prices-20261120T233000-1a2b3c"})
    with Home(tmp_path / "empty"):
        assert _will_validate({"as_of": AS_OF})  # no warehouse yet: the first run loads everything


def test_backfill_restores_a_lost_range(tmp_path: Path, warehouse: Home) -> None:
    home = _copy_home(warehouse, tmp_path / "home")
    with home:
        expected = _contents(home, "raw.prices", exclude=("load_id", "loaded_at"))
        import duckdb

        connection = duckdb.connect(str(home.path / "gapwatch.duckdb"))
        connection.execute("delete from raw.prices where trade_date between '2025-03-03' and '2025-03-31'")
        connection.close()
        result = CliRunner().invoke(app, ["backfill", "--start", "2025-03-01", "--end", AS_OF.isoformat()])
        assert result.exit_code == 0, result.output
        assert "run succeeded" in result.output
        assert _contents(home, "raw.prices", exclude=("load_id", "loaded_at")) == expected


def test_failing_validation_loads_nothing_and_keeps_the_published_marts(tmp_path: Path, warehouse: Home) -> None:
    bad_calendar = tmp_path / "policy_events.csv"
    good = (Path(__file__).parents[1] / "flows/sources/curated/policy_events.csv").read_text()
    bad_calendar.write_text(
        good + "2026-01-05-bogus-event,2026-01-05,rumour,US,Not a known category,https://example.org/\n"
    )
    home = _copy_home(warehouse, tmp_path / "home", GAPWATCH_POLICY_EVENTS_FILE=str(bad_calendar))
    published = home.path / "published/gapwatch.duckdb"
    published_hash = _sha256(published)
    with home:
        events_before = _contents(home, "raw.policy_events")
        summary = home.run()
    assert not summary.success
    message = "\n".join(summary.errors)
    assert "Validation failed for dataset 'policy_events'" in message
    assert "expect_column_values_to_be_in_set(column=category" in message
    assert "2026-01-05-bogus-event" in message and "rumour" in message
    failed = [load for load in summary.loads if load.dataset == "policy_events"][0]
    assert failed.status == "failed" and failed.load_id in message
    assert failed.landing_path is not None and failed.landing_path.exists()
    assert "2026-01-05-bogus-event" in failed.landing_path.read_text()
    # Nothing of the bad batch loaded; the marts were neither rebuilt nor republished.
    assert _contents(home, "raw.policy_events") == events_before
    assert _sha256(published) == published_hash
    assert summary.dbt is None
    audit = home.query(
        f"select status, validation_success, expectations_failed from audit.loads where load_id = '{failed.load_id}'"
    )
    assert audit == [("failed", False, 1)]
    assert home.query("select status from audit.runs order by started_at desc limit 1") == [("failed",)]


def test_a_second_run_fails_fast_while_one_holds_the_lock(tmp_path: Path) -> None:
    import fcntl

    home = Home(tmp_path / "home")
    home.path.mkdir()
    with open(home.path / "gapwatch.lock", "w") as holder:
        holder.write("pid 4242 since test")
        holder.flush()
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with home:
            summary = home.run()
    assert not summary.success
    assert "Another gapwatch run is using" in summary.errors[0] and "pid 4242" in summary.errors[0]
    assert not (home.path / "gapwatch.duckdb").exists()


def test_a_run_asked_to_wait_takes_the_lock_once_it_is_free(tmp_path: Path) -> None:
    import fcntl
    import threading
    import time

    from flows.warehouse.lock import PipelineBusy, RunLock

    lock_path = tmp_path / "gapwatch.lock"
    holder = open(lock_path, "w")
    holder.write("pid 4242 since test")
    holder.flush()
    fcntl.flock(holder, fcntl.LOCK_EX)
    with pytest.raises(PipelineBusy, match="pid 4242.*after waiting 1 s"):
        with RunLock(lock_path, wait_seconds=1):
            pass
    threading.Timer(1.5, lambda: (fcntl.flock(holder, fcntl.LOCK_UN), holder.close())).start()
    started = time.monotonic()
    with RunLock(lock_path, wait_seconds=30):
        assert time.monotonic() - started >= 1.0
        assert f"pid {__import__('os').getpid()}" in lock_path.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--as-of", "2026-13-01"], "--as-of must be a date like"),
        (["run", "--source", "csv"], "--source must be 'sample' or 'live'"),
        (["backfill", "--start", "2026-02-01", "--end", "2026-01-01"], "is after --end"),
    ],
)
def test_cli_rejects_bad_arguments(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_help_describes_the_commands() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for command in ("run", "backfill", "replay", "serve", "status", "docs", "report", "quarantine"):
        assert command in top.output
    run_help = runner.invoke(app, ["run", "--help"])
    for option in ("--as-of", "--source", "--wait", "--quiet", "--skip-closed-markets"):
        assert option in run_help.output, option
    backfill_help = runner.invoke(app, ["backfill", "--help"])
    assert "--start" in backfill_help.output and "--end" in backfill_help.output and "--quiet" in backfill_help.output
    assert "--quiet" in runner.invoke(app, ["replay", "--help"]).output
    assert "--json" in runner.invoke(app, ["status", "--help"]).output
    docs_help = runner.invoke(app, ["docs", "--help"]).output
    assert "--port" in docs_help and "--no-serve" in docs_help


def test_status_reports_runs_and_datasets(warehouse: Home) -> None:
    with warehouse:
        result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert f"last run   {warehouse.summary.run_id}  SUCCEEDED" in result.output  # type: ignore[attr-defined]
    for dataset in RAW:
        assert f"  {dataset} " in result.output
    assert "published marts (" in result.output and "marts.relative_performance" in result.output
