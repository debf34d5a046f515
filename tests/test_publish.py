"""Serving BI readers and surviving crashes.

- A reader process queries the published marts in a loop while a full run writes: every query
  succeeds and sees the complete old or the complete new state.
- ``kill -9`` during a load and during the dbt build leaves the published marts exactly as they
  were, and the next run converges to the same marts as an uninterrupted run.
- The run's incremental publish leaves both published copies equal to the working marts
  (more cases, and ``kill -9`` inside a publish, in test_publish_incremental.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest
from test_publish_incremental import published_differences
from test_runs import MARTS, _contents, _copy_home

from conftest import Home
from flows.warehouse.publish import MartLayout, mart_layouts

READER = Path(__file__).parent / "reader_loop.py"
LATER = date(2026, 11, 24)


def _state(home: Home) -> list:
    from reader_loop import STATE_SQL

    return list(home.query(STATE_SQL, published=True)[0])


@pytest.fixture(scope="module")
def advanced(tmp_path_factory: pytest.TempPathFactory, warehouse: Home) -> dict:
    """The session warehouse advanced uninterrupted to LATER, with a reader querying throughout."""
    tmp = tmp_path_factory.mktemp("advanced")
    home = _copy_home(warehouse, tmp / "home")
    old_state = _state(home)
    stop, results = tmp / "stop", tmp / "reads.jsonl"
    published = home.path / "published" / "gapwatch.duckdb"
    reader = subprocess.Popen([sys.executable, str(READER), str(published), str(stop), str(results)])
    try:
        time.sleep(1.0)  # the reader is querying before the run starts
        with home:
            summary = home.run(as_of=LATER)
        time.sleep(1.0)  # ... and after it published
    finally:
        stop.touch()
        reader.wait(timeout=60)
    assert summary.success, summary.errors
    reads = [json.loads(line) for line in results.read_text().splitlines()]
    return {"home": home, "old_state": old_state, "reads": reads, "summary": summary}


def test_readers_never_see_a_lock_error_or_a_half_built_state(advanced: dict) -> None:
    new_state = _state(advanced["home"])
    old_state = advanced["old_state"]
    assert new_state != old_state and new_state[1] == LATER.isoformat()
    errors = [read["error"] for read in advanced["reads"] if not read["ok"]]
    states = [read["state"] for read in advanced["reads"] if read["ok"]]
    assert errors == []
    assert len(states) > 50
    assert all(state in (old_state, new_state) for state in states)
    assert states[0] == old_state and states[-1] == new_state


def test_an_incremental_build_runs_models_side_by_side(advanced: dict) -> None:
    """Only a build of every model runs one model at a time (test_pipeline); an incremental one keeps the
    profile's threads (dbt_project/profiles.yml)."""
    command = advanced["summary"].dbt.command
    assert command[1] == "build" and "--full-refresh" not in command
    assert "--threads" not in command


def test_the_incremental_publish_after_a_run_equals_the_warehouse(advanced: dict) -> None:
    """The run published incrementally (the session warehouse's copies were there): both published copies
    hold exactly the working marts, and the Parquet years without rebuilt rows are the previous files."""
    home = advanced["home"]
    connection = duckdb.connect(str(home.path / "gapwatch.duckdb"), read_only=True)
    try:
        assert published_differences(connection, home.path / "published") == {
            "published_copy": [],
            "parquet_views": [],
        }
        previous, newest = sorted((home.path / "published" / "parquet").iterdir())
        (published_through,) = connection.execute(
            f"select max(inputs_loaded_through) from read_parquet('{previous}/relative_performance/**/*.parquet')"
        ).fetchone()
        rebuilt = connection.execute(
            "select distinct 'year=' || year(trade_date) from marts.relative_performance "
            "where inputs_loaded_through > ?",
            [published_through],
        ).fetchall()
    finally:
        connection.close()
    years = sorted(path.name for path in (newest / "relative_performance").iterdir())
    rewritten = [
        year
        for year in years
        if (newest / "relative_performance" / year / "data_0.parquet").stat().st_ino
        != (previous / "relative_performance" / year / "data_0.parquet").stat().st_ino
    ]
    assert rewritten == sorted(year for (year,) in rebuilt) == ["year=2026"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _start_run(home: Home, **env: str) -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    environment = {
        **os.environ,
        "GAPWATCH_HOME": str(home.path),
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the test server: no second Prefect server
        **env,
    }
    gapwatch = Path(sys.executable).with_name("gapwatch")
    return subprocess.Popen(
        [str(gapwatch), "run", "--as-of", LATER.isoformat()],
        env=environment,
        start_new_session=True,  # its own process group: the kill takes dbt with it
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _kill_when(process: subprocess.Popen, ready, *, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, "the run ended before the crash point"
        assert time.monotonic() < deadline, "the crash point was never reached"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_kill_9_during_load_and_during_dbt_loses_nothing_and_converges(
    tmp_path: Path, warehouse: Home, advanced: dict
) -> None:
    home = _copy_home(warehouse, tmp_path / "home")
    published = home.path / "published" / "gapwatch.duckdb"
    before = _sha256(published)
    prices_before = _contents(home, "raw.prices")

    # 1. SIGKILL inside the prices load transaction (rows deleted, not yet re-inserted).
    paused = home.path / "fault-paused"
    run = _start_run(home, GAPWATCH_FAULT_PAUSE="load:prices")
    _kill_when(run, paused.exists)
    assert _sha256(published) == before
    assert _contents(home, "raw.prices") == prices_before  # the open transaction was rolled back

    # 2. SIGKILL while dbt is building the marts (dbt is a child in the same process group).
    log = home.path / "dbt_logs" / "dbt.log"
    log.unlink(missing_ok=True)
    run = _start_run(home)
    _kill_when(run, lambda: log.exists() and "model marts." in log.read_text(errors="replace"))
    assert _sha256(published) == before

    # 3. The next run converges to what the uninterrupted run published.
    with home:
        summary = home.run(as_of=LATER)
    assert summary.success, summary.errors
    reference = advanced["home"]
    for name in MARTS:
        assert _contents(
            home, f"marts.{name}", exclude=("load_id", "inputs_loaded_through"), published=True
        ) == _contents(reference, f"marts.{name}", exclude=("load_id", "inputs_loaded_through"), published=True), name


def test_publish_reads_keys_and_partitions_from_the_dbt_manifest(warehouse: Home, tmp_path: Path) -> None:
    """The manifest of a real build (the session warehouse) gives publishing the incremental marts' unique keys
    and the Parquet partition columns -- nothing in Python repeats them; without a manifest every mart is
    published whole and unpartitioned."""
    layouts = mart_layouts(warehouse.path / "dbt_target" / "manifest.json")
    assert layouts["relative_performance"] == MartLayout(("series_id", "trade_date"), "trade_date")
    assert layouts["execution_gap"] == MartLayout(("ticker", "fiscal_period_end", "known_at"), "fiscal_period_end")
    assert layouts["policy_event_impact"] == MartLayout(("event_id", "ticker"), None)
    assert layouts["policy_event_group_impact"] == MartLayout(("event_id", "group_name"), None)
    assert layouts["inflation"] == MartLayout(None, None)
    assert mart_layouts(tmp_path / "no-manifest.json") == {}
