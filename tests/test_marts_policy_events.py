"""The policy-event marts on the session warehouse (real daily flow, sample prices, curated events).

policy_event_impact (event x security, market model against the broad market proxy, Dimson
lead/lag for the Hong Kong listings) and policy_event_group_impact (event x group,
cross-sectional t-test, adjusted BMP) are checked against independent recomputations: the
exchange calendars, pandas' ASOF alignment, numpy least squares, and the marts' own
coefficients applied to the returns again.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from flows.calendars import _calendar, sessions

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


def test_day_zero_is_the_listings_first_session_closing_after_the_event_is_public(warehouse) -> None:
    exchanges = dict(warehouse.query("select ticker, exchange from raw.securities"))
    rows = warehouse.query(
        "select distinct ticker, available_at, event_trade_date, window_end_date, known_at "
        "from marts.policy_event_impact",
        published=True,
    )
    for ticker, available_at, event_trade_date, window_end_date, known_at in rows:
        calendar = _calendar(exchanges[ticker])
        candidates = sessions(
            exchanges[ticker], available_at.date() - timedelta(days=1), available_at.date() + timedelta(days=14)
        )
        expected = next(
            session.date() for session in candidates if calendar.session_close(session).tz_localize(None) > available_at
        )
        assert event_trade_date == expected, (ticker, available_at)
        # known at the close of the last window day, never before the event was public
        assert known_at is not None and window_end_date is not None and known_at > available_at
    mapped = dict(
        warehouse.query(
            "select ticker, event_trade_date from marts.policy_event_impact "
            "where event_id = '2024-11-16-biden-xi-lima' and ticker in ('0700.HK', 'NVDA')",
            published=True,
        )
    )
    # Saturday 2024-11-16 -> Monday 2024-11-18 on HKEX and Nasdaq alike.
    assert mapped == {"0700.HK": date(2024, 11, 18), "NVDA": date(2024, 11, 18)}
    # HKEX closes hours before New York: the Hong Kong listings use the Dimson lead/lag against VT, the US ones not
    flags = dict(
        warehouse.query("select distinct ticker, uses_lead_lag from marts.policy_event_impact", published=True)
    )
    assert flags == {ticker: ticker.endswith(".HK") for ticker in flags}


def _market_returns(connection: duckdb.DuckDBPyConnection) -> dict[tuple[str, date], float | None]:
    """The market proxy's return over each listing's own close-to-close interval, recomputed in pandas."""
    frame = connection.execute(
        """
        select returns.ticker, returns.trade_date, returns.trading_day_number, securities.market_ticker
        from intermediate.int_daily_returns as returns
        inner join raw.securities as securities using (ticker)
        where securities.group_name <> 'benchmark'
        order by returns.ticker, returns.trade_date
        """
    ).df()
    markets = connection.execute(
        "select ticker as market_ticker, trade_date as market_date, adj_close from intermediate.int_daily_returns "
        "where ticker in (select market_ticker from raw.securities) order by trade_date"
    ).df()
    aligned = pd.merge_asof(
        frame.sort_values("trade_date"), markets, left_on="trade_date", right_on="market_date", by="market_ticker"
    ).sort_values(["ticker", "trading_day_number"])
    aligned["market_return"] = aligned.groupby("ticker")["adj_close"].transform(lambda level: level / level.shift() - 1)
    return {
        (row.ticker, row.trade_date.date()): (None if pd.isna(row.market_return) else row.market_return)
        for row in aligned.itertuples()
    }


def test_market_returns_cover_the_listings_own_intervals(both: duckdb.DuckDBPyConnection) -> None:
    expected = _market_returns(both)
    rows = both.execute(
        "select ticker, trade_date, market_return from intermediate.int_policy_event_market_returns"
    ).fetchall()
    assert len(rows) == len(expected)
    for ticker, trade_date, market_return in rows:
        reference = expected[(ticker, trade_date)]
        assert market_return == (None if reference is None else pytest.approx(reference, rel=1e-12, abs=1e-15))


def _estimation_design(both: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """Per event and listing: the regressors [1, r_m,t-1, r_m,t, r_m,t+1] (or [1, r_m,t]) and r_i on the days kept."""
    start, end = ESTIMATION_WINDOW
    frame = both.execute(
        f"""
        select days.event_id, days.ticker, impact.uses_lead_lag, days.security_return_local as r_i,
            days.market_return_lag, days.market_return, days.market_return_lead
        from intermediate.int_policy_event_window_days as days
        inner join published.marts.policy_event_impact as impact using (event_id, ticker)
        where days.relative_day between {start} and {end} and not days.is_in_other_event_window
        """
    ).df()
    design = {}
    for (event_id, ticker), rows in frame.groupby(["event_id", "ticker"]):
        columns = (
            ["market_return_lag", "market_return", "market_return_lead"]
            if rows.uses_lead_lag.iloc[0]
            else ["market_return"]
        )
        rows = rows.dropna(subset=["r_i", *columns])
        x = np.column_stack([np.ones(len(rows)), *(rows[column].to_numpy() for column in columns)])
        design[(event_id, ticker)] = (x, rows.r_i.to_numpy())
    return design


def test_estimation_windows_leave_out_other_events_windows(both: duckdb.DuckDBPyConnection) -> None:
    day_zero = both.execute(
        "select event_id, ticker, event_trading_day_number from published.marts.policy_event_impact "
        "where event_trading_day_number is not null"
    ).fetchall()
    numbers: dict[str, list[tuple[str, int]]] = {}
    for event_id, ticker, number in day_zero:
        numbers.setdefault(ticker, []).append((event_id, number))
    flagged = both.execute(
        "select event_id, ticker, relative_day, is_in_other_event_window "
        "from intermediate.int_policy_event_window_days "
        "where relative_day < -5"
    ).fetchall()
    zero = {(event_id, ticker): number for event_id, ticker, number in day_zero}
    for event_id, ticker, relative_day, is_flagged in flagged:
        day = zero[(event_id, ticker)] + relative_day
        expected = any(other != event_id and abs(day - number) <= 5 for other, number in numbers[ticker])
        assert is_flagged == expected, (event_id, ticker, relative_day)
    assert any(flag for *_, flag in flagged)


def test_market_model_matches_least_squares(both: duckdb.DuckDBPyConnection) -> None:
    design = _estimation_design(both)
    rows = both.execute(
        "select event_id, ticker, estimation_days, alpha, beta, beta_lag, beta_same_day, beta_lead, residual_sd "
        "from published.marts.policy_event_impact"
    ).fetchall()
    fitted = 0
    for event_id, ticker, n, alpha, beta, beta_lag, beta_same_day, beta_lead, residual_sd in rows:
        x, y = design.get((event_id, ticker), (np.empty((0, 2)), np.empty(0)))
        assert n == len(y), (event_id, ticker)
        if n < MIN_ESTIMATION_DAYS:
            assert alpha is None and beta is None and residual_sd is None, (event_id, ticker)
            continue
        fitted += 1
        coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
        slopes = coefficients[1:]
        residuals = y - x @ coefficients
        assert alpha == pytest.approx(coefficients[0], rel=1e-8, abs=1e-12), (event_id, ticker)
        assert beta == pytest.approx(slopes.sum(), rel=1e-8, abs=1e-12), (event_id, ticker)
        if len(slopes) == 3:
            assert [beta_lag, beta_same_day, beta_lead] == pytest.approx(list(slopes), rel=1e-8, abs=1e-12)
        else:
            assert beta_lag == 0 and beta_lead == 0
        assert residual_sd == pytest.approx(math.sqrt(residuals @ residuals / (n - x.shape[1])), rel=1e-8)
    assert fitted > 0.5 * len(rows)


def test_cars_and_t_stats_recompute_from_the_marts_own_coefficients(both: duckdb.DuckDBPyConnection) -> None:
    design = _estimation_design(both)
    days = both.execute(
        """
        select days.event_id, days.ticker, days.relative_day, days.security_return_local,
            days.market_return_lag, days.market_return, days.market_return_lead
        from intermediate.int_policy_event_window_days as days
        where days.relative_day between -5 and 5
        """
    ).fetchall()
    by_row: dict[tuple[str, str], dict[int, tuple]] = {}
    for event_id, ticker, relative_day, *values in days:
        by_row.setdefault((event_id, ticker), {})[relative_day] = tuple(values)
    columns = ", ".join(f"car_{name}_pct, car_{name}_t_stat" for name in CAR_WINDOWS)
    rows = both.execute(
        "select event_id, ticker, uses_lead_lag, alpha, beta_lag, beta_same_day, beta_lead, residual_sd, "
        f"{columns} from published.marts.policy_event_impact"
    ).fetchall()
    checked = 0
    for event_id, ticker, lead_lag, alpha, b_lag, b_same, b_lead, residual_sd, *values in rows:
        window_days = by_row.get((event_id, ticker), {})
        for (name, (first, last)), car, t_stat in zip(CAR_WINDOWS.items(), values[0::2], values[1::2], strict=True):
            window = [window_days.get(day) for day in range(first, last + 1)]
            regressors = [
                None if day is None else ((day[1], day[2], day[3]) if lead_lag else (day[2],)) for day in window
            ]
            if alpha is None or any(
                day is None or day[0] is None or None in x for day, x in zip(window, regressors, strict=True)
            ):
                assert car is None and t_stat is None, (event_id, ticker, name)
                continue
            slopes = [b_lag, b_same, b_lead] if lead_lag else [b_same]
            abnormal = [
                day[0] - alpha - sum(b * v for b, v in zip(slopes, x, strict=True))
                for day, x in zip(window, regressors, strict=True)
            ]
            assert car == pytest.approx(100 * math.fsum(abnormal), rel=1e-9, abs=1e-12)
            # SE^2 = (100 sd)^2 (L + L^2 / n + d' S^-1 d), S the centred cross-products, d the window sums - L * means
            x, _ = design[(event_id, ticker)]
            centred = x[:, 1:] - x[:, 1:].mean(axis=0)
            length = last - first + 1
            deviation = np.sum(np.array(regressors), axis=0) - length * x[:, 1:].mean(axis=0)
            quadratic = deviation @ np.linalg.solve(centred.T @ centred, deviation)
            standard_error = 100 * residual_sd * math.sqrt(length + length**2 / len(x) + quadratic)
            assert t_stat == pytest.approx(car / standard_error, rel=1e-7), (event_id, ticker, name)
            checked += 1
    assert checked > 0.5 * 3 * len(rows)


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
    # spring-2022 events have too few.
    assert {date(2022, 3, 16), date(2022, 6, 15), date(2022, 7, 13)} <= {
        event_date for event_date, is_estimated, *_ in rows if not is_estimated
    }
    days = warehouse.query(
        "select max(estimation_days), max(overlapping_event_count) from marts.policy_event_impact", published=True
    )
    # other events' windows leave at most the 221 days of the window; some windows overlap
    assert days[0][0] <= ESTIMATION_WINDOW[1] - ESTIMATION_WINDOW[0] + 1 and days[0][1] >= 1


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
    assert with_t_stat > 0.4 * 3 * len(rows)


def test_group_mart_adjusts_the_bmp_test_for_cross_correlation(warehouse) -> None:
    scars = {}
    for event_id, group_name, t_stat in warehouse.query(
        "select event_id, group_name, car_0_p5_t_stat from marts.policy_event_impact where car_0_p5_t_stat is not null",
        published=True,
    ):
        scars.setdefault((event_id, group_name), []).append(t_stat)
    rows = warehouse.query(
        "select event_id, group_name, car_0_p5_bmp_n, car_0_p5_bmp_t_stat, car_0_p5_kp_t_stat, "
        "mean_residual_correlation "
        "from marts.policy_event_group_impact",
        published=True,
    )
    checked = 0
    for event_id, group_name, n, bmp, kp, correlation in rows:
        values = scars.get((event_id, group_name), [])
        assert n == len(values)
        if n < 2:
            assert bmp is None and kp is None
            continue
        reference = np.mean(values) * math.sqrt(n) / np.std(values, ddof=1)
        assert bmp == pytest.approx(reference, rel=1e-9)
        assert kp == pytest.approx(reference * math.sqrt((1 - correlation) / (1 + (n - 1) * correlation)), rel=1e-9)
        assert abs(kp) <= abs(bmp) or correlation < 0
        checked += 1
    assert checked > 0


def test_residual_correlation_is_the_average_over_every_pair(both: duckdb.DuckDBPyConnection) -> None:
    """r-bar recomputed pair by pair: pandas' Pearson correlation of each pair of a group's listings over the
    estimation days both have (at least 3), of the residuals of the mart's own market models, averaged. The
    view never forms the pairs (it sums standardised residuals per class of listings with the same days)."""
    start, end = ESTIMATION_WINDOW
    frame = (
        both.execute(
            f"""
        select days.event_id, impact.group_name, days.ticker, days.trade_date,
            days.security_return_local - (
                impact.alpha
                + impact.beta_lag * case when impact.uses_lead_lag then days.market_return_lag else 0 end
                + impact.beta_same_day * days.market_return
                + impact.beta_lead * case when impact.uses_lead_lag then days.market_return_lead else 0 end
            ) as residual
        from intermediate.int_policy_event_window_days as days
        inner join published.marts.policy_event_impact as impact using (event_id, ticker)
        where days.relative_day between {start} and {end} and not days.is_in_other_event_window
            and impact.residual_sd is not null
        """
        )
        .df()
        .dropna(subset=["residual"])
    )
    expected, mixed_day_sets = {}, 0
    for key, rows in frame.groupby(["event_id", "group_name"]):
        mixed_day_sets += rows.groupby("ticker")["trade_date"].agg(frozenset).nunique() > 1
        correlations = rows.pivot(index="trade_date", columns="ticker", values="residual").corr(min_periods=3)
        pairs = correlations.to_numpy()[np.triu_indices(len(correlations), k=1)]
        pairs = pairs[~np.isnan(pairs)]
        if len(pairs):
            expected[key] = (len(pairs), pairs.mean())
    actual = {
        (event_id, group_name): (count, mean)
        for event_id, group_name, count, mean in both.execute(
            "select event_id, group_name, residual_pair_count, mean_residual_correlation "
            "from intermediate.int_policy_event_residual_correlations where residual_pair_count > 0"
        ).fetchall()
    }
    assert actual.keys() == expected.keys()
    for key, (count, mean) in expected.items():
        assert actual[key][0] == count, key
        assert actual[key][1] == pytest.approx(mean, rel=1e-9, abs=1e-12), key
    assert mixed_day_sets > 0  # groups whose listings trade on different days (Hong Kong and US) are covered


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
