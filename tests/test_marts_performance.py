"""relative_performance and execution_gap on the session warehouse: formulas re-derived independently,
no look-ahead, and a restatement that must not leak into the point-in-time marts.

The dbt unit tests (dbt_project/models/**/_*__unit_tests.yml) prove each formula on hand-computed rows; these
tests check the same formulas at full size against numpy and against each other.
"""

from __future__ import annotations

import math
import shutil
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from conftest import Home
from flows.settings import load_settings
from flows.sources.sample.generator import SPENDERS_WITHOUT_RESULTS
from flows.warehouse import dbt as dbt_runner


def _frame(warehouse: Home, sql: str):  # type: ignore[no-untyped-def]
    connection = duckdb.connect(str(warehouse.path / "published/gapwatch.duckdb"), read_only=True)
    try:
        return connection.sql(sql).df()
    finally:
        connection.close()


@pytest.mark.parametrize("ticker", ["NVDA", "0700.HK", "basket:china_tech"])
def test_volatility_and_beta_match_numpy(warehouse: Home, ticker: str) -> None:
    rows = _frame(
        warehouse,
        f"""
        select series.trade_date, series.daily_return_usd, series.volatility_63d_ann, series.volatility_252d_ann,
               series.beta_252d, benchmark.daily_return_usd as benchmark_return
        from marts.relative_performance as series
        left join marts.relative_performance as benchmark
            on benchmark.series_id = series.benchmark_ticker and benchmark.trade_date = series.trade_date
        where series.series_id = '{ticker}'
        order by series.trade_date
        """,
    )
    last = rows.iloc[-252:]
    returns = last["daily_return_usd"].to_numpy()
    assert math.isclose(rows["volatility_252d_ann"].iloc[-1], np.std(returns, ddof=1) * math.sqrt(252), rel_tol=1e-9)
    short = rows["daily_return_usd"].iloc[-63:].to_numpy()
    assert math.isclose(rows["volatility_63d_ann"].iloc[-1], np.std(short, ddof=1) * math.sqrt(252), rel_tol=1e-9)
    paired = last.dropna(subset=["daily_return_usd", "benchmark_return"])
    slope = np.polyfit(paired["benchmark_return"], paired["daily_return_usd"], 1)[0]
    assert len(paired) >= 200 and math.isclose(rows["beta_252d"].iloc[-1], slope, rel_tol=1e-6)
    # the windows are full only after 63 / 252 returns
    assert rows["volatility_63d_ann"].iloc[:63].isna().all() and rows["volatility_252d_ann"].iloc[:252].isna().all()


def test_rolling_returns_and_drawdown_follow_the_levels(warehouse: Home) -> None:
    rows = _frame(
        warehouse,
        "select trade_date, index_level_usd, return_12m_usd, return_ytd_usd, drawdown_usd, cum_return_usd "
        "from marts.relative_performance where series_id = 'BABA' order by trade_date",
    )
    rows = rows.set_index(rows["trade_date"].dt.date)
    levels = rows["index_level_usd"]
    day = date(2026, 11, 20)
    year_ago = levels[levels.index <= date(2025, 11, 20)].iloc[-1]
    assert math.isclose(rows.at[day, "return_12m_usd"], levels[day] / year_ago - 1, rel_tol=1e-12)
    previous_year_end = levels[levels.index <= date(2025, 12, 31)].iloc[-1]
    assert math.isclose(rows.at[day, "return_ytd_usd"], levels[day] / previous_year_end - 1, rel_tol=1e-12)
    assert math.isclose(rows.at[day, "drawdown_usd"], levels[day] / levels.max() - 1, rel_tol=1e-12)
    assert math.isclose(rows.at[day, "cum_return_usd"], levels[day] / levels.iloc[0] - 1, rel_tol=1e-12)
    # the first year has no 12-month history
    assert rows["return_12m_usd"][rows.index < date(2023, 1, 3)].isna().all()


