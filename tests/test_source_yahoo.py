"""Yahoo Finance connector, offline: recorded payloads served through httpx.MockTransport.

The payloads in tests/fixtures/yahoo/ are in Yahoo's wire format (minified,
as served); their numbers are authored, close to the real ones:

- chart_NVDA_split_dividend.json: NVDA 2024-06-03..12, Yahoo's split-adjusted
  quotes around the 10-for-1 split of 2024-06-10, the $0.01 dividend going ex
  on 2024-06-11, and a bar of nulls on 2024-06-06.
- chart_0700HK_repeated_live_bar.json: Tencent 2024-05-13..21, bars stamped
  01:30 UTC, no bar on the 2024-05-15 holiday, the HK$3.40 dividend ex
  2024-05-17, and the last day repeated (session open, then last trade).
- chart_HKDUSD_fx.json: HKDUSD=X in British summer time (bars stamped 23:00
  UTC the day before), a null bar and a Sunday bar.
- chart_not_found.json: the error envelope of an unknown or delisted symbol.
- timeseries_BABA.json: five quarters in CNY; R&D has no data (meta only),
  one capex entry is null, the latest quarter has no share count.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest

from flows.settings import Security
from flows.sources.http import HttpClient, RetryPolicy, SourceError
from flows.sources.sample.generator import FUNDAMENTAL_COLUMNS, FX_COLUMNS, PRICE_COLUMNS
from flows.sources.yahoo import client as yahoo_client
from flows.sources.yahoo.parser import (
    YahooPayloadError,
    parse_chart,
    parse_fx_chart,
    parse_timeseries,
)

FIXTURES = Path(__file__).parent / "fixtures" / "yahoo"
BASE_URL = "https://query1.finance.yahoo.com"

NVDA = Security("NVDA", "NVIDIA", "us_ai_leader", "XNAS", "USD", "USD")
TENCENT = Security("0700.HK", "Tencent Holdings", "china_tech", "XHKG", "HKD", "CNY")
BABA = Security("BABA", "Alibaba Group Holding", "china_tech", "XNYS", "USD", "CNY")


def payload(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def utc_epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


class Recorder:
    """A MockTransport handler that serves canned responses in order and keeps every request."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)


def make_client(recorder: Callable[[httpx.Request], httpx.Response], sleep=lambda seconds: None) -> HttpClient:  # type: ignore[no-untyped-def]
    return HttpClient(
        source="yahoo",
        base_url=BASE_URL,
        transport=httpx.MockTransport(recorder),
        sleep=sleep,
        jitter=lambda: 0.5,
        retry=RetryPolicy(attempts=4),
    )


def ok(name: str) -> httpx.Response:
    return httpx.Response(200, content=payload(name), headers={"content-type": "application/json;charset=utf-8"})


def by_date(frame: pd.DataFrame, column: str = "trade_date") -> pd.DataFrame:
    return frame.set_index(column)


# --- requests ----------------------------------------------------------------------------------------


def test_fetch_chart_sends_the_documented_request_and_returns_the_raw_body() -> None:
    recorder = Recorder(ok("chart_NVDA_split_dividend.json"))
    with make_client(recorder) as client:
        body = yahoo_client.fetch_chart(client, "NVDA", start=date(2024, 6, 3), end=date(2024, 6, 12))

    assert body == payload("chart_NVDA_split_dividend.json")  # byte for byte: this is what gets landed
    (request,) = recorder.requests
    assert request.method == "GET"
    assert request.url.host == "query1.finance.yahoo.com"
    assert request.url.path == "/v8/finance/chart/NVDA"
    assert dict(request.url.params) == {
        "period1": str(utc_epoch(date(2024, 6, 2))),  # one day of margin
        "period2": str(utc_epoch(date(2024, 6, 13))),  # end + 1 day, 00:00 UTC
        "interval": "1d",
        "events": "div,splits",
        "includeAdjustedClose": "true",
    }


