"""Faults on the published copy: it is verified before it is trusted and after it is written.

Issue 14, item 1. Each case is a reproduction from the issue:

- a truncated ``published/gapwatch.duckdb`` is rebuilt whole (with a warning), both by ``publish`` and by
  a run that has nothing new to load (which used to say "marts up to date ... publish skipped");
- a foreign writer holding the published file read-write (edits in its WAL) makes the publish fail with
  one line naming the file and the holder, nothing published; once that writer is gone its orphaned WAL is
  moved aside, never replayed onto the new copy;
- ``kill -9`` inside a publish (fault points publish:duckdb, publish:parquet, publish:switch, parked with
  GAPWATCH_FAULT_PAUSE and killed with SIGKILL) leaves the DuckDB copy and the Parquet views switched
  together or says which one is behind in ``gapwatch status``; the next publish removes the dead
  process's staging files and converges.

Small marts are built directly in a temporary warehouse (test_publish_incremental.py's helpers) except for
the two pipeline cases, which run the real flow on a copy of the session warehouse.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from test_publish_incremental import (
    BUILDS,
    _assert_published_equals_warehouse,
    _create_marts,
    _kill_publish_at,
    _new_build,
    _warehouse,
    published_differences,
)
from test_runs import _copy_home

from conftest import Home
from flows.settings import load_settings
from flows.warehouse import publish as publish_module
from flows.warehouse.database import Warehouse
from flows.warehouse.publish import publish, verify_published

FOREIGN_WRITER = """
import sys, time, duckdb
connection = duckdb.connect(sys.argv[1])  # read-write: holds DuckDB's lock; its edits go to the .wal
connection.execute("delete from marts.inflation where year(month_date) = 2026")
connection.execute("update marts.execution_gap set ticker = 'HACKED' where ticker = 'AAA'")
print("ready", flush=True)
time.sleep(600)
"""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def marts(tmp_path: Path):  # type: ignore[no-untyped-def]
    marts = _warehouse(tmp_path / "home")
    _create_marts(marts)
    publish(marts)
    yield marts
    marts.close()


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as file:
        file.truncate(size)


def _start_foreign_writer(path: Path) -> subprocess.Popen:
    writer = subprocess.Popen([sys.executable, "-c", FOREIGN_WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
    return writer


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def _published_state(path: Path) -> tuple[int, int]:
    """What a new read-only reader sees: 2026 inflation rows, HACKED execution-gap rows."""
    connection = duckdb.connect(str(path), read_only=True)
    try:
        return connection.execute(
            "select (select count(*) from marts.inflation where year(month_date) = 2026), "
            "(select count(*) from marts.execution_gap where ticker = 'HACKED')"
        ).fetchone()
    finally:
        connection.close()


def test_a_truncated_published_file_is_rebuilt_whole_with_a_warning(
    marts: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    published = marts.settings.paths.published_database
    _truncate(published, published.stat().st_size // 2)
    _new_build(marts, BUILDS[1], day="2026-11-23")  # an incremental publish would start from the damaged file
    with caplog.at_level(logging.WARNING, logger="flows.warehouse.publish"):
        publish(marts)
    _assert_published_equals_warehouse(marts)
    (warning,) = [record.getMessage() for record in caplog.records if "rebuilding it whole" in record.getMessage()]
    assert warning.startswith(f"The published copy {published} is unreadable (IO Error: ")


def test_a_copy_modified_outside_gapwatch_is_rebuilt_whole(marts: Warehouse, caplog: pytest.LogCaptureFixture) -> None:
    published = marts.settings.paths.published_database
    connection = duckdb.connect(str(published))  # a foreign writer that commits and checkpoints
    connection.execute("update marts.inflation set headline_yoy_pct = 9.9 where month_date = '2026-01-01'")
    connection.close()
    with caplog.at_level(logging.WARNING, logger="flows.warehouse.publish"):
        publish(marts)
    _assert_published_equals_warehouse(marts)
    assert any("modified outside gapwatch; rebuilding it whole" in record.getMessage() for record in caplog.records)


def _hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the file of each database mart_signatures hashes from now on (its folder and name)."""
    hashed: list[str] = []
    original = publish_module.mart_signatures

    def recording(cursor: duckdb.DuckDBPyConnection, catalog: str | None = None) -> dict[str, list]:
        (path,) = cursor.execute(
            "select path from duckdb_databases() where database_name = coalesce(?, current_database())", [catalog]
        ).fetchone()
        hashed.append("/".join(Path(path).parts[-2:]))
        return original(cursor, catalog)

    monkeypatch.setattr(publish_module, "mart_signatures", recording)
    return hashed