def test_hong_kong_listings_use_the_last_fixing_before_their_close(warehouse: Home) -> None:
    rows = warehouse.query(
        """
        select prices.trade_date, prices.usd_per_unit, fx.usd_per_unit
        from marts.relative_performance as prices
        asof join raw.fx_rates as fx
            on fx.currency = 'HKD' and fx.rate_date < prices.trade_date
        where prices.series_id = '0700.HK' and prices.trade_date between '2026-01-01' and '2026-03-31'
        """
    )
    assert len(rows) > 50 and all(mart == fixing for _, mart, fixing in rows)


def test_real_returns_deflate_by_the_cpi_known_on_each_date(warehouse: Home) -> None:
    rows = warehouse.query(
        """
        select trade_date, cum_return_usd, real_cum_return_usd, cpi_month_known, cpi_index_known
        from marts.relative_performance where series_id = 'QQQ' order by trade_date
        """,
        published=True,
    )
    first, last = rows[0], rows[-1]
    expected = (1 + last[1]) * first[4] / last[4] - 1
    assert math.isclose(last[2], expected, rel_tol=1e-12)
    assert last[2] < last[1]  # prices rose between the two prints
    # no print is used before BLS released it
    released = dict(warehouse.query("select month_date, release_date from marts.inflation where is_published"))
    assert all(released[month] <= trade_date for trade_date, _, _, month, _ in rows)


def test_the_spread_is_the_china_basket_minus_the_us_basket(warehouse: Home) -> None:
    rows = warehouse.query(
        """
        select spread.cum_return_usd, china.cum_return_usd - us.cum_return_usd,
               spread.return_12m_usd, china.return_12m_usd - us.return_12m_usd
        from marts.relative_performance as spread
        join marts.relative_performance as china
            on china.series_id = 'basket:china_tech' and china.trade_date = spread.trade_date
        join marts.relative_performance as us
            on us.series_id = 'basket:us_ai_leader' and us.trade_date = spread.trade_date
        where spread.series_id = 'spread:china_tech_minus_us_ai_leader'
        order by spread.trade_date
        """,
        published=True,
    )
    assert len(rows) > 1000
    assert all(a == b and (c is None or c == d) for a, b, c, d in rows)
    assert rows[-1][0] < -1  # the sample is built to show the China lag


def test_known_fundamentals_and_cpi_were_public_before_each_markets_close(warehouse: Home) -> None:
    """Every execution gap and CPI print a relative_performance row uses was public before the close of the
    listing's session that day (known_before_close), not merely on or before its date."""
    late = warehouse.query(
        """
        select
            count(*) filter (where not exists (
                select 1 from marts.execution_gap as gap
                where gap.ticker = performance.ticker
                    and gap.fiscal_period_end = performance.known_fiscal_period_end
                    and gap.known_at < sessions.close_at
            ) and performance.known_fiscal_period_end is not null),
            count(*) filter (where cpi.available_at >= sessions.close_at),
        from marts.relative_performance as performance
        join staging.stg_raw__market_sessions as sessions
            on sessions.exchange = performance.exchange and sessions.session_date = performance.trade_date
        left join intermediate.int_cpi_monthly as cpi
            on cpi.month_date = performance.cpi_month_known
        """
    )
    assert late == [(0, 0)]
    # a day before the last cross-section completed, the previous quarter is still the known one; PDD, the
    # last to report Q3, filed on 2026-11-16 after the New York close (16:00 New York = 21:00 UTC), so Q3 is
    # usable from the next session, 2026-11-17, in New York and Hong Kong alike
    known = dict(
        warehouse.query(
            """
            select series_id || ' ' || trade_date, known_fiscal_period_end from marts.relative_performance
            where series_id in ('BABA', '0700.HK') and trade_date in ('2026-11-13', '2026-11-16', '2026-11-17')
            """,
            published=True,
        )
    )
    for listing in ("BABA", "0700.HK"):
        assert known[f"{listing} 2026-11-13"] == known[f"{listing} 2026-11-16"] == date(2026, 6, 30)
        assert known[f"{listing} 2026-11-17"] == date(2026, 9, 30)


