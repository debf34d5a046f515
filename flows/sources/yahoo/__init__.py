"""Yahoo Finance: daily bars and FX (v8 chart API) and quarterly fundamentals (fundamentals-timeseries API).

``client`` builds the requests (through the shared :class:`flows.sources.http.HttpClient`)
and returns raw bodies for the landing zone; ``parser`` turns landed bodies into
frames with the raw-table columns. The parser never touches the network.
Registered here: client ``yahoo``; fetchers and parsers ``yahoo_chart``, ``yahoo_timeseries``;
parser ``yahoo_fx`` (an FX pair's chart).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from flows.settings import LiveSettings, Settings
from flows.sources.fetch import default_client
from flows.sources.http import HttpClient
from flows.sources.registry import register_client, register_fetcher, register_parser
from flows.sources.yahoo import client, parser


def _end(meta: dict[str, Any]) -> date | None:
    return date.fromisoformat(meta["end"]) if "end" in meta else None


@register_client("yahoo")
def _client(live: LiveSettings) -> HttpClient:
    return default_client("yahoo", live)


@register_fetcher("yahoo_chart")
def _fetch_chart(http: HttpClient, args: dict[str, Any], live: LiveSettings) -> bytes:
    return client.fetch_chart(http, args["symbol"], start=args["start"], end=args["end"])


@register_fetcher("yahoo_timeseries")
def _fetch_timeseries(http: HttpClient, args: dict[str, Any], live: LiveSettings) -> bytes:
    return client.fetch_timeseries(http, args["symbol"], start=args["start"], end=args["end"])


@register_parser("yahoo_chart")
def _parse_chart(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    return parser.parse_chart(body, security=settings.universe.get(meta["ticker"]), end=_end(meta))


@register_parser("yahoo_fx")
def _parse_fx(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    return parser.parse_fx_chart(body, currency=meta["currency"], end=_end(meta))


@register_parser("yahoo_timeseries")
def _parse_timeseries(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    frame = parser.parse_timeseries(
        body,
        security=settings.universe.get(meta["ticker"]),
        reporting_lag_days=settings.live.reporting_lag_days,
        as_of=_end(meta),
    )
    return frame.assign(period_months=3)
