"""The event study (marts.policy_event_impact) builds incrementally and equals a full rebuild.

A copy of the session warehouse gets, in one load: a price revised inside one event's estimation
window, a new event inside the price history, a new event on the last trade date (its windows still
open), a revised event title and an event deleted upstream; an incremental ``dbt build`` follows.
Then the next trading day is loaded and built incrementally again. A copy of the final raw data is
rebuilt with ``--full-refresh``: the event-study tables (the window days and both marts) must match it bit
for bit (lineage aside),
and each incremental build must have recomputed exactly the events its loads touched.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import date
from pathlib import Path

import duckdb

from conftest import AS_OF, Home, table_rows
from flows.settings import load_settings
from flows.warehouse import dbt as dbt_runner

# the incremental event-study tables (the abnormal returns, a view, are computed from these)
EVENT_TABLES = (
    "intermediate.int_policy_event_window_days",
    "intermediate.int_policy_event_market_models",
    "intermediate.int_policy_event_residual_correlations",
    "marts.policy_event_impact",
    "marts.policy_event_group_impact",
)
NEW_DAY = date(2026, 11, 23)  # the Monday after AS_OF: a session in New York and Hong Kong
NEW_EVENT = "test-2024-03-04-new-rule"
NEW_EVENT_DATE = date(2024, 3, 4)
OPEN_EVENT = "test-open-window"


def _query(database: Path, sql: str, parameters: list | None = None) -> list[tuple]:
    connection = duckdb.connect(str(database), read_only=True)
    try:
        return connection.execute(sql, parameters or []).fetchall()
    finally:
        connection.close()


def _execute(database: Path, *statements: tuple[str, list]) -> None:
    connection = duckdb.connect(str(database))
    try:
        for sql, parameters in statements:
            connection.execute(sql, parameters)
    finally:
        connection.close()


def _rows_by_event(database: Path) -> dict[str, list[tuple]]:
    """policy_event_impact's rows (every column, lineage and change tracking included) per event."""
    rows: dict[str, list[tuple]] = defaultdict(list)
    for row in _query(database, "select * from marts.policy_event_impact order by event_id, ticker"):
        rows[row[0]].append(row)
    return dict(rows)


def _stamps_by_event(database: Path, table: str, stamp: str) -> dict[str, list]:
    """Each event's change-tracking values in ``table``, in row order."""
    rows = _query(database, f"select event_id, list({stamp} order by {stamp}) from {table} group by event_id")
    return dict(rows)


def _column(database: Path, name: str) -> int:
    return [row[0] for row in _query(database, "describe marts.policy_event_impact")].index(name)


def _build(home: Path, *, full_refresh: bool = False) -> None:
    result = dbt_runner.build(load_settings({"GAPWATCH_HOME": str(home)}), full_refresh=full_refresh)
    assert result.success, result.output_tail


