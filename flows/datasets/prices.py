"""Daily bars of every listing in the universe, in the listing's own currency (``raw.prices``)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from flows.calendars import is_session
from flows.datasets.base import Batch, CheckContext, Column, Cursor, Dataset, ExtractRequest, LivePlan, Table
from flows.datasets.checks import not_after, to_timestamps
from flows.datasets.freshness import TradingSessions
from flows.sources.jobs import KeyJob
from flows.sources.sample import generator

TABLE = Table(
    "raw.prices",
    (
        Column("ticker", "varchar", nullable=False),
        Column("trade_date", "date", nullable=False),
        Column("open", "double"),
        Column("high", "double"),
        Column("low", "double"),
        Column("close", "double", nullable=False, comment="as traded, not adjusted"),
        Column("adj_close", "double", nullable=False, comment="split- and dividend-adjusted: ratios are total returns"),
        Column("volume", "bigint"),
        Column("dividend", "double", nullable=False, comment="cash per share going ex on trade_date (0 if none)"),
        Column("split_ratio", "double", nullable=False, comment="new shares per old share effective on trade_date"),
        Column("currency", "varchar", nullable=False, comment="the listing's trading currency"),
        Column("exchange", "varchar", nullable=False, comment="trading calendar code: XNYS | XNAS | XHKG"),
        Column("source", "varchar", nullable=False, comment="'sample' | 'yahoo'"),
    ),
    keys=("ticker", "trade_date"),
    date_column="trade_date",
    comment="Daily bars in the listing's own currency: OHLC as traded, adj_close adjusted for splits and dividends.",
)


def extract_sample(request: ExtractRequest) -> Batch:
    """Sample bars for every listing from its high-water mark (minus the look-back) to the as-of date."""
    settings = request.settings
    window = _sample_window(request, request.selected(settings.universe.tickers))
    frame = generator.generate_prices(settings.universe, settings.sample, window, tickers=list(window.starts))
    return Batch("prices", "sample", frame, min(window.starts.values(), default=None), request.as_of)


def _sample_window(request: ExtractRequest, tickers: list[str]) -> generator.PriceWindow:
    """Where the sample extract starts for each of ``tickers``: its high-water mark minus the look-back, else the
    sample's first day (a backfill: its start)."""
    default = request.start or request.settings.sample.start_date
    starts = request.window_starts(tickers, default=default)
    return generator.PriceWindow(end=request.as_of, starts=starts, default_start=default)


def estimate_rows(request: ExtractRequest) -> dict[str, int]:
    """Rows the sample extract will bring per listing: the weekdays of its window (holidays are not counted
    out: an estimate that only sizes the parts of a large extraction)."""
    starts = _sample_window(request, request.settings.universe.tickers).starts
    end = np.datetime64(request.as_of + timedelta(days=1))
    counts = np.busday_count(np.array(list(starts.values()), dtype="datetime64[D]"), end)
    return {ticker: max(int(count), 0) for ticker, count in zip(starts, counts, strict=True)}


def plan_live(request: ExtractRequest) -> LivePlan:
    """One Yahoo chart request per listing, from its high-water mark (minus the look-back)."""
    settings = request.settings
    starts = request.window_starts(request.selected(settings.universe.tickers), default=settings.sample.start_date)
    jobs = [
        KeyJob(
            ticker,
            "yahoo_chart",
            {"ticker": ticker, "start": begin.isoformat(), "end": request.as_of.isoformat()},
            "yahoo",
            "yahoo_chart",
            {"symbol": ticker, "start": begin, "end": request.as_of},
        )
        for ticker, begin in starts.items()
    ]
    return LivePlan("yahoo", jobs)


def last_closes_before(connection: duckdb.DuckDBPyConnection, batch: pd.DataFrame) -> dict[str, float]:
    """Per ticker, the last stored close before the batch's first date for that ticker (the jump rule's
    previous close). Tickers are compared as text: a malformed batch may mix types (validation rejects it)."""
    if batch.empty or not {"ticker", "trade_date"} <= set(batch.columns):
        return {}
    firsts = (
        batch.assign(
            ticker=batch["ticker"].map(lambda value: None if pd.isna(value) else str(value)),
            trade_date=pd.to_datetime(batch["trade_date"], errors="coerce"),
        )
        .groupby("ticker", as_index=False)["trade_date"]
        .min()
    )
    query = """
        select prices.ticker, arg_max(prices.close, prices.trade_date)
        from raw.prices as prices
        join batch_firsts on prices.ticker = batch_firsts.ticker
            and prices.trade_date < cast(batch_firsts.trade_date as date)
        where prices.trade_date >= ?
        group by prices.ticker
    """
    earliest = firsts["trade_date"].min()
    cursor = connection.cursor()
    try:
        cursor.register("batch_firsts", pa.Table.from_pandas(firsts, preserve_index=False))
        # the last close is almost always within a few weeks: look there first, then further back only
        # for the tickers not found (a new listing, a long suspension)
        recent = None if pd.isna(earliest) else (earliest - pd.Timedelta(days=45)).date()
        closes = dict(cursor.execute(query, [recent]).fetchall()) if recent is not None else {}
        missing = firsts[~firsts["ticker"].isin(list(closes))]
        if len(missing):
            cursor.unregister("batch_firsts")
            cursor.register("batch_firsts", pa.Table.from_pandas(missing, preserve_index=False))
            closes.update(cursor.execute(query, [date.min]).fetchall())
    finally:
        cursor.close()
    return {str(ticker): float(close) for ticker, close in closes.items()}


