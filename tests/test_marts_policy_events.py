"""The policy-event marts on the session warehouse (real daily flow, sample prices, curated events).

policy_event_impact (event x security, market model) and policy_event_group_impact
(event x group, cross-sectional t-test) are checked against independent
recomputations: DuckDB's own regression aggregates, the exchange calendars, and
the marts' own alpha and beta applied to the returns again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, timedelta

import duckdb
import pytest

from flows.calendars import sessions

ESTIMATION_WINDOW = (-250, -30)  # vars in dbt_project/dbt_project.yml
MIN_ESTIMATION_DAYS = 120
CAR_WINDOWS = {"m1_p1": (-1, 1), "0_p5": (0, 5), "m5_p5": (-5, 5)}
GROUPS = ("china_tech", "us_ai_leader")


@pytest.fixture(scope="module")
def both(warehouse) -> Iterator[duckdb.DuckDBPyConnection]:  # type: ignore[no-untyped-def]
    """The working warehouse (returns, raw tables) with the published marts attached as ``published``."""
    connection = duckdb.connect(str(warehouse.path / "gapwatch.duckdb"), read_only=True)
    connection.execute(f"attach '{warehouse.path / 'published/gapwatch.duckdb'}' as published (read_only)")
    try:
        yield connection
    finally:
        connection.close()


# Day 0 and the listing's trading days relative to it, from the returns the mart reads.
RELATIVE_DAYS_SQL = """
with impact as (
    select * from published.marts.policy_event_impact where event_trade_date is not null
),

returns as (
    select * from intermediate.int_daily_returns
),

day_zero as (
    select impact.event_id, impact.ticker, returns.trading_day_number as day_zero_number
    from impact
    inner join returns
        on impact.ticker = returns.ticker
        and impact.event_trade_date = returns.trade_date
),