@pytest.mark.parametrize(
    ("symbol", "raw_path"),
    [
        ("^HSI", b"/v8/finance/chart/%5EHSI"),
        ("HKDUSD=X", b"/v8/finance/chart/HKDUSD%3DX"),
        ("0700.HK", b"/v8/finance/chart/0700.HK"),
    ],
)
def test_fetch_chart_percent_encodes_the_symbol_in_the_path(symbol: str, raw_path: bytes) -> None:
    recorder = Recorder(ok("chart_not_found.json"))
    with make_client(recorder) as client:
        yahoo_client.fetch_chart(client, symbol, start=date(2024, 5, 13), end=date(2024, 5, 21))
    assert recorder.requests[0].url.raw_path.split(b"?")[0] == raw_path


def test_fetch_timeseries_asks_for_the_quarterly_types() -> None:
    recorder = Recorder(ok("timeseries_BABA.json"))
    with make_client(recorder) as client:
        body = yahoo_client.fetch_timeseries(client, "BABA", start=date(2024, 1, 1), end=date(2025, 9, 30))

    assert body == payload("timeseries_BABA.json")
    (request,) = recorder.requests
    assert request.url.path == "/ws/fundamentals-timeseries/v1/finance/timeseries/BABA"
    params = request.url.params
    assert params["type"].split(",") == [
        "quarterlyTotalRevenue",
        "quarterlyOperatingIncome",
        "quarterlyNetIncome",
        "quarterlyResearchAndDevelopment",
        "quarterlyCapitalExpenditure",
        "quarterlyOrdinarySharesNumber",
    ]
    assert params["period1"] == str(utc_epoch(date(2024, 1, 1)))
    assert params["period2"] == str(utc_epoch(date(2025, 10, 1)))
    assert params["merge"] == "false"
    assert params["symbol"] == "BABA"


def test_fetch_rejects_a_window_that_ends_before_it_starts() -> None:
    with make_client(Recorder()) as client, pytest.raises(ValueError, match="before start"):
        yahoo_client.fetch_chart(client, "NVDA", start=date(2024, 6, 12), end=date(2024, 6, 3))


# --- prices --------------------------------------------------------------------------------------------


def test_parse_chart_undoes_the_split_adjustment_and_places_events_on_local_dates() -> None:
    frame = parse_chart(payload("chart_NVDA_split_dividend.json"), security=NVDA)

    assert list(frame.columns) == PRICE_COLUMNS
    assert frame.dtypes.astype(str).to_dict() == {
        "ticker": "str", "trade_date": "object", "open": "float64", "high": "float64", "low": "float64",
        "close": "float64", "adj_close": "float64", "volume": "Int64", "dividend": "float64",
        "split_ratio": "float64", "currency": "str", "exchange": "str", "source": "str",
    }  # fmt: skip
    # Bars are stamped 13:30 UTC (09:30 New York); 2024-06-06 is a bar of nulls: no row, not zeros.
    assert list(frame["trade_date"]) == [
        date(2024, 6, 3), date(2024, 6, 4), date(2024, 6, 5), date(2024, 6, 7),
        date(2024, 6, 10), date(2024, 6, 11), date(2024, 6, 12),
    ]  # fmt: skip
    rows = by_date(frame)
    # As traded: before the split Yahoo's quotes are multiplied back by 10, from the split day on they are kept.
    assert rows.loc[date(2024, 6, 7), "close"] == pytest.approx(1208.88)
    assert rows.loc[date(2024, 6, 7), "open"] == pytest.approx(1197.70)
    assert rows.loc[date(2024, 6, 7), "high"] == pytest.approx(1216.90)
    assert rows.loc[date(2024, 6, 7), "low"] == pytest.approx(1180.20)
    assert rows.loc[date(2024, 6, 3), "close"] == pytest.approx(1149.97)
    assert rows.loc[date(2024, 6, 10), "close"] == pytest.approx(121.79)
    assert rows.loc[date(2024, 6, 12), "close"] == pytest.approx(125.20)
    # Volumes are split-adjusted by Yahoo too: shares traded before the split are a tenth.
    assert rows.loc[date(2024, 6, 7), "volume"] == 41_238_600
    assert rows.loc[date(2024, 6, 10), "volume"] == 314_162_700
    # adj_close is Yahoo's adjclose untouched: continuous across the split (no jump of 10x).
    assert rows.loc[date(2024, 6, 7), "adj_close"] == pytest.approx(120.888 * 0.99961 * (1 - 0.01 / 121.79), rel=1e-6)
    assert rows.loc[date(2024, 6, 10), "adj_close"] / rows.loc[date(2024, 6, 7), "adj_close"] == pytest.approx(
        121.79 / 120.888, rel=1e-6
    )
    assert rows["split_ratio"].to_dict() == {day: (10.0 if day == date(2024, 6, 10) else 1.0) for day in rows.index}
    assert rows["dividend"].to_dict() == {day: (0.01 if day == date(2024, 6, 11) else 0.0) for day in rows.index}
    assert set(frame["ticker"]) == {"NVDA"}
    assert set(frame["currency"]) == {"USD"}
    assert set(frame["exchange"]) == {"XNAS"}
    assert set(frame["source"]) == {"yahoo"}


