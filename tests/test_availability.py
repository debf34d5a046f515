"""When rows became public: the ``available_at`` rules (pandas and SQL agree), the backfill of an older warehouse,
the trading sessions the marts compare them with, and every stored row of the session warehouse carrying one."""

from __future__ import annotations

from datetime import date, datetime, time

import duckdb
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import calendars
from flows.availability import (
    CPI_RELEASE_TIME,
    LocalTime,
    after_close,
    cpi_released_at,
    end_of_day,
    event_available_at,
    federal_register_public_at,
    is_public_by,
    public_by,
    public_cutoff,
)
from flows.datasets import registry
from flows.warehouse import schema

RULES = [LocalTime("day"), LocalTime("day", CPI_RELEASE_TIME), LocalTime("day", time(16, 0), "Asia/Hong_Kong")]


def test_after_close_and_cpi_rules_in_utc() -> None:
    frame = pd.DataFrame({"day": [date(2026, 1, 5), date(2026, 7, 1), None]})
    after_close = LocalTime("day").stamps(frame).tolist()
    assert after_close[:2] == [pd.Timestamp("2026-01-05 21:00"), pd.Timestamp("2026-07-01 20:00")]  # EST, EDT
    assert pd.isna(after_close[2])
    assert LocalTime("day", CPI_RELEASE_TIME).stamps(frame).tolist()[:2] == [
        pd.Timestamp("2026-01-05 13:30"),
        pd.Timestamp("2026-07-01 12:30"),
    ]
    assert end_of_day(date(2026, 7, 1)) == datetime(2026, 7, 2, 4, 0)  # midnight New York (EDT) in UTC


@settings(max_examples=60, deadline=None)
@given(day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)), rule=st.sampled_from(RULES))
def test_the_sql_rendering_equals_the_pandas_rule(day: date, rule: LocalTime) -> None:
    """The backfill of an old warehouse (SQL) and every extraction (pandas) give the same instant, DST included."""
    (in_sql,) = duckdb.sql(f"select {rule.sql()} from (select date '{day}' as day)").fetchone()
    (in_pandas,) = rule.stamps(pd.DataFrame({"day": [day]})).tolist()
    assert pd.Timestamp(in_sql) == in_pandas


def test_a_source_time_wins_over_the_rule() -> None:
    given_time = pd.Timestamp("2026-02-25 21:20:11")
    frame = pd.DataFrame({"day": [date(2026, 2, 25), date(2026, 2, 26)], "available_at": [given_time, pd.NaT]})
    filled = LocalTime("day").fill(frame)
    assert filled["available_at"].tolist() == [given_time, pd.Timestamp("2026-02-26 21:00")]