def test_a_hong_kong_row_on_a_us_cpi_release_day_does_not_use_that_release(warehouse: Home) -> None:
    """BLS releases at 08:30 New York: after the Hong Kong close of that date, before the New York close."""
    rows = warehouse.query(
        """
        select performance.exchange, count(*), count(*) filter (where performance.cpi_month_known = cpi.month_date)
        from marts.relative_performance as performance
        join intermediate.int_cpi_monthly as cpi
            on cpi.release_date = performance.trade_date
        where performance.series_type = 'security'
        group by performance.exchange
        order by performance.exchange
        """
    )
    by_exchange = {exchange: (total, using_release) for exchange, total, using_release in rows}
    assert by_exchange["XHKG"][0] > 0 and by_exchange["XHKG"][1] == 0
    for exchange in ("XNAS", "XNYS"):
        assert by_exchange[exchange][0] > 0 and by_exchange[exchange][1] == by_exchange[exchange][0]


def _zscore(values: np.ndarray) -> np.ndarray:
    mean, std = np.nanmean(values), np.nanstd(values)
    return np.clip((values - mean) / std, -3, 3)


def test_a_late_reporter_never_enters_a_cross_section_before_its_report(tmp_path: Path, warehouse: Home) -> None:
    """Issue 13's reproduction: JD never reports its June 2026 quarter and BIDU reports it only on 2026-11-15
    (after the 120-day deadline, 2026-10-28). Before BIDU's report, no row may use it: BIDU's own gap for the
    quarter is unknown, and every peer's gap is the one of the cross-section without BIDU."""
    home = tmp_path / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("gapwatch.lock"))
    database = duckdb.connect(str(home / "gapwatch.duckdb"))
    try:
        database.execute(
            "delete from raw.fundamentals "
            "where ticker = 'JD' and fiscal_period_end = '2026-06-30' and period_months = 3"
        )
        database.execute(
            """
            update raw.fundamentals
            set report_date = date '2026-11-15', available_at = timestamp '2026-11-15 21:00:00',
                loaded_at = now()::timestamp
            where ticker = 'BIDU' and fiscal_period_end = '2026-06-30' and period_months = 3
            """
        )
    finally:
        database.close()
    result = dbt_runner.build(load_settings({"GAPWATCH_HOME": str(home)}), full_refresh=True)
    assert result.success, result.output_tail
    database = duckdb.connect(str(home / "gapwatch.duckdb"), read_only=True)
    try:
        bidu_early = database.sql(
            """
            select min(trade_date) from marts.relative_performance
            where series_id = 'BIDU' and known_fiscal_period_end = '2026-06-30'
            """
        ).fetchone()[0]
        measures = database.sql(
            """
            select distinct ticker, investment_intensity_pct, investment_growth_yoy_pct,
                revenue_growth_yoy_pct, operating_margin_change_pp
            from marts.execution_gap
            where calendar_quarter_end = '2026-06-30' and ticker != 'BIDU'
            order by ticker
            """
        ).df()
        seen = database.sql(
            """
            select performance.ticker, performance.known_execution_gap
            from marts.relative_performance as performance
            join (select distinct ticker, fiscal_period_end, calendar_quarter_end from marts.execution_gap) as quarters
                on quarters.ticker = performance.ticker
                and quarters.fiscal_period_end = performance.known_fiscal_period_end
            where performance.trade_date = '2026-11-13' and quarters.calendar_quarter_end = '2026-06-30'
            order by performance.ticker
            """
        ).df()
    finally:
        database.close()
    assert bidu_early is None or bidu_early >= date(2026, 11, 16), bidu_early
    assert "JD" not in set(measures["ticker"]) and len(measures) == 17
    z = {column: _zscore(measures[column].to_numpy(dtype=float)) for column in measures.columns[1:]}
    expected = (z["investment_intensity_pct"] + z["investment_growth_yoy_pct"]) / 2 - (
        z["revenue_growth_yoy_pct"] + z["operating_margin_change_pp"]
    ) / 2
    expected_by_ticker = dict(zip(measures["ticker"], expected, strict=True))
    assert len(seen) == 17  # every peer still sees the June quarter on 2026-11-13 (Q3 completes on 11-16)
    for ticker, gap in zip(seen["ticker"], seen["known_execution_gap"], strict=True):
        assert math.isclose(gap, expected_by_ticker[ticker], rel_tol=1e-9, abs_tol=1e-12), ticker


