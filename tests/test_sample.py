"""The embedded sample generator: deterministic, prefix-stable, calendar-true, labelled."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pandas as pd

from flows.datasets import registry
from flows.settings import load_settings
from flows.sources.sample.generator import PriceWindow, generate_fundamentals, generate_fx, generate_prices
from flows.validation.gx import validate_frame

SETTINGS = load_settings({})
START = SETTINGS.sample.start_date


def _prices(end: date, *, settings=SETTINGS, start: date = START) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    return generate_prices(settings.universe, settings.sample, PriceWindow(end=end, starts={}, default_start=start))


def test_prices_are_prefix_stable_and_deterministic() -> None:
    short = _prices(date(2026, 6, 30))
    long = _prices(date(2026, 11, 20))
    merged = short.merge(long, on=["ticker", "trade_date"], suffixes=("", "_long"))
    assert len(merged) == len(short)
    for column in ("open", "high", "low", "close", "adj_close", "volume", "dividend", "split_ratio"):
        assert (merged[column] == merged[f"{column}_long"]).all(), column
    pd.testing.assert_frame_equal(short, _prices(date(2026, 6, 30)))


def test_a_window_returns_the_same_rows_as_the_full_history() -> None:
    full = _prices(date(2026, 11, 20))
    window = _prices(date(2026, 11, 20), start=date(2026, 11, 1))
    expected = full[full["trade_date"] >= date(2026, 11, 1)].reset_index(drop=True)
    pd.testing.assert_frame_equal(window.reset_index(drop=True), expected)


def test_adj_close_ratio_is_the_total_return_from_close_dividend_and_split() -> None:
    prices = _prices(date(2026, 11, 20)).sort_values(["ticker", "trade_date"])
    previous_close = prices.groupby("ticker")["close"].shift()
    previous_adj = prices.groupby("ticker")["adj_close"].shift()
    from_close = (prices["close"] * prices["split_ratio"] + prices["dividend"]) / previous_close - 1
    from_adj = prices["adj_close"] / previous_adj - 1
    both = pd.DataFrame({"close": from_close, "adj": from_adj}).dropna()
    assert np.allclose(both["close"], both["adj"], atol=2e-4)


def test_every_generated_row_is_labelled_sample() -> None:
    universe, sample = SETTINGS.universe, SETTINGS.sample
    frames = [
        _prices(date(2026, 1, 31)),
        generate_fx(universe.fx_currencies, sample, start={}, end=date(2026, 1, 31)),
        generate_fundamentals(universe, sample, start={}, end=date(2026, 1, 31)),
    ]
    for frame in frames:
        assert not frame.empty and set(frame["source"]) == {"sample"}


def test_fundamentals_are_reported_weeks_after_the_period() -> None:
    frame = generate_fundamentals(SETTINGS.universe, SETTINGS.sample, start={}, end=date(2026, 11, 20))
    lag = (pd.to_datetime(frame["report_date"]) - pd.to_datetime(frame["fiscal_period_end"])).dt.days
    assert lag.between(21, 60).all()
    assert (frame["report_date"] <= date(2026, 11, 20)).all()
    companies = {s.ticker for s in SETTINGS.universe.securities if s.group != "benchmark"}
    assert set(frame["ticker"]) == companies


def test_the_scaler_adds_synthetic_tickers_and_history_that_validate() -> None:
    scaled = load_settings({"GAPWATCH_SAMPLE_TICKERS": "12", "GAPWATCH_SAMPLE_YEARS": "2"})
    assert len(scaled.universe.securities) == len(SETTINGS.universe.securities) + 12
    assert scaled.sample.start_date == date(2025, 1, 1)
    synthetic = [s for s in scaled.universe.securities if s.is_synthetic]
    assert {s.exchange for s in synthetic} == {"XNYS", "XNAS", "XHKG"}
    prices = _prices(date(2026, 11, 20), settings=scaled, start=scaled.sample.start_date)
    assert set(prices["ticker"]) == set(scaled.universe.tickers)
    report = validate_frame(registry.get("prices"), prices, settings=scaled, as_of=date(2026, 11, 20))
    assert report.success, [failure.describe() for failure in report.failures]


def test_a_different_seed_gives_different_numbers() -> None:
    other = dataclasses.replace(SETTINGS, sample=dataclasses.replace(SETTINGS.sample, seed=7))
    a = _prices(date(2026, 1, 30))
    b = _prices(date(2026, 1, 30), settings=other)
    assert (a["trade_date"] == b["trade_date"]).all()
    assert not np.allclose(a["close"], b["close"])


# --- prefix stability: what a run as of D produced never changes when a later run adds days ----------------

EARLY, LATE = date(2026, 6, 30), date(2026, 9, 30)


def _assert_prefix(
    early: pd.DataFrame, late: pd.DataFrame, *, keys: list[str], cutoff_column: str, early_end: date = EARLY
) -> None:
    """Every row of ``early`` is in ``late`` unchanged, and ``late`` has no other row dated by the early end."""
    assert not early.empty
    shared = late[late[cutoff_column] <= early_end].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(early.sort_values(keys).reset_index(drop=True), shared)


def test_fundamentals_of_a_period_do_not_depend_on_the_as_of_date() -> None:
    universe, sample = SETTINGS.universe, SETTINGS.sample
    early = generate_fundamentals(universe, sample, start={}, end=EARLY)
    late = generate_fundamentals(universe, sample, start={}, end=LATE)
    keys = ["ticker", "fiscal_period_end"]
    _assert_prefix(early, late, keys=keys, cutoff_column="report_date")
    assert len(late) > len(early)  # a later as-of adds quarters ...
    # ... and a window (an incremental run) gives the same rows for the periods it covers
    window_start = date(2026, 1, 1)
    window = generate_fundamentals(universe, sample, start=dict.fromkeys(universe.tickers, window_start), end=LATE)
    expected = late[late["report_date"] >= window_start].sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(window.sort_values(keys).reset_index(drop=True), expected)
    # the regression: AMD's 2024-Q4 revenue was re-drawn by every new quarter end
    amd = [frame.set_index(keys).loc[("AMD", date(2024, 12, 31)), "revenue"] for frame in (early, late)]
    assert amd[0] == amd[1]


def test_fx_is_prefix_stable_and_a_window_gives_the_same_rows() -> None:
    currencies, sample = SETTINGS.universe.fx_currencies, SETTINGS.sample
    early = generate_fx(currencies, sample, start={}, end=EARLY)
    late = generate_fx(currencies, sample, start={}, end=LATE)
    _assert_prefix(early, late, keys=["currency", "rate_date"], cutoff_column="rate_date")
    window = generate_fx(currencies, sample, start=dict.fromkeys(currencies, date(2026, 7, 1)), end=LATE)
    expected = late[late["rate_date"] >= date(2026, 7, 1)].reset_index(drop=True)
    pd.testing.assert_frame_equal(window.reset_index(drop=True), expected)


def test_sample_filings_are_prefix_stable() -> None:
    from flows.sources.sample.filings import generate_filings

    universe, sample = SETTINGS.universe, SETTINGS.sample
    early = generate_filings(generate_fundamentals(universe, sample, start={}, end=EARLY), universe.securities)
    late = generate_filings(generate_fundamentals(universe, sample, start={}, end=LATE), universe.securities)
    _assert_prefix(early, late, keys=["cik", "accession_number"], cutoff_column="filing_date")


def test_curated_policy_events_are_prefix_stable() -> None:
    from flows.sources.curated import reader

    payload = reader.read_payload(SETTINGS.policy_events_file)
    early = reader.parse_events(payload, until=date(2023, 12, 31))
    late = reader.parse_events(payload, until=date(2026, 11, 20))
    _assert_prefix(early, late, keys=["event_id"], cutoff_column="event_date", early_end=date(2023, 12, 31))


def test_prices_of_a_day_do_not_depend_on_the_as_of_date() -> None:
    _assert_prefix(_prices(EARLY), _prices(LATE), keys=["ticker", "trade_date"], cutoff_column="trade_date")