JUMP_LIMIT = 0.6  # a one-day move larger than 60% (split-adjusted) is held back as suspect


def no_unexplained_jump(frame: pd.DataFrame, last_closes: dict[str, float]) -> pd.Series:
    """True unless close moved more than JUMP_LIMIT against the previous close without a split explaining it.

    The previous close of a ticker's first row in the batch is the last one stored in the warehouse.
    """
    if not {"ticker", "trade_date", "close", "split_ratio"} <= set(frame.columns):
        return pd.Series(True, index=frame.index)
    ordered = frame.assign(_date=to_timestamps(frame["trade_date"])).sort_values(["ticker", "_date"])
    close = pd.to_numeric(ordered["close"], errors="coerce")
    previous = close.groupby(ordered["ticker"]).shift()
    previous = previous.fillna(ordered["ticker"].map(last_closes))
    ratio = close * pd.to_numeric(ordered["split_ratio"], errors="coerce") / previous
    suspect = (ratio - 1).abs() > JUMP_LIMIT
    return (~suspect.fillna(False)).reindex(frame.index)


def matches_listing(frame: pd.DataFrame, listing: dict[str, tuple[str, str]]) -> pd.Series:
    """True where the row's (currency, exchange) is its ticker's listing; vectorised, with a per-row fallback
    for columns pandas cannot map (unhashable values in a malformed batch)."""
    try:
        tickers = frame["ticker"].astype(object)
        # object on both sides: a string dtype would box the batch's values into Arrow, which overflows on
        # an integer beyond 64 bits in a malformed currency column
        currency = tickers.map({ticker: pair[0] for ticker, pair in listing.items()}).astype(object)
        exchange = tickers.map({ticker: pair[1] for ticker, pair in listing.items()}).astype(object)
        matches = (currency == frame["currency"].astype(object)) & (exchange == frame["exchange"].astype(object))
        return matches.fillna(False).astype(bool)
    except TypeError:
        return pd.Series(
            [
                listing.get(ticker) == (currency, exchange)
                for ticker, currency, exchange in zip(
                    frame["ticker"], frame["currency"], frame["exchange"], strict=True
                )
            ],
            index=frame.index,
            dtype=bool,
        )


def derive_checks(frame: pd.DataFrame, context: CheckContext) -> dict[str, Any]:
    """On a trading session of the listing's exchange, not after --as-of, no unexplained jump, the listing's
    currency and exchange."""
    if not {"ticker", "trade_date", "exchange", "currency"} <= set(frame.columns):
        return {}
    universe = context.settings.universe
    on_calendar = pd.Series(False, index=frame.index)
    for exchange, rows in frame.groupby("exchange", sort=False):
        if exchange in {s.exchange for s in universe.securities}:
            on_calendar[rows.index] = is_session(str(exchange), rows["trade_date"])
    listing = {s.ticker: (s.currency, s.exchange) for s in universe.securities}
    return {
        "gx_on_exchange_calendar": on_calendar,
        "gx_not_after_as_of": not_after(frame["trade_date"], context.as_of),
        "gx_no_unexplained_jump": no_unexplained_jump(frame, context.history or {}),
        "gx_currency_matches_listing": matches_listing(frame, listing),
    }


DATASET = Dataset(
    name="prices",
    family="prices",
    description="daily bars per listing (sample, or Yahoo's chart API)",
    table=TABLE,
    cursor=Cursor("ticker", sample=("sample",), live=("yahoo",)),
    extract_sample=extract_sample,
    plan_live=plan_live,
    derive_checks=derive_checks,
    history=last_closes_before,
    estimate_rows=estimate_rows,
    freshness=TradingSessions(column="trade_date", key="ticker"),
)