def test_execution_gap_flags_the_sample_spenders_and_the_reward_gap_is_consistent(warehouse: Home) -> None:
    rows = _frame(
        warehouse,
        "select * from marts.execution_gap where fiscal_period_end = '2026-09-30' order by execution_gap desc",
    )
    assert set(rows["ticker"].head(len(SPENDERS_WITHOUT_RESULTS))) == SPENDERS_WITHOUT_RESULTS
    assert np.allclose(rows["execution_gap"], rows["investment_zscore"] - rows["results_zscore"])
    assert np.allclose(rows["reward_gap"], rows["reward_zscore"] - rows["results_zscore"])
    # recompute one component z-score from the cross-section (population stddev, winsorized at 3)
    intensity = rows["investment_intensity_pct"]
    z = ((intensity - intensity.mean()) / intensity.std(ddof=0)).clip(-3, 3)
    assert np.allclose(rows["investment_intensity_zscore"], z)
    assert (rows["known_at"] == rows["report_available_at"].max()).all()  # complete: the last report
    assert rows["peer_count"].eq(len(rows)).all()


def test_a_restatement_keeps_its_history_and_never_rewrites_the_first_report(tmp_path: Path, warehouse: Home) -> None:
    """Insert a later, restated BABA quarter into a copy of the warehouse and rebuild the marts with dbt."""
    home = tmp_path / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("gapwatch.lock"))
    database = duckdb.connect(str(home / "gapwatch.duckdb"))
    try:
        before = database.sql(
            "select * exclude (inputs_loaded_through) from marts.execution_gap "
            "where ticker = 'BABA' and fiscal_period_end = '2026-06-30'"
        ).fetchall()
        database.execute(
            """
            insert into raw.fundamentals
            select * replace (
                revenue * 2 as revenue, date '2026-11-18' as report_date,
                timestamp '2026-11-18 21:00:00' as available_at, 'restated' as load_id,
                now()::timestamp as loaded_at
            )
            from raw.fundamentals where ticker = 'BABA' and fiscal_period_end = '2026-06-30'
            """
        )
    finally:
        database.close()
    result = dbt_runner.build(load_settings({"GAPWATCH_HOME": str(home)}))
    assert result.success, result.output_tail
    database = duckdb.connect(str(home / "gapwatch.duckdb"), read_only=True)
    try:
        after = database.sql(
            "select * exclude (inputs_loaded_through) from marts.execution_gap "
            "where ticker = 'BABA' and fiscal_period_end = '2026-06-30'"
        ).fetchall()
        flags = database.sql(
            "select is_restated, latest_report_date from intermediate.int_execution_gap_latest_vintage "
            "where ticker = 'BABA' and fiscal_period_end = '2026-06-30'"
        ).fetchall()
        vintages = database.sql(
            "select report_date, is_first_report, superseded_on, revenue_ttm from intermediate.int_fundamentals_ttm "
            "where ticker = 'BABA' and fiscal_period_end = '2026-06-30' order by report_date"
        ).fetchall()
        # the next quarter was first reported before the restatement: it must not see it either
        next_quarter = database.sql(
            "select load_id from marts.execution_gap where ticker = 'BABA' and fiscal_period_end = '2026-09-30'"
        ).fetchone()
    finally:
        database.close()
    assert after == before
    assert flags == [(True, date(2026, 11, 18))]
    assert [(v[0], v[1], v[2]) for v in vintages] == [
        (vintages[0][0], True, date(2026, 11, 18)),
        (date(2026, 11, 18), False, None),
    ]
    assert vintages[1][3] > vintages[0][3]
    assert "restated" not in next_quarter[0]