def test_parse_chart_unadjusts_a_dividend_paid_before_a_split() -> None:
    document = json.loads(payload("chart_NVDA_split_dividend.json"))
    result = document["chart"]["result"][0]
    june_4 = result["timestamp"][1]
    # Yahoo shows a $0.04 dividend paid before the 10-for-1 split as 0.004.
    result["events"]["dividends"] = {str(june_4): {"amount": 0.004, "date": june_4}}

    rows = by_date(parse_chart(json.dumps(document).encode(), security=NVDA))

    assert rows.loc[date(2024, 6, 4), "dividend"] == pytest.approx(0.04)
    assert rows["dividend"].sum() == pytest.approx(0.04)


def test_parse_chart_uses_the_exchange_timezone_and_keeps_the_last_of_a_repeated_bar() -> None:
    frame = parse_chart(payload("chart_0700HK_repeated_live_bar.json"), security=TENCENT)

    assert list(frame.columns) == PRICE_COLUMNS
    # 01:30 UTC is 09:30 in Hong Kong, the same date (in New York it would still be the day before).
    # No bar on the 2024-05-15 holiday; 2024-05-21 appears twice in the payload and once here.
    assert list(frame["trade_date"]) == [
        date(2024, 5, 13), date(2024, 5, 14), date(2024, 5, 16), date(2024, 5, 17), date(2024, 5, 20),
        date(2024, 5, 21),
    ]  # fmt: skip
    rows = by_date(frame)
    last = rows.loc[date(2024, 5, 21)]
    assert last["close"] == pytest.approx(391.2)  # the later (last-trade) copy, not the session-open one
    assert last["high"] == pytest.approx(397.8)
    assert last["volume"] == 16_822_035
    assert rows["dividend"].to_dict() == {day: (3.4 if day == date(2024, 5, 17) else 0.0) for day in rows.index}
    assert set(rows["split_ratio"]) == {1.0}
    assert rows.loc[date(2024, 5, 13), "close"] == pytest.approx(385.4)  # no split: quotes unchanged
    assert set(frame["currency"]) == {"HKD"}
    assert set(frame["exchange"]) == {"XHKG"}


def test_parse_chart_falls_back_to_the_security_timezone() -> None:
    document = json.loads(payload("chart_0700HK_repeated_live_bar.json"))
    del document["chart"]["result"][0]["meta"]["exchangeTimezoneName"]

    frame = parse_chart(json.dumps(document).encode(), security=TENCENT)  # XHKG -> Asia/Hong_Kong

    assert frame["trade_date"].iloc[0] == date(2024, 5, 13)
    assert len(frame) == 6