def test_event_study_recomputes_only_the_events_its_loads_touch_and_equals_a_full_rebuild(
    tmp_path: Path, warehouse: Home
) -> None:
    incremental, full = tmp_path / "incremental", tmp_path / "full"
    shutil.copytree(warehouse.path, incremental, ignore=shutil.ignore_patterns("gapwatch.lock"))
    database = incremental / "gapwatch.duckdb"
    before = _rows_by_event(database)
    ticker, event_date = _column(database, "ticker"), _column(database, "event_date")
    tickers = sorted({row[ticker] for rows in before.values() for row in rows})
    assert len(tickers) == 19 and all(len(rows) == len(tickers) for rows in before.values())

    # the revision: one listing's price on the last estimation day (day -30) of the middle event
    window_ends = dict(
        _query(database, "select event_id, max(window_end_date) from marts.policy_event_impact group by 1")
    )
    assert all(window_ends.values()), "every event of the session warehouse has complete windows"
    events = sorted(before, key=lambda event: (before[event][0][event_date], event))
    revised_event, revised_ticker = events[len(events) // 2], "NVDA"
    ((revised_date, alpha_before),) = _query(
        database,
        "select estimation_end_date, alpha from marts.policy_event_impact where event_id = ? and ticker = ?",
        [revised_event, revised_ticker],
    )
    # events whose every window ended before the revised date: untouched by it
    untouched = [event for event in events if window_ends[event] < revised_date]
    assert len(untouched) >= 4
    deleted_event, retitled, kept = untouched[0], untouched[1], untouched[2:]
    _execute(
        database,
        (
            "update raw.prices set open = open * 1.01, high = high * 1.01, low = low * 1.01, close = close * 1.01, "
            "adj_close = adj_close * 1.01, loaded_at = now()::timestamp, load_id = 'late-revision' "
            "where ticker = ? and trade_date = ?",
            [revised_ticker, revised_date],
        ),
        (
            "insert into raw.policy_events (event_id, event_date, category, region, title, source_url, source, "
            "available_at, load_id, loaded_at) values "
            "(?, ?, 'regulation', 'CN', 'A late-added rule', 'https://example.org/rule', 'curated', "
            "?::date + interval 21 hour, 'late-event', now()::timestamp), "
            "(?, ?, 'export_control', 'US-CN', 'A rule on the last trade date', 'https://example.org/open', "
            "'curated', ?::date + interval 14 hour, 'late-event', now()::timestamp)",
            # the open event is public at 09:00 New York: after the Hong Kong close, before New York's
            [NEW_EVENT, NEW_EVENT_DATE, NEW_EVENT_DATE, OPEN_EVENT, AS_OF, AS_OF],
        ),
        (
            "update raw.policy_events set title = title || ' (revised)', loaded_at = now()::timestamp, "
            "load_id = 'late-revision' where event_id = ?",
            [retitled],
        ),
        ("delete from raw.policy_events where event_id = ?", [deleted_event]),
    )

    models_before = _stamps_by_event(database, "intermediate.int_policy_event_market_models", "inputs_loaded_through")
    correlations_before = _stamps_by_event(
        database, "intermediate.int_policy_event_residual_correlations", "impact_rows_digest"
    )
    _build(incremental)
    # each incremental model replaced its keys' rows with a semi-join delete (macros/delete_insert.sql), not
    # dbt-duckdb's `delete ... using`, a join that pairs every stored row with every new row of its key: the
    # window days of one event are 1.28M rows at 5,000 tickers
    deletes = [
        path.read_text()
        for path in (incremental / "dbt_target" / "run").rglob("*.sql")
        if "delete from" in path.read_text()
    ]
    assert any("int_policy_event_window_days" in statement for statement in deletes)
    assert all("where exists" in statement and " using " not in statement for statement in deletes)
    after = _rows_by_event(database)
    assert deleted_event not in after
    assert set(after) == set(before) - {deleted_event} | {NEW_EVENT, OPEN_EVENT}
    assert all(len(rows) == len(tickers) for rows in after.values())
    # an event whose day 0 appears or vanishes on a listing also recomputes the events whose estimation or
    # CAR windows reach its CAR window there (they leave out / flag its days): the deleted and the new event
    number = _column(database, "event_trading_day_number")
    changed = [row for row in before[deleted_event]] + [row for row in after[NEW_EVENT]]
    neighbours = {
        event
        for event in kept
        for row in before[event]
        for other in changed
        if row[ticker] == other[ticker]
        and None not in (row[number], other[number])
        and row[number] - 250 <= other[number] + 5
        and row[number] + 6 >= other[number] - 5
    }
    kept = [event for event in kept if event not in neighbours]
    assert kept, "some events are far from every change"
    # untouched events keep their rows as they were (the same build stamps); every other one was recomputed
    assert all(after[event] == before[event] for event in kept)
    stamp = _column(database, "inputs_loaded_through")
    rebuilt = {
        event
        for event, rows in after.items()
        if event not in before or [row[stamp] for row in rows] != [row[stamp] for row in before[event]]
    }
    assert rebuilt == set(after) - set(kept)
    # the market models follow the same rule (tables read for a few events: a view's CTEs were computed for
    # every event before the filter applied); the residual correlations follow the group mart's digests
    models_after = _stamps_by_event(database, "intermediate.int_policy_event_market_models", "inputs_loaded_through")
    assert set(models_after) == set(after)
    assert {event for event in after if models_after[event] != models_before.get(event)} == rebuilt
    correlations_after = _stamps_by_event(
        database, "intermediate.int_policy_event_residual_correlations", "impact_rows_digest"
    )
    assert set(correlations_after) == set(after)  # a row per event and group, with a pair or not
    assert {event for event in after if correlations_after[event] != correlations_before.get(event)} <= rebuilt
    assert {retitled, revised_event, NEW_EVENT, OPEN_EVENT} <= rebuilt
    titles = _query(database, "select distinct title from marts.policy_event_impact where event_id = ?", [retitled])
    assert len(titles) == 1 and titles[0][0].endswith(" (revised)")
    ((alpha_after,),) = _query(
        database,
        "select alpha from marts.policy_event_impact where event_id = ? and ticker = ?",
        [revised_event, revised_ticker],
    )
    assert alpha_after != alpha_before
    # the event on the last trade date: day 0 traded in New York (day +1 not yet), not yet in Hong Kong (it
    # closed before the event was public) -> windows open, CARs null, not known yet
    assert set(
        _query(
            database,
            "select distinct event_trade_date, window_end_date, car_m1_p1_pct, known_at "
            "from marts.policy_event_impact where event_id = ?",
            [OPEN_EVENT],
        )
    ) == {(AS_OF, None, None, None), (None, None, None, None)}

    # the next trading day: only the event with open windows is recomputed, and gets its day +1
    _execute(
        database,
        (
            "insert into raw.prices select * replace (?::date as trade_date, open * 1.004 as open, "
            "high * 1.004 as high, low * 1.004 as low, close * 1.004 as close, adj_close * 1.004 as adj_close, "
            "'next-day' as load_id, now()::timestamp as loaded_at) from raw.prices where trade_date = ?",
            [NEW_DAY, AS_OF],
        ),
        (
            "insert into raw.fx_rates select * replace (?::date as rate_date, 'next-day' as load_id, "
            "now()::timestamp as loaded_at) from raw.fx_rates where rate_date = ?",
            [NEW_DAY, AS_OF],
        ),
    )
    _build(incremental)
    next_day = _rows_by_event(database)
    assert all(next_day[event] == after[event] for event in after if event != OPEN_EVENT)
    assert next_day[OPEN_EVENT] != after[OPEN_EVENT]
    open_rows = _query(
        database,
        "select count(*), count(car_m1_p1_pct), count(window_end_date), count(known_at), "
        "count(*) filter (where ticker like '%.HK') from marts.policy_event_impact where event_id = ?",
        [OPEN_EVENT],
    )
    # New York: day +1 traded -> [-1, +1] complete; Hong Kong: day 0 is the new day, day +1 not yet
    hong_kong = sum(ticker.endswith(".HK") for ticker in tickers)
    assert open_rows == [(len(tickers), len(tickers) - hong_kong, 0, 0, hong_kong)]

    shutil.copytree(incremental, full)
    _build(full, full_refresh=True)
    for table in EVENT_TABLES:
        assert table_rows(database, table) == table_rows(full / "gapwatch.duckdb", table), table