def test_an_older_warehouse_gets_available_at_backfilled_by_the_same_rule(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fundamentals = registry.get("fundamentals").table
    old = [c for c in fundamentals.columns if c.name != "available_at"]
    connection = duckdb.connect(str(tmp_path / "old.duckdb"))
    connection.execute("create schema raw")
    columns = ", ".join(f"{c.name} {c.type}" for c in old)
    connection.execute(f"create table raw.fundamentals ({columns}, load_id varchar, loaded_at timestamp)")
    connection.execute(
        "insert into raw.fundamentals (ticker, fiscal_period_end, fiscal_year, fiscal_quarter, report_date, currency, "
        "period_months, source, load_id, loaded_at) values "
        "('NVDA', '2026-04-26', 2027, 1, '2026-05-27', 'USD', 3, 'sample', 'l', now())"
    )
    schema.ensure(connection)
    (stamp,) = connection.execute("select available_at from raw.fundamentals").fetchone()
    assert stamp == datetime(2026, 5, 27, 20, 0)  # 16:00 New York (EDT)
    connection.close()


def test_sessions_carry_closes_in_utc_with_half_days() -> None:
    hkex = calendars.session_times("XHKG").set_index("session_date")
    assert hkex.loc[date(2026, 11, 20), "close_at"] == pd.Timestamp("2026-11-20 08:00")  # 16:00 HKT
    assert hkex.loc[date(2025, 12, 24), "close_at"] == pd.Timestamp("2025-12-24 04:00")  # Christmas Eve: noon
    nyse = calendars.session_times("XNYS").set_index("session_date")
    assert nyse.loc[date(2026, 11, 27), "close_at"] == pd.Timestamp("2026-11-27 18:00")  # after Thanksgiving: 13:00
    assert nyse.loc[date(2026, 7, 1), "close_at"] == pd.Timestamp("2026-07-01 20:00")


def test_the_session_warehouse_dates_every_release(warehouse) -> None:  # type: ignore[no-untyped-def]
    """Every fundamental, CPI print and policy event stored has an availability (CPI at 08:30 New York, EST or
    EDT); the sessions cover the universe's exchanges."""
    for table in ("raw.fundamentals", "raw.cpi", "raw.policy_events"):
        assert warehouse.query(f"select count(*) from {table} where available_at is null") == [(0,)], table
    off_the_release_time = "select count(*) from raw.cpi where available_at::time not in ('12:30', '13:30')"
    assert warehouse.query(off_the_release_time) == [(0,)]
    exchanges = {row[0] for row in warehouse.query("select distinct exchange from raw.market_sessions")}
    assert exchanges == {s[0] for s in warehouse.query("select distinct exchange from raw.securities")}


# --- the as-of cut-off and the rules for one fact ---------------------------------------------------------


def test_the_cut_off_is_the_end_of_the_day_in_new_york_in_utc() -> None:
    assert public_cutoff(date(2026, 6, 30)) == datetime(2026, 7, 1, 4, 0)  # EDT: UTC-4
    assert public_cutoff(date(2026, 11, 20)) == datetime(2026, 11, 21, 5, 0)  # EST: UTC-5
    assert public_cutoff(date(2026, 3, 7)) == datetime(2026, 3, 8, 5, 0)  # the night DST starts: still EST
    assert is_public_by(datetime(2026, 7, 1, 3, 59, 59), date(2026, 6, 30))
    assert not is_public_by(datetime(2026, 7, 1, 4, 0), date(2026, 6, 30))


def test_public_by_is_false_for_what_is_not_a_timestamp() -> None:
    values = pd.Series([datetime(2026, 6, 30, 20, 0), datetime(2026, 7, 1, 4, 0), None, "not a time"])
    assert public_by(values, date(2026, 6, 30)).tolist() == [True, False, False, False]


def test_one_rule_per_kind_of_fact() -> None:
    assert after_close(date(2026, 6, 30)) == datetime(2026, 6, 30, 20, 0)  # 16:00 EDT
    assert after_close(date(2026, 6, 30), zone="Asia/Hong_Kong") == datetime(2026, 6, 30, 8, 0)  # 16:00 HKT
    assert cpi_released_at(date(2026, 1, 13)) == datetime(2026, 1, 13, 13, 30)  # 08:30 EST
    assert federal_register_public_at(date(2026, 7, 2)) == datetime(2026, 7, 2, 10, 0)  # 06:00 EDT
    # a curated event: its own time, else the close of the issuer's market, the latest of several
    assert event_available_at(date(2026, 6, 17), "US", at=time(14, 0)) == datetime(2026, 6, 17, 18, 0)
    assert event_available_at(date(2026, 6, 17), "CN") == datetime(2026, 6, 17, 7, 0)  # 15:00 Shanghai
    assert event_available_at(date(2026, 6, 17), "JP") == datetime(2026, 6, 17, 6, 30)  # 15:30 Tokyo
    assert event_available_at(date(2026, 6, 17), "US-CN") == datetime(2026, 6, 17, 20, 0)
    assert event_available_at(date(2026, 6, 17), "global") == datetime(2026, 6, 17, 20, 0)
    # every rule for a fact dated D is public by the end of D
    for moment in (after_close(date(2026, 6, 30), zone="Asia/Tokyo"), cpi_released_at(date(2026, 6, 30))):
        assert is_public_by(moment, date(2026, 6, 30))


@settings(max_examples=40, deadline=None)
@given(day=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)))
def test_the_scalar_rules_equal_the_frame_rules(day: date) -> None:
    """after_close / cpi_released_at (one fact) and LocalTime (a frame, and the backfill SQL) give one instant."""
    frame = pd.DataFrame({"day": [day]})
    assert LocalTime("day").stamps(frame).tolist() == [pd.Timestamp(after_close(day))]
    assert LocalTime("day", CPI_RELEASE_TIME).stamps(frame).tolist() == [pd.Timestamp(cpi_released_at(day))]