def test_parse_chart_drops_bars_after_end() -> None:
    frame = parse_chart(payload("chart_NVDA_split_dividend.json"), security=NVDA, end=date(2024, 6, 10))

    assert frame["trade_date"].max() == date(2024, 6, 10)
    assert by_date(frame).loc[date(2024, 6, 7), "close"] == pytest.approx(1208.88)  # the split still applies


def test_parse_chart_without_bars_in_the_window_is_an_empty_frame_with_the_columns() -> None:
    document = json.loads(payload("chart_NVDA_split_dividend.json"))
    result = document["chart"]["result"][0]
    # What Yahoo sends for a window without sessions (e.g. a weekend): meta, no timestamps, empty indicators.
    del result["timestamp"], result["events"]
    result["indicators"] = {"quote": [{}], "adjclose": [{}]}

    frame = parse_chart(json.dumps(document).encode(), security=NVDA)

    assert frame.empty
    assert list(frame.columns) == PRICE_COLUMNS
    assert frame["volume"].dtype == "Int64"


# --- errors ----------------------------------------------------------------------------------------------


def test_error_envelope_with_http_200_fails_in_the_parser_naming_symbol_and_yahoo_error() -> None:
    recorder = Recorder(ok("chart_not_found.json"))
    with make_client(recorder) as client:
        body = yahoo_client.fetch_chart(client, "DELIST", start=date(2024, 6, 3), end=date(2024, 6, 12))
    assert len(recorder.requests) == 1

    with pytest.raises(YahooPayloadError) as caught:
        parse_chart(body, security=Security("DELIST", "Gone", "china_tech", "XNAS", "USD", "USD"))

    message = str(caught.value)
    assert "DELIST" in message
    assert "Not Found: No data found, symbol may be delisted" in message
    assert isinstance(caught.value, SourceError)
    assert (caught.value.source, caught.value.key, caught.value.status) == ("yahoo", "DELIST", None)


def test_error_envelope_with_http_404_is_not_retried_and_names_yahoo_symbol_and_status() -> None:
    recorder = Recorder(httpx.Response(404, content=payload("chart_not_found.json")))
    with make_client(recorder) as client, pytest.raises(SourceError) as caught:
        yahoo_client.fetch_chart(client, "DELIST", start=date(2024, 6, 3), end=date(2024, 6, 12))

    assert len(recorder.requests) == 1
    message = str(caught.value)
    assert "yahoo" in message and "DELIST" in message and "404" in message
    assert (caught.value.source, caught.value.key, caught.value.status) == ("yahoo", "DELIST", 404)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html><body>Will be right back...</body></html>", "not JSON"),
        (b'{"chart": {"result": [{"timestamp": [1717421400]}], "error": null}}', "no 'meta'"),
        (b'{"chart": {"result": [], "error": null}}', "no result"),
        (b'{"chart": {"result": null, "error": null}}', "no result"),
        (b'{"quoteResponse": {"result": []}}', "no 'chart' object"),
        (
            b'{"finance": {"result": null, "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}}',
            "Unauthorized: Invalid Crumb",
        ),
    ],
)
def test_unusable_chart_bodies_raise_a_payload_error_naming_the_symbol(body: bytes, expected: str) -> None:
    with pytest.raises(YahooPayloadError, match=expected) as caught:
        parse_chart(body, security=NVDA)
    assert "NVDA" in str(caught.value)
    assert caught.value.source == "yahoo"


def test_a_payload_for_another_symbol_is_rejected() -> None:
    with pytest.raises(YahooPayloadError, match=r"is for 'NVDA', not for 0700\.HK"):
        parse_chart(payload("chart_NVDA_split_dividend.json"), security=TENCENT)
    with pytest.raises(YahooPayloadError, match="not for CNYUSD=X"):
        parse_fx_chart(payload("chart_HKDUSD_fx.json"), currency="CNY")
    with pytest.raises(YahooPayloadError, match="not for NVDA"):
        parse_timeseries(payload("timeseries_BABA.json"), security=NVDA, reporting_lag_days=45)