def test_an_unchanged_published_copy_is_trusted_a_changed_one_is_hashed_again(
    marts: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run with nothing new verifies the published copy against the warehouse. Its content was hashed when it
    was published; while the file is the one recorded then (inode, size, modification time), its stamp stands for
    its content and only the warehouse is hashed. Any write to the file makes the next check hash it again."""
    published = marts.settings.paths.published_database
    hashed = _hashed(monkeypatch)
    assert verify_published(marts) is None
    assert hashed == ["home/gapwatch.duckdb"]  # the warehouse only: the copy is the file publish verified
    # a foreign writer commits and checkpoints a change: the file changed, so it is hashed, and refused
    connection = duckdb.connect(str(published))
    connection.execute("update marts.inflation set headline_yoy_pct = 9.9 where month_date = '2026-01-01'")
    connection.close()
    hashed.clear()
    changed = verify_published(marts)
    assert changed == f"{published} does not hold what its publish stamp says: modified outside gapwatch"
    assert hashed == ["published/gapwatch.duckdb"]
    publish(marts)  # rebuilt whole, and recorded again
    hashed.clear()
    assert verify_published(marts) is None and hashed == ["home/gapwatch.duckdb"]
    # a copy that verifies but is not the recorded file (restored by hand, a copied home): hashed once, then trusted
    shutil.copyfile(published, published.with_name("copy.duckdb"))
    os.replace(published.with_name("copy.duckdb"), published)
    hashed.clear()
    assert verify_published(marts) is None
    assert hashed == ["published/gapwatch.duckdb", "home/gapwatch.duckdb"]
    hashed.clear()
    assert verify_published(marts) is None and hashed == ["home/gapwatch.duckdb"]
    # publish starts from a copy of the published file: not hashed again while it is the verified file
    staging = f"published/.gapwatch.duckdb.{os.getpid()}.tmp"
    hashed.clear()
    publish(marts)
    assert hashed == ["home/gapwatch.duckdb", staging]  # the warehouse, and the result before the switch
    os.utime(published)  # touched: no longer provably the verified file
    hashed.clear()
    publish(marts)
    assert hashed == ["home/gapwatch.duckdb", staging, staging]  # the copy it starts from is hashed first
    _assert_published_equals_warehouse(marts)


def test_a_foreign_writer_is_refused_and_its_wal_is_never_replayed_onto_the_new_copy(
    marts: Warehouse, caplog: pytest.LogCaptureFixture
) -> None:
    published = marts.settings.paths.published_database
    wal = published.with_name("gapwatch.duckdb.wal")
    _new_build(marts, BUILDS[1], day="2026-11-23")
    writer = _start_foreign_writer(published)
    try:
        assert wal.exists()
        before = _sha256(published)
        # 1. while the writer holds the file: refused, one line naming the file and the holder, nothing published
        with pytest.raises(Exception, match="held open for writing") as refused:
            publish(marts)
        message = str(refused.value)
        assert "\n" not in message and str(published) in message and f"(PID {writer.pid})" in message
        assert "rerun `gapwatch run`" in message
        assert _sha256(published) == before
        assert sorted(path.name for path in published.parent.iterdir() if path.name.startswith(".")) == []
    finally:
        _stop(writer)
    # 2. the writer is gone, its WAL (committed edits, never checkpointed) is left: moved aside, not replayed
    assert wal.exists()
    with caplog.at_level(logging.WARNING, logger="flows.warehouse.publish"):
        publish(marts)
    assert not wal.exists()
    assert [path.name for path in published.parent.glob("gapwatch.duckdb.wal.foreign-*")] != []
    _assert_published_equals_warehouse(marts)
    assert _published_state(published) == (8, 0)  # Jan..Aug 2026 inflation rows, no HACKED row
    assert any("did not write" in record.getMessage() for record in caplog.records)


def test_kill_9_in_the_parquet_step_switches_neither_copy_and_the_next_publish_removes_the_orphans(
    marts: Warehouse,
) -> None:
    home = marts.settings.paths.home
    published = marts.settings.paths.published_dir
    _new_build(marts, BUILDS[1], day="2026-11-23")
    marts.close()
    database, views = _sha256(published / "gapwatch.duckdb"), _sha256(published / "marts_parquet.duckdb")
    _kill_publish_at(home, "publish:duckdb")
    _kill_publish_at(home, "publish:parquet")
    # readers see the old DuckDB copy and the old views: neither switched without the other
    assert _sha256(published / "gapwatch.duckdb") == database
    assert _sha256(published / "marts_parquet.duckdb") == views
    orphans = sorted(path.name for path in published.glob(".*.tmp*"))
    assert orphans and all(name.startswith(".gapwatch.duckdb.") for name in orphans)
    marts = Warehouse(load_settings({"GAPWATCH_HOME": str(home)}))
    try:
        publish(marts)
        _assert_published_equals_warehouse(marts)
    finally:
        marts.close()
    assert sorted(path.name for path in published.glob(".*.tmp*")) == []  # the dead publishes' staging files


def test_kill_9_between_the_two_switches_is_shown_by_status_and_converges(marts: Warehouse) -> None:
    from flows.ops.status import collect, render_text

    home = marts.settings.paths.home
    _new_build(marts, BUILDS[1], day="2026-11-23")
    marts.close()
    _kill_publish_at(home, "publish:switch")  # the new DuckDB copy is in place, the views not yet
    settings = load_settings({"GAPWATCH_HOME": str(home)})
    report = collect(settings)
    assert report["published"]["behind"] == "parquet_views"
    assert report["published"]["publish_id"] > report["published"]["parquet_publish_id"]
    text = render_text(report)
    assert "the Parquet views are behind" in text and "the next `gapwatch run` republishes both" in text
    marts = Warehouse(settings)
    try:
        publish(marts)
        _assert_published_equals_warehouse(marts)
    finally:
        marts.close()
    report = collect(settings)
    assert report["published"]["behind"] is None and report["published"]["message"] is None


# --- the real pipeline: a run with nothing new verifies the published copy instead of trusting it ----------


pipeline = pytest.mark.usefixtures("prefect_server")


def _differences(home: Home) -> dict[str, list]:
    connection = duckdb.connect(str(home.path / "gapwatch.duckdb"), read_only=True)
    try:
        return published_differences(connection, home.path / "published")
    finally:
        connection.close()


@pipeline
def test_a_run_with_nothing_new_rebuilds_a_truncated_published_file(tmp_path: Path, warehouse: Home) -> None:
    """The issue's reproduction: truncate the published file to 300 kB, run again as of the same day."""
    home = _copy_home(warehouse, tmp_path / "home")
    published = home.path / "published" / "gapwatch.duckdb"
    _truncate(published, 300_000)
    with home:
        summary = home.run()
    assert summary.success, summary.errors
    assert not summary.up_to_date
    (warning,) = [w for w in summary.warnings if "rebuilding it whole" in w]
    assert warning.startswith(f"The published copy {published} is unreadable (IO Error: ")
    assert _differences(home)["published_copy"] == []  # (the Parquet views' rows are checked by the next run)
    with home:  # now it verifies: the next run trusts it
        assert home.run().up_to_date


@pipeline
def test_a_run_refuses_to_publish_over_a_foreign_writer(tmp_path: Path, warehouse: Home) -> None:
    home = _copy_home(warehouse, tmp_path / "home")
    published = home.path / "published" / "gapwatch.duckdb"
    writer = _start_foreign_writer(published)
    try:
        with home:
            summary = home.run()
        assert not summary.success
        assert len(summary.errors) == 1 and "\n" not in summary.errors[0]
        assert summary.errors[0].startswith(f"Not published: {published} is held open for writing by ")
        assert f"(PID {writer.pid})" in summary.errors[0]
    finally:
        _stop(writer)
    assert os.path.exists(f"{published}.wal")  # the writer's, left alone; the next publish moves it aside
