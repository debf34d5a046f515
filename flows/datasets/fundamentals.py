"""Quarterly (and, for annual-only filers, yearly) statements of every company, in its reporting currency
(``raw.fundamentals``). One row per (ticker, fiscal period, period length, report date): a restatement is a
new row."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from flows.availability import LocalTime
from flows.datasets.base import (
    Batch,
    CheckContext,
    Column,
    Cursor,
    Dataset,
    ExtractRequest,
    LivePlan,
    Table,
    available_at_column,
)
from flows.datasets.checks import not_after
from flows.datasets.freshness import LatestOnly
from flows.sources.jobs import KeyJob
from flows.sources.sample import generator

# A report known only by its date is public after that day's US close (the after-close rule).
AVAILABILITY = LocalTime("report_date")

TABLE = Table(
    "raw.fundamentals",
    (
        Column("ticker", "varchar", nullable=False),
        Column("fiscal_period_end", "date", nullable=False),
        Column("fiscal_year", "integer", nullable=False),
        Column("fiscal_quarter", "integer", nullable=False),
        Column("report_date", "date", nullable=False),
        Column("currency", "varchar", nullable=False, comment="the reporting currency"),
        Column("revenue", "double"),
        Column("operating_income", "double"),
        Column("net_income", "double"),
        Column("rd_expense", "double"),
        Column("capex", "double", comment="a positive amount spent"),
        Column("shares_outstanding", "double"),
        Column(
            "period_months",
            "integer",
            nullable=False,
            default="3",
            comment="3: fiscal quarter; 12: fiscal year (20-F filers)",
        ),
        Column("source", "varchar", nullable=False),
        available_at_column(AVAILABILITY, "the filing's acceptance time, else report_date after the US close"),
    ),
    keys=("ticker", "fiscal_period_end", "period_months", "report_date"),
    date_column="report_date",
    comment="Quarterly fundamentals in the reporting currency; flow amounts are for the period, not year to date.",
)

# Live: a Yahoo company's window starts this long before its last report (a report revises the year before).
YAHOO_LOOKBACK_DAYS = 400


def _companies(request: ExtractRequest) -> list[str]:
    return [s.ticker for s in request.settings.universe.securities if s.group != "benchmark"]


def extract_sample(request: ExtractRequest) -> Batch:
    settings = request.settings
    starts = request.window_starts(_companies(request), default=request.start or date.min)
    frame = generator.generate_fundamentals(settings.universe, settings.sample, start=starts, end=request.as_of)
    return Batch("fundamentals", "sample", frame, request.start, request.as_of)


def plan_live(request: ExtractRequest) -> LivePlan:
    """SEC companyfacts for the US AI leaders with a CIK (when a contact User-Agent is set), else Yahoo's
    fundamentals time series."""
    settings = request.settings
    jobs = []
    for security in [s for s in settings.universe.securities if s.group != "benchmark"]:
        if security.cik and security.group == "us_ai_leader" and settings.live.sec_user_agent:
            jobs.append(
                KeyJob(
                    security.ticker,
                    "sec_companyfacts",
                    {"ticker": security.ticker, "cik": security.cik},
                    "sec_edgar",
                    "sec_companyfacts",
                    {"cik": security.cik},
                )
            )
            continue
        (begin,) = request.window_starts(
            [security.ticker], default=settings.sample.start_date, lookback_days=YAHOO_LOOKBACK_DAYS
        ).values()
        jobs.append(
            KeyJob(
                security.ticker,
                "yahoo_timeseries",
                {"ticker": security.ticker, "start": begin.isoformat(), "end": request.as_of.isoformat()},
                "yahoo",
                "yahoo_timeseries",
                {"symbol": security.ticker, "start": begin, "end": request.as_of},
            )
        )
    return LivePlan("sec_edgar+yahoo", jobs)


def derive_checks(frame: pd.DataFrame, context: CheckContext) -> dict[str, Any]:
    """Reported by --as-of, in the company's reporting currency."""
    if not {"ticker", "report_date", "currency"} <= set(frame.columns):
        return {}
    reporting = {s.ticker: s.reporting_currency for s in context.settings.universe.securities}
    return {
        "gx_not_after_as_of": not_after(frame["report_date"], context.as_of),
        "gx_currency_matches_reporting": [
            reporting.get(ticker) == currency
            for ticker, currency in zip(frame["ticker"], frame["currency"], strict=True)
        ],
    }


DATASET = Dataset(
    name="fundamentals",
    family="fundamentals",
    description="quarterly statements per company (sample, or SEC companyfacts / Yahoo fundamentals)",
    table=TABLE,
    cursor=Cursor("ticker", sample=("sample",), live=("sec_edgar", "yahoo")),
    extract_sample=extract_sample,
    plan_live=plan_live,
    derive_checks=derive_checks,
    freshness=LatestOnly(column="report_date"),
    availability=AVAILABILITY,
)