# --- FX -------------------------------------------------------------------------------------------------


def test_parse_fx_chart_uses_london_dates_and_skips_nulls_and_weekends() -> None:
    frame = parse_fx_chart(payload("chart_HKDUSD_fx.json"), currency="HKD")

    assert list(frame.columns) == FX_COLUMNS
    assert frame.dtypes.astype(str).to_dict() == {
        "currency": "str", "rate_date": "object", "usd_per_unit": "float64", "pair": "str", "source": "str"
    }  # fmt: skip
    # Stamped 23:00 UTC the day before (00:00 BST): the London date is the rate date.
    # 2024-05-15 is a null bar and 2024-05-19 a Sunday: no rows.
    assert list(frame["rate_date"]) == [
        date(2024, 5, 13), date(2024, 5, 14), date(2024, 5, 16), date(2024, 5, 17), date(2024, 5, 20),
    ]  # fmt: skip
    rows = by_date(frame, "rate_date")
    assert rows.loc[date(2024, 5, 13), "usd_per_unit"] == pytest.approx(0.128)
    assert rows.loc[date(2024, 5, 20), "usd_per_unit"] == pytest.approx(0.12815)
    assert set(frame["currency"]) == {"HKD"}
    assert set(frame["pair"]) == {"HKDUSD=X"}
    assert set(frame["source"]) == {"yahoo"}


def test_parse_fx_chart_rejects_a_pair_not_quoted_in_dollars() -> None:
    document = json.loads(payload("chart_HKDUSD_fx.json"))
    document["chart"]["result"][0]["meta"]["currency"] = "HKD"
    with pytest.raises(YahooPayloadError, match="quoted in 'HKD', not USD"):
        parse_fx_chart(json.dumps(document).encode(), currency="HKD")


# --- fundamentals ---------------------------------------------------------------------------------------


def test_parse_timeseries_merges_types_per_period_end() -> None:
    frame = parse_timeseries(payload("timeseries_BABA.json"), security=BABA, reporting_lag_days=45)

    assert list(frame.columns) == FUNDAMENTAL_COLUMNS
    assert frame.dtypes.astype(str).to_dict() == {
        "ticker": "str", "fiscal_period_end": "object", "fiscal_year": "int64", "fiscal_quarter": "int64",
        "report_date": "object", "currency": "str", "revenue": "float64", "operating_income": "float64",
        "net_income": "float64", "rd_expense": "float64", "capex": "float64", "shares_outstanding": "float64",
        "source": "str",
    }  # fmt: skip
    assert list(frame["fiscal_period_end"]) == [
        date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31), date(2025, 3, 31), date(2025, 6, 30),
    ]  # fmt: skip
    assert list(zip(frame["fiscal_year"], frame["fiscal_quarter"], strict=True)) == [
        (2024, 2), (2024, 3), (2024, 4), (2025, 1), (2025, 2),
    ]  # fmt: skip
    # No filing date from Yahoo: period end + the configured lag.
    assert list(frame["report_date"]) == [
        date(2024, 8, 14), date(2024, 11, 14), date(2025, 2, 14), date(2025, 5, 15), date(2025, 8, 14),
    ]  # fmt: skip
    rows = by_date(frame, "fiscal_period_end")
    latest = rows.loc[date(2025, 6, 30)]
    assert latest["revenue"] == 247_652_000_000
    assert latest["operating_income"] == 34_989_000_000
    assert latest["net_income"] == 42_382_000_000
    assert latest["capex"] == 38_676_000_000  # Yahoo's -38.676B outflow as a positive amount spent
    assert pd.isna(latest["shares_outstanding"])  # not reported for this quarter yet
    assert pd.isna(rows.loc[date(2024, 9, 30), "capex"])  # a null entry: skipped, stays null
    assert rows.loc[date(2024, 9, 30), "revenue"] == 236_503_000_000
    assert rows.loc[date(2024, 6, 30), "shares_outstanding"] == 19_186_000_000
    assert frame["rd_expense"].isna().all()  # the type came back without data
    assert set(frame["currency"]) == {"CNY"}
    assert set(frame["ticker"]) == {"BABA"}
    assert set(frame["source"]) == {"yahoo"}


