"""The look-ahead property: the world as of D never changes when later data arrives.

For random dates D and k > 0: build the marts as of D, then continue the same warehouse to D + k (the daily
path, incremental), and compare both with the session warehouse (a full build as of AS_OF, later still).
Every mart row that was knowable at D -- ``known_at`` before the end of D in New York, after every market's
close of D -- must be identical in all three, apart from lineage columns (which load and run wrote it). A
value that changes later is a new row with its own ``known_at`` (a marked revision), never a rewrite.

Every mart must carry ``known_at``: a mart without it fails here, so a new mart cannot skip the rule.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from conftest import AS_OF, LINEAGE, Home
from flows.availability import end_of_day

pytestmark = pytest.mark.usefixtures("prefect_server")

FIRST_D = date(2025, 3, 3)  # a year into the sample history: every mart has rows by then
LAST_D = AS_OF - timedelta(days=30)


def _mart_columns(connection: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    marts: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in connection.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and table_catalog = current_database() order by table_name, ordinal_position"
    ).fetchall():
        marts.setdefault(table, []).append((column, kind))
    return marts


def _knowable_rows(path: Path, mart: str, columns: list[tuple[str, str]], cutoff: str) -> list[tuple]:
    """The mart's rows knowable before ``cutoff`` (UTC), lineage left out, doubles as 12 significant digits."""
    rendered = ", ".join(
        f"printf('%.12g', {name})" if kind in ("DOUBLE", "FLOAT") else name
        for name, kind in columns
        if name not in LINEAGE
    )
    connection = duckdb.connect(str(path), read_only=True)
    try:
        return connection.execute(
            f"select {rendered} from marts.{mart} where known_at < cast(? as timestamp)", [cutoff]
        ).fetchall()
    finally:
        connection.close()


def _differences(before: list[tuple], after: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Rows (with their multiplicity) found on one side only."""
    earlier, later = Counter(before), Counter(after)
    return sorted((earlier - later).elements(), key=repr), sorted((later - earlier).elements(), key=repr)


def _snapshot(home: Path, name: str) -> Path:
    target = home.parent / f"{home.name}-{name}.duckdb"
    shutil.copyfile(home / "gapwatch.duckdb", target)
    return target


@settings(
    max_examples=2,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # each example runs the pipeline twice: no shrinking
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    day=st.dates(min_value=FIRST_D, max_value=LAST_D).filter(lambda d: d.weekday() < 5),
    k=st.integers(min_value=1, max_value=45),
)
# a draw that once failed: the 2025-10-28 event became public after that day's close, so as of 2025-10-28 no
# member has a day 0 and its event-group rows are pending (day_zero_count 0, lineage null)
@example(day=date(2025, 10, 28), k=34)
def test_rows_knowable_at_d_never_change(day: date, k: int, warehouse, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    later_day = min(day + timedelta(days=k), AS_OF)
    home = Home(tmp_path_factory.mktemp("pit"))
    with home:
        first = home.run(as_of=day)
        assert first.success, first.errors
        as_of_d = _snapshot(home.path, "as-of-d")
        second = home.run(as_of=later_day)
        assert second.success, second.errors
    _compare_knowable(
        day,
        as_of_d,
        {
            f"continued to {later_day}": home.path / "gapwatch.duckdb",
            f"full build as of {AS_OF}": warehouse.path / "gapwatch.duckdb",
        },
    )


def _compare_knowable(day: date, as_of_d: Path, later_builds: dict[str, Path]) -> None:
    """Every mart row knowable at ``day`` in the build as of ``day`` equals the same rows in each later build."""
    cutoff = end_of_day(day).isoformat(sep=" ")
    connection = duckdb.connect(str(as_of_d), read_only=True)
    marts = _mart_columns(connection)
    connection.close()
    assert marts, "no marts built"
    missing = sorted(mart for mart, columns in marts.items() if "known_at" not in dict(columns))
    assert not missing, f"marts without known_at (when each row became knowable): {missing}"
    for mart, columns in marts.items():
        known = _knowable_rows(as_of_d, mart, columns, cutoff)
        for name, path in later_builds.items():
            only_at_d, only_later = _differences(known, _knowable_rows(path, mart, columns, cutoff))
            assert not only_at_d and not only_later, (
                f"{mart}: rows knowable at {day} differ between the build as of {day} and the {name}: "
                f"{len(only_at_d)} only as of {day} (e.g. {only_at_d[:2]}), {len(only_later)} only later "
                f"(e.g. {only_later[:2]}); columns {[c for c, _ in columns if c not in LINEAGE]}"
            )


LIVE_D = date(2026, 6, 30)  # a quarter end: the live world then files, restates and publishes after it


def test_a_live_backfill_knows_nothing_from_after_its_date(tmp_path: Path) -> None:
    """The live sources (loopback server answering as of AS_OF, with filings, restatements and documents
    after D) backfilled as of D, continued to a later date, and built fresh as of AS_OF: rows knowable at D
    agree, and no stored release became public after D."""
    from live_server import serve_recordings
    from test_live_pipeline import UNIVERSE, _live_home

    from flows.settings import load_settings

    settings = load_settings({"GAPWATCH_UNIVERSE": str(UNIVERSE), "GAPWATCH_SAMPLE_YEARS": "3"})
    later_day = date(2026, 8, 14)
    with serve_recordings(settings, as_of=AS_OF) as (base_url, _sources):
        backfill = _live_home(tmp_path / "backfill", base_url)
        with backfill:
            first = backfill.run(as_of=LIVE_D)
            assert first.success, first.errors
            cutoff = end_of_day(LIVE_D).isoformat(sep=" ")
            for table, column in (
                ("raw.fundamentals", "available_at"),
                ("raw.cpi", "available_at"),
                ("raw.policy_events", "available_at"),
                ("raw.sec_filings", "accepted_at"),
            ):
                late = backfill.query(f"select count(*) from {table} where {column} >= '{cutoff}'")
                assert late == [(0,)], f"{table}: rows public after {LIVE_D} stored by the backfill as of it"
            as_of_d = _snapshot(backfill.path, "as-of-d")
            second = backfill.run(as_of=later_day)
            assert second.success, second.errors
        fresh = _live_home(tmp_path / "fresh", base_url)
        with fresh:
            full = fresh.run(as_of=AS_OF)
            assert full.success, full.errors
    _compare_knowable(
        LIVE_D,
        as_of_d,
        {
            f"continued to {later_day}": backfill.path / "gapwatch.duckdb",
            f"full build as of {AS_OF}": fresh.path / "gapwatch.duckdb",
        },
    )
