"""Turn landed Yahoo Finance bodies into frames with the raw-table columns.

Endpoints and the fields read
-----------------------------
``GET /v8/finance/chart/{symbol}?interval=1d&events=div,splits&includeAdjustedClose=true``::

    {"chart": {"result": [{
        "meta": {"symbol", "currency", "exchangeTimezoneName", ...},
        "timestamp": [epoch seconds, ...],
        "events": {"dividends": {"<epoch>": {"amount", "date"}},
                   "splits": {"<epoch>": {"date", "numerator", "denominator", "splitRatio"}}},
        "indicators": {"quote": [{"open": [...], "high": [...], "low": [...], "close": [...], "volume": [...]}],
                       "adjclose": [{"adjclose": [...]}]}}],
      "error": null}}

Used for listed securities (:func:`parse_chart` -> ``raw.prices``) and for FX
pairs such as ``HKDUSD=X`` (:func:`parse_fx_chart` -> ``raw.fx_rates``).

``GET /ws/fundamentals-timeseries/v1/finance/timeseries/{symbol}?type=quarterlyTotalRevenue,...``::

    {"timeseries": {"result": [
        {"meta": {"symbol": ["BABA"], "type": ["quarterlyTotalRevenue"]},
         "timestamp": [...],
         "quarterlyTotalRevenue": [{"asOfDate": "2025-06-30", "periodType": "3M", "currencyCode": "CNY",
                                    "reportedValue": {"raw": 247652000000, "fmt": "247.65B"}}, null, ...]},
        ...],
      "error": null}}

Used by :func:`parse_timeseries` -> ``raw.fundamentals``.

Quirks handled
--------------
- Bar timestamps are UTC epoch seconds at the session open (the live bar
  carries the time of its last trade). The trade date is the *local* date in
  ``meta.exchangeTimezoneName`` (falling back to the security's exchange
  timezone): a 0700.HK bar at 01:30 UTC is that HK date; an FX bar at 23:00
  UTC in summer is the next London date.
- ``null`` inside the indicator arrays means no bar: such rows are dropped,
  never zero-filled. A row with a close but no adjusted close is dropped too.
- Yahoo sometimes repeats the live bar (once at the session open, once at the
  last trade): one row per local date is kept, the last one.
- Yahoo's open/high/low/close, dividend amounts and volumes are adjusted for
  splits. Our contract wants them as traded, so each bar's prices and
  dividend are multiplied (and its volume divided) by the product of the
  ``numerator/denominator`` of the splits dated after it *in the payload*. A
  window that ends before a later split therefore stays adjusted for that
  split: fetch through today to get as-traded values. ``adj_close`` is
  Yahoo's ``adjclose`` unchanged (its close when the array is absent).
- Dividends and splits are placed on the bar with the same local date; one
  that falls on a missing (null) bar is lost with that bar.
- Error envelopes (``{"chart": {"result": null, "error": {...}}}``, also sent
  with HTTP 200, and Yahoo's generic ``{"finance": {"error": ...}}``), bodies
  that are not JSON, a missing ``meta`` and a payload for another symbol raise
  :class:`YahooPayloadError` (a :class:`~flows.sources.http.SourceError`) that
  names the symbol and Yahoo's code and description.
- Fundamentals: Yahoo gives the fiscal period end (``asOfDate``) but no
  filing date, so ``report_date`` is ``asOfDate + reporting_lag_days`` -- an
  assumption, not a fact. ``null`` entries (padding) are skipped, a type
  without data leaves its column null, capital expenditure (reported as a
  negative cash flow) is made a positive amount, and fiscal year/quarter are
  the calendar year/quarter of the period end.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from flows.settings import Security
from flows.sources.http import SourceError
from flows.sources.sample.generator import FUNDAMENTAL_COLUMNS, FX_COLUMNS, PRICE_COLUMNS

SOURCE = "yahoo"
FX_TIMEZONE = "Europe/London"  # where Yahoo's FX day ends; used when meta names no timezone
QUARTER = "3M"

# fundamentals-timeseries type -> raw.fundamentals column
TIMESERIES_FIELDS: dict[str, str] = {
    "quarterlyTotalRevenue": "revenue",
    "quarterlyOperatingIncome": "operating_income",
    "quarterlyNetIncome": "net_income",
    "quarterlyResearchAndDevelopment": "rd_expense",
    "quarterlyCapitalExpenditure": "capex",
    "quarterlyOrdinarySharesNumber": "shares_outstanding",  # balance sheet: ordinary shares outstanding at period end
}
NOT_MONEY = frozenset({"shares_outstanding"})

PRICE_DTYPES: dict[str, str] = {
    "ticker": "str", "trade_date": "object", "open": "float64", "high": "float64", "low": "float64",
    "close": "float64", "adj_close": "float64", "volume": "Int64", "dividend": "float64",
    "split_ratio": "float64", "currency": "str", "exchange": "str", "source": "str",
}  # fmt: skip
FX_DTYPES: dict[str, str] = {
    "currency": "str", "rate_date": "object", "usd_per_unit": "float64", "pair": "str", "source": "str",
}  # fmt: skip
FUNDAMENTAL_DTYPES: dict[str, str] = {
    "ticker": "str", "fiscal_period_end": "object", "fiscal_year": "int64", "fiscal_quarter": "int64",
    "report_date": "object", "currency": "str", "revenue": "float64", "operating_income": "float64",
    "net_income": "float64", "rd_expense": "float64", "capex": "float64", "shares_outstanding": "float64",
    "source": "str",
}  # fmt: skip


class YahooPayloadError(SourceError):
    """A Yahoo body that cannot be used: not JSON, an error envelope, another symbol, a broken shape."""

    def __init__(self, message: str, *, key: str, source: str = SOURCE) -> None:
        super().__init__(message, source=source, key=key, status=None)


# --- chart: prices ---------------------------------------------------------------------------------


def parse_chart(body: bytes, *, security: Security, source: str = SOURCE, end: date | None = None) -> pd.DataFrame:
    """Daily bars as traded (``PRICE_COLUMNS``) from a v8 chart body for ``security``.

    ``end``, when given, drops bars dated after it (Yahoo may append the live bar past ``period2``).
    """
    key = security.ticker
    result = _chart_result(body, symbol=key, source=source)
    meta = result["meta"]
    zone = _zone(meta.get("exchangeTimezoneName"), security.timezone, key=key, source=source)
    bars = _bars(result, zone=zone, key=key, source=source)
    if end is not None:
        bars = bars[bars["local_date"] <= end]
    days = list(bars["local_date"])

    splits = _splits(result, zone=zone, key=key, source=source)
    later = [_product(ratio for day, ratio in splits if day > bar_day) for bar_day in days]
    split_on = _by_day(splits, combine=math.prod)
    dividends = [
        (day, amount * _product(ratio for split_day, ratio in splits if split_day > day))
        for day, amount in _dividends(result, zone=zone, key=key, source=source)
    ]
    dividend_on = _by_day(dividends, combine=sum)

    factor = pd.Series(later, index=bars.index, dtype="float64")
    volume = (bars["volume"] / factor).round()
    unreadable = volume.abs() >= 2**63  # also inf: beyond any share count (and Int64)
    if unreadable.any():
        raise YahooPayloadError(
            f"Yahoo chart for {key} has a volume that is not a share count: {_short(list(volume[unreadable]))}.",
            key=key,
            source=source,
        )
    currency = meta.get("currency")
    frame = pd.DataFrame(
        {
            "ticker": key,
            "trade_date": days,
            "open": bars["open"] * factor,
            "high": bars["high"] * factor,
            "low": bars["low"] * factor,
            "close": bars["close"] * factor,
            "adj_close": bars["adjclose"],
            "volume": pd.array([None if pd.isna(v) else int(v) for v in volume], dtype="Int64"),
            "dividend": [dividend_on.get(day, 0.0) for day in days],
            "split_ratio": [split_on.get(day, 1.0) for day in days],
            "currency": str(currency).upper() if currency else security.currency,
            "exchange": security.exchange,
            "source": source,
        },
        index=bars.index,
    )
    return _typed(frame, PRICE_COLUMNS, PRICE_DTYPES, key=key, source=source)


# --- chart: FX -------------------------------------------------------------------------------------


def parse_fx_chart(body: bytes, *, currency: str, source: str = SOURCE, end: date | None = None) -> pd.DataFrame:
    """Daily US dollars per unit of ``currency`` (``FX_COLUMNS``) from the chart body of ``<CCY>USD=X``.

    Weekend dates (Yahoo's FX day sometimes spills into Sunday) and null bars are skipped.
    """
    currency = currency.upper()
    pair = f"{currency}USD=X"
    result = _chart_result(body, symbol=pair, source=source)
    meta = result["meta"]
    quoted_in = meta.get("currency")
    if quoted_in and str(quoted_in).upper() != "USD":
        raise YahooPayloadError(
            f"Yahoo chart for {pair} is quoted in {quoted_in!r}, not USD: usd_per_unit would be wrong. "
            "Check the pair symbol.",
            key=pair,
            source=source,
        )
    zone = _zone(meta.get("exchangeTimezoneName"), FX_TIMEZONE, key=pair, source=source)
    bars = _bars(result, zone=zone, key=pair, source=source, need_adjclose=False)
    keep = bars["local_date"].map(lambda day: day.weekday() < 5).astype(bool)
    if end is not None:
        keep &= bars["local_date"] <= end
    bars = bars[keep]
    frame = pd.DataFrame(
        {
            "currency": currency,
            "rate_date": list(bars["local_date"]),
            "usd_per_unit": bars["close"],
            "pair": pair,
            "source": source,
        },
        index=bars.index,
    )
    return _typed(frame, FX_COLUMNS, FX_DTYPES, key=pair, source=source)


# --- fundamentals-timeseries -----------------------------------------------------------------------


def parse_timeseries(
    body: bytes,
    *,
    security: Security,
    reporting_lag_days: int,
    source: str = SOURCE,
    as_of: date | None = None,
) -> pd.DataFrame:
    """Quarterly fundamentals (``FUNDAMENTAL_COLUMNS``), one row per fiscal period end.

    Yahoo gives no filing date: ``report_date`` is the period end plus
    ``reporting_lag_days``. ``as_of``, when given, drops rows whose assumed
    report date is after it (they are not yet "known" and load on a later run).
    """
    key = security.ticker
    document = _load_json(body, key=key, source=source)
    envelope = _envelope(document, "timeseries", key=key, source=source)
    results = envelope.get("result")
    if not isinstance(results, list):
        raise YahooPayloadError(
            f"Yahoo fundamentals-timeseries for {key} has no result list (result is {results!r}) and no error.",
            key=key,
            source=source,
        )
    values: dict[date, dict[str, float]] = {}
    currencies: dict[date, set[str]] = {}
    for entry in results:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("meta"), Mapping):
            raise YahooPayloadError(
                f"Yahoo fundamentals-timeseries for {key} has a result without 'meta': {_short(entry)}.",
                key=key,
                source=source,
            )
        meta = entry["meta"]
        listed = meta.get("symbol") or []
        symbols = [str(symbol).upper() for symbol in (listed if isinstance(listed, list) else [listed])]
        if key.upper() not in symbols:
            raise YahooPayloadError(
                f"Yahoo fundamentals-timeseries payload is for {symbols or 'no symbol'}, not for {key}. "
                "The landed file belongs to another ticker; re-fetch it.",
                key=key,
                source=source,
            )
        types = meta.get("type") or []
        for yahoo_type in types if isinstance(types, list) else [types]:
            column = TIMESERIES_FIELDS.get(yahoo_type) if isinstance(yahoo_type, str) else None
            if column is None:
                continue
            items = entry.get(yahoo_type) or []
            if not isinstance(items, list):
                raise YahooPayloadError(
                    f"Yahoo {yahoo_type} for {key} is not a list of entries: {_short(items)}.", key=key, source=source
                )
            for item in items:
                parsed = _timeseries_item(item, yahoo_type=yahoo_type, key=key, source=source)
                if parsed is None:
                    continue
                period_end, value, code = parsed
                values.setdefault(period_end, {})[column] = -value + 0.0 if column == "capex" else value
                if code and column not in NOT_MONEY:
                    currencies.setdefault(period_end, set()).add(code)
    rows = []
    for period_end in sorted(values):
        codes = currencies.get(period_end, set())
        if len(codes) > 1:
            raise YahooPayloadError(
                f"Yahoo fundamentals for {key} mix currencies {sorted(codes)} for the period ending {period_end}; "
                "refusing to load a row that adds amounts in different currencies.",
                key=key,
                source=source,
            )
        report_date = period_end + timedelta(days=reporting_lag_days)
        if as_of is not None and report_date > as_of:
            continue
        rows.append(
            {
                "ticker": key,
                "fiscal_period_end": period_end,
                "fiscal_year": period_end.year,
                "fiscal_quarter": (period_end.month - 1) // 3 + 1,
                "report_date": report_date,
                "currency": codes.pop() if codes else security.reporting_currency,
                **{column: values[period_end].get(column, math.nan) for column in TIMESERIES_FIELDS.values()},
                "source": source,
            }
        )
    frame = pd.DataFrame(rows, columns=FUNDAMENTAL_COLUMNS)
    return _typed(frame, FUNDAMENTAL_COLUMNS, FUNDAMENTAL_DTYPES, key=key, source=source)


def _timeseries_item(item: Any, *, yahoo_type: str, key: str, source: str) -> tuple[date, float, str | None] | None:
    """(period end, value, currency code) of one entry, or None for a null/padding or non-quarter entry."""
    if item is None:
        return None
    if not isinstance(item, Mapping):
        raise YahooPayloadError(
            f"Yahoo {yahoo_type} for {key} has an entry that is not an object: {_short(item)}.", key=key, source=source
        )
    if item.get("periodType") not in (None, QUARTER):
        return None
    reported = item.get("reportedValue")
    raw = reported.get("raw") if isinstance(reported, Mapping) else None
    if raw is None:
        return None
    try:
        period_end = date.fromisoformat(str(item.get("asOfDate")))
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise YahooPayloadError(
            f"Yahoo {yahoo_type} for {key} has an unreadable entry: {_short(item)} "
            "(expected an ISO asOfDate and a numeric reportedValue.raw).",
            key=key,
            source=source,
        ) from None
    code = item.get("currencyCode")
    return period_end, value, str(code).upper() if code else None


# --- shared helpers --------------------------------------------------------------------------------


def _load_json(body: bytes, *, key: str, source: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError; absurdly deep nesting
        raise YahooPayloadError(
            f"Yahoo payload for {key} is not JSON ({exc}); it starts with {bytes(body[:80])!r}. "
            "An HTML page usually means a consent or rate-limit wall: check the landed file.",
            key=key,
            source=source,
        ) from None


def _envelope(document: Any, root: str, *, key: str, source: str) -> Mapping[str, Any]:
    """The ``{root: {...}}`` object, after raising on Yahoo's error envelopes."""
    if isinstance(document, Mapping) and root not in document and isinstance(document.get("finance"), Mapping):
        _raise_if_error(document["finance"], what=root, key=key, source=source)
    envelope = document.get(root) if isinstance(document, Mapping) else None
    if not isinstance(envelope, Mapping):
        keys = sorted(document) if isinstance(document, Mapping) else type(document).__name__
        raise YahooPayloadError(
            f"Yahoo payload for {key} has no '{root}' object (found {keys}); is it a {root} response?",
            key=key,
            source=source,
        )
    _raise_if_error(envelope, what=root, key=key, source=source)
    return envelope


def _raise_if_error(envelope: Mapping[str, Any], *, what: str, key: str, source: str) -> None:
    error = envelope.get("error")
    if not error:
        return
    if isinstance(error, Mapping):
        detail = f"{error.get('code') or 'error'}: {error.get('description') or 'no description'}"
    else:
        detail = str(error)
    raise YahooPayloadError(
        f"Yahoo {what} for {key} returned an error: {detail}. "
        "If the symbol was delisted or renamed, fix it in the universe file.",
        key=key,
        source=source,
    )


def _chart_result(body: bytes, *, symbol: str, source: str) -> Mapping[str, Any]:
    chart = _envelope(_load_json(body, key=symbol, source=source), "chart", key=symbol, source=source)
    results = chart.get("result")
    if not isinstance(results, list) or not results or not isinstance(results[0], Mapping):
        raise YahooPayloadError(
            f"Yahoo chart for {symbol} has no result (result is {_short(results)}) and no error.",
            key=symbol,
            source=source,
        )
    result = results[0]
    meta = result.get("meta")
    if not isinstance(meta, Mapping):
        raise YahooPayloadError(
            f"Yahoo chart for {symbol} has no 'meta' object; cannot check the symbol, currency or timezone.",
            key=symbol,
            source=source,
        )
    got = meta.get("symbol")
    if not isinstance(got, str) or got.upper() != symbol.upper():
        raise YahooPayloadError(
            f"Yahoo chart payload is for {got!r}, not for {symbol}. "
            "The landed file belongs to another symbol; re-fetch it.",
            key=symbol,
            source=source,
        )
    return result


def _zone(name: Any, fallback: str, *, key: str, source: str) -> str:
    for candidate in (name, fallback):
        if not candidate:
            continue
        try:
            ZoneInfo(str(candidate))
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory ('America'), a too-long name
            continue
        return str(candidate)
    raise YahooPayloadError(
        f"Yahoo chart for {key}: neither {name!r} nor {fallback!r} is a known timezone.", key=key, source=source
    )


def _first(items: Any) -> Mapping[str, Any]:
    if isinstance(items, list) and items and isinstance(items[0], Mapping):
        return items[0]
    return {}


def _numbers(values: Any, *, name: str, count: int, key: str, source: str) -> pd.Series:
    if values is None:
        return pd.Series([math.nan] * count, dtype="float64")
    if not isinstance(values, list) or len(values) != count:
        size = len(values) if isinstance(values, list) else type(values).__name__
        raise YahooPayloadError(
            f"Yahoo chart for {key}: '{name}' has {size} values for {count} timestamps.", key=key, source=source
        )
    try:
        return pd.Series([math.nan if value is None else float(value) for value in values], dtype="float64")
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
        raise YahooPayloadError(
            f"Yahoo chart for {key}: '{name}' holds a value that is not a number: {_short(values)}.",
            key=key,
            source=source,
        ) from None


def _bars(result: Mapping[str, Any], *, zone: str, key: str, source: str, need_adjclose: bool = True) -> pd.DataFrame:
    """One row per local date with a close: local_date, open, high, low, close, volume, adjclose (split-adjusted)."""
    stamps = result.get("timestamp") or []
    indicators = result.get("indicators") or {}
    if not isinstance(stamps, list) or not isinstance(indicators, Mapping):
        raise YahooPayloadError(
            f"Yahoo chart for {key} has 'timestamp' {_short(stamps)} and 'indicators' {_short(indicators)}; "
            "expected a list of epoch seconds and an object.",
            key=key,
            source=source,
        )
    quote = _first(indicators.get("quote"))
    if stamps and quote.get("close") is None:
        raise YahooPayloadError(
            f"Yahoo chart for {key} has {len(stamps)} timestamps but no indicators.quote[0].close.",
            key=key,
            source=source,
        )
    count = len(stamps)
    bars = pd.DataFrame(
        {
            name: _numbers(quote.get(name), name=name, count=count, key=key, source=source)
            for name in ("open", "high", "low", "close", "volume")
        }
    )
    adjclose = _first(indicators.get("adjclose")).get("adjclose")
    bars["adjclose"] = (
        bars["close"] if adjclose is None else _numbers(adjclose, name="adjclose", count=count, key=key, source=source)
    )
    try:
        moments = pd.to_datetime(pd.Series(stamps, dtype="int64"), unit="s", utc=True)
    except (TypeError, ValueError, OverflowError):
        raise YahooPayloadError(
            f"Yahoo chart for {key} has timestamps that are not epoch seconds: {_short(stamps)}.",
            key=key,
            source=source,
        ) from None
    bars["stamp"] = moments
    bars["local_date"] = list(moments.dt.tz_convert(zone).dt.date)
    required = ["close", "adjclose"] if need_adjclose else ["close"]
    bars = bars.dropna(subset=required).sort_values("stamp", kind="stable")
    return bars.drop_duplicates("local_date", keep="last")


def _local_date(stamp: Any, *, zone: str, key: str, source: str, what: str) -> date:
    try:
        return datetime.fromtimestamp(int(stamp), tz=UTC).astimezone(ZoneInfo(zone)).date()
    except (TypeError, ValueError, OverflowError, OSError):
        raise YahooPayloadError(
            f"Yahoo chart for {key} has a {what} with an unreadable date: {stamp!r}.", key=key, source=source
        ) from None


def _events(result: Mapping[str, Any], kind: str) -> list[tuple[str, Mapping[str, Any]]]:
    events = result.get("events") or {}
    items = events.get(kind) if isinstance(events, Mapping) else None
    if isinstance(items, Mapping):
        return [(str(name), item) for name, item in items.items() if isinstance(item, Mapping)]
    if isinstance(items, list):
        return [(str(item.get("date")), item) for item in items if isinstance(item, Mapping)]
    return []


def _splits(result: Mapping[str, Any], *, zone: str, key: str, source: str) -> list[tuple[date, float]]:
    splits = []
    for name, item in _events(result, "splits"):
        ratio = _split_ratio(item)
        if ratio is None:
            raise YahooPayloadError(
                f"Yahoo chart for {key} has a split without a usable ratio: {_short(item)}.", key=key, source=source
            )
        day = _local_date(item.get("date", name), zone=zone, key=key, source=source, what="split")
        splits.append((day, ratio))
    return splits


def _split_ratio(item: Mapping[str, Any]) -> float | None:
    """numerator/denominator (new shares per old share), else parsed from splitRatio 'N:D'."""
    try:
        numerator, denominator = float(item["numerator"]), float(item["denominator"])
    except (KeyError, TypeError, ValueError, OverflowError):
        try:
            left, right = str(item["splitRatio"]).split(":")
            numerator, denominator = float(left), float(right)
        except (KeyError, ValueError):
            return None
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or numerator <= 0 or denominator <= 0:
        return None
    return numerator / denominator


def _dividends(result: Mapping[str, Any], *, zone: str, key: str, source: str) -> list[tuple[date, float]]:
    dividends = []
    for name, item in _events(result, "dividends"):
        try:
            amount = float(item["amount"])
        except (KeyError, TypeError, ValueError, OverflowError):
            raise YahooPayloadError(
                f"Yahoo chart for {key} has a dividend without a numeric amount: {_short(item)}.",
                key=key,
                source=source,
            ) from None
        dividends.append(
            (_local_date(item.get("date", name), zone=zone, key=key, source=source, what="dividend"), amount)
        )
    return dividends


def _product(ratios: Any) -> float:
    return float(math.prod(ratios))


def _by_day(items: list[tuple[date, float]], *, combine: Any) -> dict[date, float]:
    grouped: dict[date, list[float]] = {}
    for day, value in items:
        grouped.setdefault(day, []).append(value)
    return {day: float(combine(values)) for day, values in grouped.items()}


def _typed(
    frame: pd.DataFrame, columns: list[str], dtypes: Mapping[str, str], *, key: str, source: str
) -> pd.DataFrame:
    typed = frame[columns].astype({column: dtypes[column] for column in columns}).reset_index(drop=True)
    # Infinity (1e400 in the JSON, or a split factor overflowing a price) would pass the suites' lower bounds.
    floats = typed.select_dtypes("float64")
    infinite = floats.isin([math.inf, -math.inf]).any(axis=1)
    if infinite.any():
        raise YahooPayloadError(
            f"Yahoo payload for {key} has infinite values: {_short(floats[infinite].to_dict('records'))}.",
            key=key,
            source=source,
        )
    return typed


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