def test_parse_timeseries_drops_rows_not_yet_known_on_as_of() -> None:
    frame = parse_timeseries(
        payload("timeseries_BABA.json"), security=BABA, reporting_lag_days=45, as_of=date(2025, 8, 13)
    )
    assert frame["fiscal_period_end"].max() == date(2025, 3, 31)


def test_parse_timeseries_without_data_is_an_empty_frame_with_the_columns() -> None:
    body = json.dumps(
        {
            "timeseries": {
                "result": [{"meta": {"symbol": ["BABA"], "type": [t]}} for t in yahoo_client.TIMESERIES_TYPES],
                "error": None,
            }
        }
    ).encode()
    frame = parse_timeseries(body, security=BABA, reporting_lag_days=45)
    assert frame.empty
    assert list(frame.columns) == FUNDAMENTAL_COLUMNS


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"timeseries": {"result": null, "error": {"code": "Bad Request", "description": "Invalid type"}}}',
            "Bad Request: Invalid type",
        ),
        (b'{"timeseries": {"result": [{"timestamp": [1719705600]}], "error": null}}', "without 'meta'"),
        (b"not json", "not JSON"),
    ],
)
def test_unusable_timeseries_bodies_raise(body: bytes, expected: str) -> None:
    with pytest.raises(YahooPayloadError, match=expected) as caught:
        parse_timeseries(body, security=BABA, reporting_lag_days=45)
    assert "BABA" in str(caught.value)


# --- retries through the shared client -------------------------------------------------------------------


def test_429_with_retry_after_waits_the_given_seconds_then_succeeds() -> None:
    slept: list[float] = []
    recorder = Recorder(
        httpx.Response(429, headers={"Retry-After": "7"}, content=b"Too Many Requests"),
        ok("chart_0700HK_repeated_live_bar.json"),
    )
    with make_client(recorder, sleep=slept.append) as client:
        body = yahoo_client.fetch_chart(client, "0700.HK", start=date(2024, 5, 13), end=date(2024, 5, 21))

    assert slept == [7.0]
    assert len(recorder.requests) == 2
    assert recorder.requests[0].url == recorder.requests[1].url
    assert len(parse_chart(body, security=TENCENT)) == 6


def test_503_is_retried_with_backoff_then_succeeds() -> None:
    slept: list[float] = []
    recorder = Recorder(httpx.Response(503), ok("chart_HKDUSD_fx.json"))
    with make_client(recorder, sleep=slept.append) as client:
        body = yahoo_client.fetch_chart(client, "HKDUSD=X", start=date(2024, 5, 13), end=date(2024, 5, 20))

    assert len(recorder.requests) == 2
    assert slept == [0.5]  # full jitter of the first backoff step (1 s * jitter 0.5)
    assert len(parse_fx_chart(body, currency="HKD")) == 5


def test_retries_give_up_after_the_configured_attempts() -> None:
    recorder = Recorder(*[httpx.Response(503) for _ in range(4)])
    with make_client(recorder) as client, pytest.raises(SourceError) as caught:
        yahoo_client.fetch_timeseries(client, "BABA", start=date(2024, 1, 1), end=date(2025, 9, 30))
    assert len(recorder.requests) == 4
    assert caught.value.status == 503
    assert "yahoo" in str(caught.value) and "BABA" in str(caught.value)