def _cross_sections_in_pandas(observations: pd.DataFrame, min_observations: int) -> list[dict]:
    """int_signal_cross_sections re-derived row by row from its input (docs: formula_signal_evaluation_*):
    per quarter, group (and pooled), horizon, basis and gap version, every company's latest gap known by
    then; complete cross-sections only; Spearman IC (average ranks), tercile spread, least-squares slope."""
    pooled = observations.assign(group_name="pooled")
    rows = []
    for (quarter, group), members in pd.concat([observations, pooled]).groupby(["calendar_quarter_end", "group_name"]):
        for version in sorted(members["gap_known_at"].unique()):
            known = members[members["gap_known_at"] <= version].sort_values("gap_known_at")
            latest = known.groupby(["horizon", "reward_basis", "ticker", "fiscal_period_end"]).tail(1)
            for (horizon, basis), section in latest.groupby(["horizon", "reward_basis"]):
                if section["reward_pct"].isna().any():
                    continue  # a partial cross-section would change later: not shown
                n = len(section)
                statistics = {"rank_ic": None, "tercile_spread_pp": None, "reward_slope_pp_per_gap": None}
                if n >= min_observations:
                    gap, reward = section["execution_gap"], section["reward_pct"]
                    gap_ranks, reward_ranks = gap.rank(method="average"), reward.rank(method="average")
                    if gap_ranks.nunique() > 1 and reward_ranks.nunique() > 1:
                        statistics["rank_ic"] = float(np.corrcoef(gap_ranks, reward_ranks)[0, 1])
                    ordered = section.sort_values(["execution_gap", "ticker"])["reward_pct"].to_numpy()
                    sizes = [n // 3 + (1 if i < n % 3 else 0) for i in range(3)]  # ntile(3): extras go first
                    statistics["tercile_spread_pp"] = ordered[n - sizes[2] :].mean() - ordered[: sizes[0]].mean()
                    if gap.nunique() > 1:
                        statistics["reward_slope_pp_per_gap"] = float(
                            ((gap - gap.mean()) * (reward - reward.mean())).sum() / ((gap - gap.mean()) ** 2).sum()
                        )
                rows.append(
                    {"calendar_quarter_end": quarter, "group_name": group, "horizon": horizon,
                     "reward_basis": basis, "gap_known_at": version, "observation_count": n, **statistics}
                )  # fmt: skip
    return rows


def test_signal_cross_sections_match_pandas(warehouse: Home) -> None:
    """Every cross-section's count, rank IC, tercile spread and slope (computed in dbt from exact integer and
    fixed-point sums) equal a row-by-row computation in pandas of the same definitions."""
    connection = duckdb.connect(str(warehouse.path / "gapwatch.duckdb"), read_only=True)
    try:
        observations = connection.sql("select * from intermediate.int_signal_observations").df()
        stored = connection.sql("select * from intermediate.int_signal_cross_sections").df()
    finally:
        connection.close()
    expected = _cross_sections_in_pandas(observations, min_observations=5)  # dbt_project.yml's default
    key = ["calendar_quarter_end", "group_name", "horizon", "reward_basis", "gap_known_at"]
    assert len(expected) == len(stored) > 100
    assert sum(1 for row in expected if row["rank_ic"] is not None) > 50

    def key_of(row: dict) -> tuple:
        dated = ("calendar_quarter_end", "gap_known_at")
        return tuple(str(pd.Timestamp(row[c])) if c in dated else row[c] for c in key)

    by_key = {key_of(row): row for row in stored.to_dict("records")}
    for row in expected:
        found = by_key[key_of(row)]
        assert found["observation_count"] == row["observation_count"], row
        for column in ("rank_ic", "tercile_spread_pp", "reward_slope_pp_per_gap"):
            if row[column] is None:
                assert pd.isna(found[column]), (column, row, found)
            else:
                assert math.isclose(found[column], row[column], rel_tol=1e-9, abs_tol=1e-9), (column, row, found)
