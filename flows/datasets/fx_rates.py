"""Daily FX fixings (``raw.fx_rates``): US dollars per unit of each non-USD currency the universe uses."""

from __future__ import annotations

from typing import Any

import pandas as pd

from flows.datasets.base import Batch, CheckContext, Column, Cursor, Dataset, ExtractRequest, LivePlan, Table
from flows.datasets.checks import not_after, to_timestamps
from flows.datasets.freshness import Weekdays
from flows.sources.jobs import KeyJob
from flows.sources.sample import generator

TABLE = Table(
    "raw.fx_rates",
    (
        Column("currency", "varchar", nullable=False, comment="HKD | CNY | TWD ..."),
        Column("rate_date", "date", nullable=False),
        Column("usd_per_unit", "double", nullable=False),
        Column("pair", "varchar", nullable=False, comment="Yahoo symbol, e.g. 'HKDUSD=X'"),
        Column("source", "varchar", nullable=False),
    ),
    keys=("currency", "rate_date"),
    date_column="rate_date",
    comment="Daily FX fixings: US dollars per one unit of `currency`.",
)


def extract_sample(request: ExtractRequest) -> Batch:
    settings = request.settings
    currencies = settings.universe.fx_currencies
    starts = request.window_starts(currencies, default=request.start or settings.sample.start_date)
    frame = generator.generate_fx(currencies, settings.sample, start=starts, end=request.as_of)
    return Batch("fx_rates", "sample", frame, min(starts.values(), default=None), request.as_of)


def plan_live(request: ExtractRequest) -> LivePlan:
    """One Yahoo chart request per currency pair (``<CCY>USD=X``)."""
    settings = request.settings
    starts = request.window_starts(settings.universe.fx_currencies, default=settings.sample.start_date)
    jobs = []
    for currency, begin in starts.items():
        symbol = generator.FX_PAIR.format(currency=currency)
        jobs.append(
            KeyJob(
                symbol,
                "yahoo_fx",
                {"currency": currency, "start": begin.isoformat(), "end": request.as_of.isoformat()},
                "yahoo",
                "yahoo_chart",
                {"symbol": symbol, "start": begin, "end": request.as_of},
            )
        )
    return LivePlan("yahoo", jobs)


def derive_checks(frame: pd.DataFrame, context: CheckContext) -> dict[str, Any]:
    """On a weekday, not after --as-of."""
    if "rate_date" not in frame.columns:
        return {}
    return {
        "gx_is_weekday": to_timestamps(frame["rate_date"]).dt.dayofweek < 5,
        "gx_not_after_as_of": not_after(frame["rate_date"], context.as_of),
    }


DATASET = Dataset(
    name="fx_rates",
    family="prices",  # fetched with the prices: the same source, the same days
    description="daily FX fixings per currency (sample, or Yahoo's chart API)",
    table=TABLE,
    cursor=Cursor("currency", sample=("sample",), live=("yahoo",)),
    extract_sample=extract_sample,
    plan_live=plan_live,
    derive_checks=derive_checks,
    freshness=Weekdays(column="rate_date"),
)