relative_days as (
    select
        day_zero.event_id,
        day_zero.ticker,
        returns.trading_day_number - day_zero.day_zero_number as relative_day,
        returns.daily_return_local as r_i,
        benchmark.daily_return_local as r_m,
    from day_zero
    inner join returns
        on day_zero.ticker = returns.ticker
    left join returns as benchmark
        on returns.benchmark_ticker = benchmark.ticker
        and returns.trade_date = benchmark.trade_date
)
"""


def test_every_event_in_the_price_history_has_a_row_per_security_and_group(warehouse) -> None:
    events = warehouse.query(
        """
        select event_id from raw.policy_events
        where event_date between (select min(trade_date) from raw.prices) and (select max(trade_date) from raw.prices)
        """
    )
    securities = warehouse.query("select ticker from raw.securities where group_name <> 'benchmark'")
    assert len(events) >= 25 and len(securities) == 19
    rows = warehouse.query("select event_id, ticker from marts.policy_event_impact", published=True)
    assert sorted(rows) == sorted((event, ticker) for (event,) in events for (ticker,) in securities)
    groups = warehouse.query(
        "select event_id, group_name, security_count from marts.policy_event_group_impact", published=True
    )
    sizes = dict(warehouse.query("select group_name, count(*) from raw.securities group by 1"))
    assert sorted(groups) == sorted((event, group, sizes[group]) for (event,) in events for group in GROUPS)


def test_day_zero_is_the_listings_first_session_on_or_after_the_event(warehouse) -> None:
    exchanges = dict(warehouse.query("select ticker, exchange from raw.securities"))
    rows = warehouse.query(
        "select distinct ticker, event_date, event_trade_date from marts.policy_event_impact", published=True
    )
    for ticker, event_date, event_trade_date in rows:
        expected = sessions(exchanges[ticker], event_date, event_date + timedelta(days=14))[0].date()
        assert event_trade_date == expected, (ticker, event_date)
    mapped = dict(
        warehouse.query(
            "select ticker, event_trade_date from marts.policy_event_impact "
            "where event_id = '2024-11-16-biden-xi-lima' and ticker in ('0700.HK', 'NVDA')",
            published=True,
        )
    )
    # Saturday 2024-11-16 -> Monday 2024-11-18 on HKEX and Nasdaq alike.
    assert mapped == {"0700.HK": date(2024, 11, 18), "NVDA": date(2024, 11, 18)}


def test_market_model_matches_duckdbs_regression_aggregates(both: duckdb.DuckDBPyConnection) -> None:
    start, end = ESTIMATION_WINDOW
    rows = both.execute(
        RELATIVE_DAYS_SQL
        + f"""
        , regression as (
            select
                event_id,
                ticker,
                regr_count(r_i, r_m) as n,
                regr_slope(r_i, r_m) as beta,
                regr_intercept(r_i, r_m) as alpha,
                sqrt((regr_syy(r_i, r_m) - regr_sxy(r_i, r_m) ** 2 / regr_sxx(r_i, r_m)) / (regr_count(r_i, r_m) - 2))
                    as residual_sd,
            from relative_days
            where relative_day between {start} and {end}
            group by all
        )
        select
            impact.event_id, impact.ticker, impact.estimation_days, impact.alpha, impact.beta, impact.residual_sd,
            coalesce(regression.n, 0), regression.alpha, regression.beta, regression.residual_sd,
        from published.marts.policy_event_impact as impact
        left join regression using (event_id, ticker)
        """
    ).fetchall()
    fitted = 0
    for event_id, ticker, n, alpha, beta, residual_sd, n_ref, alpha_ref, beta_ref, sd_ref in rows:
        assert n == n_ref, (event_id, ticker)
        if n < MIN_ESTIMATION_DAYS:
            assert alpha is None and beta is None and residual_sd is None, (event_id, ticker)
            continue
        fitted += 1
        assert beta == pytest.approx(beta_ref, rel=1e-9), (event_id, ticker)
        assert alpha == pytest.approx(alpha_ref, rel=1e-9, abs=1e-15), (event_id, ticker)
        assert residual_sd == pytest.approx(sd_ref, rel=1e-9), (event_id, ticker)
    assert fitted > 0.85 * len(rows)


def test_cars_and_t_stats_recompute_from_the_marts_own_alpha_and_beta(both: duckdb.DuckDBPyConnection) -> None:
    start, end = ESTIMATION_WINDOW
    days = both.execute(
        RELATIVE_DAYS_SQL
        + """
        select relative_days.event_id, relative_days.ticker, relative_day, r_m, r_i - (impact.alpha + impact.beta * r_m)
        from relative_days
        inner join impact using (event_id, ticker)
        where relative_day between -5 and 5
        """
    ).fetchall()
    by_row: dict[tuple[str, str], dict[int, tuple[float | None, float | None]]] = {}
    for event_id, ticker, relative_day, benchmark_return, abnormal_return in days:
        by_row.setdefault((event_id, ticker), {})[relative_day] = (benchmark_return, abnormal_return)
    # benchmark mean and centred sum of squares over the estimation days (regression aggregates)
    estimation = {
        (event_id, ticker): (n, mean, sxx)
        for event_id, ticker, n, mean, sxx in both.execute(
            RELATIVE_DAYS_SQL
            + f"""
            select event_id, ticker, regr_count(r_i, r_m), regr_avgx(r_i, r_m), regr_sxx(r_i, r_m)
            from relative_days where relative_day between {start} and {end} group by all
            """
        ).fetchall()
    }
    columns = ", ".join(f"car_{name}_pct, car_{name}_t_stat" for name in CAR_WINDOWS)
    rows = both.execute(
        f"select event_id, ticker, residual_sd, {columns} from published.marts.policy_event_impact"
    ).fetchall()
    checked = 0
    for event_id, ticker, residual_sd, *values in rows:
        window_days = by_row.get((event_id, ticker), {})
        for (name, (first, last)), car, t_stat in zip(CAR_WINDOWS.items(), values[0::2], values[1::2], strict=True):
            window = [window_days.get(day, (None, None)) for day in range(first, last + 1)]
            if any(abnormal is None for _, abnormal in window):
                assert car is None and t_stat is None, (event_id, ticker, name)
                continue
            assert car == pytest.approx(100 * math.fsum(abnormal for _, abnormal in window), rel=1e-9, abs=1e-12)
            # t = CAR / SE; SE^2 = (100 * sd)^2 * (L + L^2 / n + (sum r_m - L * avg r_m)^2 / Sxx)
            n, mean, sxx = estimation[(event_id, ticker)]
            length = last - first + 1
            deviation = math.fsum(benchmark for benchmark, _ in window) - length * mean
            standard_error = 100 * residual_sd * math.sqrt(length + length**2 / n + deviation**2 / sxx)
            assert t_stat == pytest.approx(car / standard_error, rel=1e-9), (event_id, ticker, name)
            checked += 1
    assert checked > 0.85 * 3 * len(rows)


def test_cars_need_enough_estimation_days(warehouse) -> None:
    rows = warehouse.query(
        """
        select
            event_date,
            estimation_days >= 120 as is_estimated,
            count(*) as row_count,
            count(beta) as with_beta,
            count(car_m1_p1_pct) + count(car_0_p5_pct) + count(car_m5_p5_pct) as cars,
        from marts.policy_event_impact
        group by all
        """,
        published=True,
    )
    for event_date, is_estimated, row_count, with_beta, cars in rows:
        if is_estimated:
            # every sample event is far enough from the end of the history for all windows
            assert with_beta == row_count and cars == 3 * row_count, event_date
        else:
            assert with_beta == 0 and cars == 0, event_date
    # The estimation window needs 30 + 120 trading days of returns before day 0: the
    # spring-2022 events have too few, the October 2022 export-control rule has enough.
    assert {event_date for event_date, is_estimated, *_ in rows if not is_estimated} == {
        date(2022, 3, 16),
        date(2022, 6, 15),
        date(2022, 7, 13),
    }
    days = warehouse.query(
        "select max(estimation_days), min(estimation_days) filter (where event_date >= '2023-07-01') "
        "from marts.policy_event_impact",
        published=True,
    )
    assert days == [(ESTIMATION_WINDOW[1] - ESTIMATION_WINDOW[0] + 1,) * 2]


def test_group_mart_aggregates_the_security_mart(warehouse) -> None:
    statistics = ",\n".join(
        f"""
        count(car_{name}_pct),
        avg(car_{name}_pct),
        case when count(car_{name}_pct) >= 2 then stddev_samp(car_{name}_pct) end"""
        for name in CAR_WINDOWS
    )
    expected = {
        (event_id, group_name): values
        for event_id, group_name, *values in warehouse.query(
            f"select event_id, group_name, {statistics} from marts.policy_event_impact group by all",
            published=True,
        )
    }
    columns = ", ".join(
        f"car_{name}_n, car_{name}_mean_pct, car_{name}_sd_pct, car_{name}_t_stat" for name in CAR_WINDOWS
    )
    rows = warehouse.query(
        f"select event_id, group_name, {columns} from marts.policy_event_group_impact", published=True
    )
    assert len(rows) == len(expected)
    with_t_stat = 0
    for event_id, group_name, *values in rows:
        reference = expected[(event_id, group_name)]
        for index, name in enumerate(CAR_WINDOWS):
            n, mean, sd, t_stat = values[4 * index : 4 * index + 4]
            n_ref, mean_ref, sd_ref = reference[3 * index : 3 * index + 3]
            assert n == n_ref, (event_id, group_name, name)
            if n == 0:
                assert mean is None and sd is None and t_stat is None
                continue
            assert mean == pytest.approx(mean_ref, rel=1e-9, abs=1e-12)
            assert sd == (None if sd_ref is None else pytest.approx(sd_ref, rel=1e-9))
            if n < 2:
                assert t_stat is None
            else:
                assert t_stat == pytest.approx(mean / (sd / math.sqrt(n)), rel=1e-12)
                with_t_stat += 1
    assert with_t_stat > 0.85 * 3 * len(rows)


def test_sample_data_is_labelled_with_lineage(warehouse) -> None:
    for mart in ("policy_event_impact", "policy_event_group_impact"):
        labels = warehouse.query(f"select distinct data_source from marts.{mart}", published=True)
        assert labels == [("sample",)], mart
    price_loads = {load for (load,) in warehouse.query("select distinct load_id from raw.prices")}
    for mart in ("policy_event_impact", "policy_event_group_impact"):
        lineage = warehouse.query(f"select distinct load_id from marts.{mart}", published=True)
        assert lineage and all(set(loads.split(",")) <= price_loads for (loads,) in lineage), mart
    assert warehouse.query("select distinct event_source from marts.policy_event_group_impact", published=True) == [
        ("curated",)
    ]
