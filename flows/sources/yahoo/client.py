"""Requests to Yahoo Finance: the v8 chart API and the fundamentals-timeseries API.

Both functions return the raw response body so the caller can land it before
parsing (see :mod:`flows.sources.yahoo.parser`). Base URL, timeouts, retries
(429/5xx with ``Retry-After``, no retry on other 4xx), the rate limit and
error messages belong to the shared :class:`~flows.sources.http.HttpClient`
the caller passes in (``HttpClient(source="yahoo", base_url=...)``).

- ``GET /v8/finance/chart/{symbol}``: daily bars, dividends and splits, with
  ``period1``/``period2`` as UTC epoch seconds. ``period1`` is one day early
  because bars are stamped at the session open in UTC: an FX bar for a London
  date in summer is stamped 23:00 UTC the day before. Extra early bars are
  harmless (loads upsert by natural key).
- ``GET /ws/fundamentals-timeseries/v1/finance/timeseries/{symbol}``: quarterly
  statement lines by type (``symbol`` is repeated as a query parameter, as
  Yahoo's own pages and yfinance send it). Yahoo serves only the last few
  quarters (about five) whatever ``period1`` says.

Symbols are percent-encoded in the path (``^HSI`` -> ``%5EHSI``,
``HKDUSD=X`` -> ``HKDUSD%3DX``). An error envelope sent with HTTP 200 is a
successful fetch here; the parser raises on it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

from flows.sources.http import HttpClient
from flows.sources.yahoo.parser import TIMESERIES_FIELDS

CHART_PATH = "/v8/finance/chart/{symbol}"
TIMESERIES_PATH = "/ws/fundamentals-timeseries/v1/finance/timeseries/{symbol}"
TIMESERIES_TYPES: tuple[str, ...] = tuple(TIMESERIES_FIELDS)
PERIOD1_MARGIN = timedelta(days=1)


def fetch_chart(client: HttpClient, symbol: str, *, start: date, end: date) -> bytes:
    """Raw chart JSON for ``symbol``: daily bars from ``start`` to ``end`` (local dates), dividends and splits."""
    _check_window(symbol, start, end)
    params = {
        "period1": _epoch(start - PERIOD1_MARGIN),
        "period2": _epoch(end + timedelta(days=1)),
        "interval": "1d",
        "events": "div,splits",
        "includeAdjustedClose": "true",
    }
    return client.get(_path(CHART_PATH, symbol), key=symbol, params=params).content


def fetch_timeseries(client: HttpClient, symbol: str, *, start: date, end: date) -> bytes:
    """Raw fundamentals-timeseries JSON for ``symbol``: the quarterly types in ``TIMESERIES_TYPES``."""
    _check_window(symbol, start, end)
    params = {
        "symbol": symbol,
        "type": ",".join(TIMESERIES_TYPES),
        "period1": _epoch(start),
        "period2": _epoch(end + timedelta(days=1)),
        "merge": "false",
    }
    return client.get(_path(TIMESERIES_PATH, symbol), key=symbol, params=params).content


def _path(template: str, symbol: str) -> str:
    return template.format(symbol=quote(symbol, safe=""))


def _epoch(day: date) -> int:
    """Seconds since the epoch at 00:00 UTC of ``day``."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _check_window(symbol: str, start: date, end: date) -> None:
    if end < start:
        raise ValueError(f"Yahoo request for {symbol}: end ({end}) is before start ({start}); swap them.")
