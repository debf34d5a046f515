"""Property-based tests: random malformed records thrown at every parser and validator.

The promise: no crash other than a clear validation error, and nothing published from them.

- Parsers (Yahoo chart / FX chart / fundamentals-timeseries, SEC companyfacts, BLS, FRED, Federal
  Register, the curated calendar) get arbitrary bytes, structurally plausible payloads with random
  types, nulls, missing keys, wrong nesting, huge/negative/NaN numbers, SQL- and path-like strings,
  recorded fixtures cut at a random point and recorded fixtures with random nodes replaced or
  deleted. Each either returns a DataFrame with exactly its documented columns or raises its
  documented error (``SourceError``; FRED's unknown series id and the curated CSV reader: ``ValueError``).
  A returned frame holds no Infinity (the suites bound prices and amounts below only, so it would load).
  ``test_inputs_that_once_crashed_a_parser`` keeps every input that crashed a parser before it was fixed.
- ``validate_frame`` gets random frames of every dataset (columns dropped or renamed, values of random
  types) and never raises; a frame that breaks a rule gives ``success False`` with a failure naming it.
  What the parsers make of damaged recordings validates without raising too.
- ``ingest`` of random malformed price rows either raises ``DatasetValidationError`` and leaves
  ``raw.prices`` untouched, or (only warning rules failed) holds the failing rows back and loads the
  rest; the published copy never changes.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from conftest import AS_OF, Home
from flows.datasets import registry
from flows.datasets.base import Batch, Dataset
from flows.ingest import steps as ingest
from flows.settings import Security, load_settings
from flows.sources.bls.parser import parse_series
from flows.sources.cpi_package.reader import CPI_COLUMNS
from flows.sources.curated.reader import EVENT_COLUMNS, parse_events
from flows.sources.federal_register.parser import parse_documents
from flows.sources.fred.parser import parse_csv
from flows.sources.http import SourceError
from flows.sources.sample.generator import FUNDAMENTAL_COLUMNS, FX_COLUMNS, PRICE_COLUMNS
from flows.sources.sec_edgar.parser import FIELDS, OUTPUT_COLUMNS, SHARES, parse_companyfacts
from flows.sources.yahoo.parser import TIMESERIES_FIELDS, parse_chart, parse_fx_chart, parse_timeseries
from flows.validation.gx import DatasetValidationError, ValidationReport, validate_frame
from flows.warehouse.database import Warehouse

FIXTURES = Path(__file__).parent / "fixtures"
NVDA = Security("NVDA", "NVIDIA", "us_ai_leader", "XNAS", "USD", "USD")
TENCENT = Security("0700.HK", "Tencent Holdings", "china_tech", "XHKG", "HKD", "CNY")
BABA = Security("BABA", "Alibaba Group Holding", "china_tech", "XNYS", "USD", "CNY")

PARSERS = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# Each example costs a GX validation (0.1-0.3 s) or an ingest; shrinking would take minutes, and the frames are
# at most four rows, readable as generated.
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]
VALIDATORS = settings(
    max_examples=8, deadline=None, database=None, phases=NO_SHRINK, suppress_health_check=[HealthCheck.too_slow]
)

# --- building blocks -------------------------------------------------------------------------------

SQL = "'; drop table raw.prices; --"
NASTY_TEXT = [
    SQL, "../../etc/passwd", "/etc/passwd", "C:\\Windows\\system32", "", " ", "\x00", "\r", "\n", "\u2028", "NaN",
    "nan", "inf", "-inf", "null", "None", "-", ".", "-1", "0", "1e400", "-1e400", "99999999999999999999", "²",
    "9999-12-31", "0001-01-01", "2262-04-12", "2025-02-30", "2025-13-01", "2025-10-01", "20251001", "<html>",
    "Robert'); DROP TABLE students;--", "💥", "a" * 300, "America", "Etc", "zone.tab", "UTC", "Asia/Hong_Kong",
    "M13", "M00", "10:1", "1:0", "0:0", ":", "3M", "12M",
]  # fmt: skip
text = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=12))
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 1, 2**63, -(2**63) - 1, 10**400, -(10**400), 1e308, -0.0, 5e-324]),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
KNOWN_KEYS = [
    "chart", "result", "error", "meta", "symbol", "currency", "exchangeTimezoneName", "timestamp", "events",
    "dividends", "splits", "indicators", "quote", "adjclose", "close", "open", "volume", "amount", "date",
    "numerator", "denominator", "splitRatio", "timeseries", "type", "asOfDate", "reportedValue", "raw",
    "periodType", "currencyCode", "finance", "cik", "facts", "us-gaap", "dei", "ifrs-full", "units", "USD",
    "shares", "val", "start", "end", "filed", "fy", "fp", "accn", "form", "status", "message", "Results",
    "series", "seriesID", "data", "year", "period", "value", "results", "document_number", "publication_date",
    "title", "html_url", "errors",
]  # fmt: skip
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=12,
)
junk_bytes = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.sampled_from(
        [
            b"", b" ", b"\xff\xfe", b"\xef\xbb\xbf", b"null", b"[]", b"{}", b"0", b"NaN", b'"x"', b"<html>502</html>",
            b"[" * 5_000, b'{"a":' * 5_000, SQL.encode(), b"../../etc/passwd",
        ]
    ),
)  # fmt: skip


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, picked in proportion to its weight.

    (Not ``one_of(good, good, good, junk)``: hypothesis builds the repr of nested strategies when shrinking,
    and repeating a branch makes that repr -- and the memory it takes -- grow exponentially with depth.)
    """
    strategies = [strategy for _, strategy in choices]
    indices = [index for index, (weight, _) in enumerate(choices) for _ in range(weight)]
    return st.sampled_from(indices).flatmap(lambda index: strategies[index])


def maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the well-typed value, sometimes anything JSON can hold."""
    return weighted((5, good), (1, json_values))


def obj(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An object with all the fields, or with any subset of them (missing keys)."""
    return weighted((2, st.fixed_dictionaries(fields)), (1, st.fixed_dictionaries({}, optional=fields)))


def list_of(element: st.SearchStrategy[Any], max_size: int = 4) -> st.SearchStrategy[list[Any]]:
    return st.lists(element, max_size=max_size)


def encode(document: Any) -> bytes:
    return json.dumps(document, allow_nan=True).encode()


def fixture(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()


def truncated(body: bytes) -> st.SearchStrategy[bytes]:
    """A recorded payload cut at a random point (an interrupted download)."""
    return st.integers(min_value=0, max_value=len(body) - 1).map(lambda cut: body[:cut])


_DELETE = object()
# what a random node of a recorded payload is replaced with, besides random JSON
ODD_VALUES = [
    None, True, [], {}, "", "x", SQL, 10**400, -(10**400), 2**63, math.nan, math.inf, -math.inf, 1e300, -1e300, -1,
]  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _replace(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return {} if new is _DELETE else new
    parent = document
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return document  # an earlier mutation removed this branch
    last = path[-1]
    if (
        isinstance(parent, dict)
        and last in parent
        or isinstance(parent, list)
        and isinstance(last, int)
        and last < len(parent)
    ):
        if new is _DELETE:
            del parent[last]
        else:
            parent[last] = new
    return document


def mutated(body: bytes) -> st.SearchStrategy[bytes]:
    """A recorded JSON payload with 1-3 random nodes replaced by random JSON or deleted (wrong types, nulls, ...)."""
    original = json.loads(body)
    paths = list(_paths(original))

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        document = copy.deepcopy(original)
        for _ in range(draw(st.integers(min_value=1, max_value=3))):
            path = draw(st.sampled_from(paths))
            new = draw(st.one_of(json_values, st.just(_DELETE), st.sampled_from(ODD_VALUES)))
            document = _replace(document, path, new)
        return encode(document)

    return build()


def parsed_or_rejected(
    call: Callable[[], pd.DataFrame],
    columns: list[str],
    *,
    sources: set[str],
    also: tuple[type[Exception], ...] = (),
) -> pd.DataFrame | None:
    """The property every parser keeps: a frame with exactly ``columns``, or its clear, documented error.

    Anything else (KeyError, TypeError, AttributeError, OverflowError, ...) propagates and fails the test.
    """
    try:
        frame = call()
    except SourceError as exc:
        assert exc.source in sources, exc.source
        assert exc.key and str(exc), "a SourceError must name its key and say what is wrong"
        return None
    except also as exc:
        assert str(exc)
        return None
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == columns
    # No Infinity: the suites bound prices and amounts below only, so an infinite value would pass and load.
    numbers = frame.select_dtypes("number").to_numpy(dtype="float64", na_value=np.nan)
    assert not np.isinf(numbers).any(), frame[np.isinf(numbers).any(axis=1)]
    return frame


# --- Yahoo -----------------------------------------------------------------------------------------

CHART_FIXTURES = {
    "NVDA": fixture("yahoo", "chart_NVDA_split_dividend.json"),
    "0700.HK": fixture("yahoo", "chart_0700HK_repeated_live_bar.json"),
}
FX_FIXTURE = fixture("yahoo", "chart_HKDUSD_fx.json")
TIMESERIES_FIXTURE = fixture("yahoo", "timeseries_BABA.json")
ZONES = ["America/New_York", "Asia/Hong_Kong", "Europe/London", "UTC"]
epoch = st.one_of(st.integers(min_value=1_500_000_000, max_value=1_800_000_000), numbers, text)
price = st.one_of(st.none(), st.floats(min_value=0.01, max_value=1e4), numbers, text)


@st.composite
def chart_documents(draw: st.DrawFn, symbol: str, currency: str) -> Any:
    count = draw(st.integers(min_value=0, max_value=5))

    def column(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return maybe(st.lists(value, min_size=count, max_size=count))

    quote = obj(
        open=column(price), high=column(price), low=column(price), close=column(price),
        volume=column(st.one_of(st.none(), st.integers(min_value=0, max_value=10**9), numbers, text)),
    )  # fmt: skip
    indicators = obj(
        quote=maybe(st.lists(maybe(quote), min_size=1, max_size=2)),
        adjclose=maybe(st.lists(maybe(obj(adjclose=column(price))), min_size=1, max_size=2)),
    )
    split = obj(
        date=maybe(epoch), numerator=maybe(numbers), denominator=maybe(numbers),
        splitRatio=maybe(st.one_of(st.sampled_from(["10:1", "1:0", "-2:1", "a:b", "3", ""]), text)),
    )  # fmt: skip
    dividend = obj(date=maybe(epoch), amount=maybe(price))
    event_key = st.one_of(epoch.map(str), text)
    events = obj(
        dividends=maybe(st.one_of(st.dictionaries(event_key, maybe(dividend), max_size=3), list_of(maybe(dividend)))),
        splits=maybe(st.one_of(st.dictionaries(event_key, maybe(split), max_size=3), list_of(maybe(split)))),
    )
    meta = obj(
        symbol=maybe(st.sampled_from([symbol, symbol.lower(), "OTHER"])),
        currency=maybe(st.sampled_from([currency, currency.lower(), "GBp", ""])),
        exchangeTimezoneName=maybe(st.one_of(st.sampled_from(ZONES), text)),
    )
    result = obj(
        meta=maybe(meta),
        timestamp=maybe(st.lists(epoch, min_size=count, max_size=count)),
        events=maybe(events),
        indicators=maybe(indicators),
    )
    error = st.one_of(st.sampled_from([None, False, 0, {}]), json_values)
    chart = obj(result=maybe(st.lists(maybe(result), min_size=1, max_size=2)), error=error)
    return draw(st.one_of(obj(chart=maybe(chart)), obj(finance=maybe(obj(error=error)), chart=chart), json_values))


def chart_bodies(symbol: str, currency: str, recorded: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(junk_bytes, chart_documents(symbol, currency).map(encode), truncated(recorded), mutated(recorded))


ends = st.one_of(st.none(), st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)))


@PARSERS
@given(security=st.sampled_from([NVDA, TENCENT]), data=st.data(), end=ends)
def test_parse_chart_returns_price_columns_or_a_source_error(
    security: Security, data: st.DataObject, end: date
) -> None:
    body = data.draw(chart_bodies(security.ticker, security.currency, CHART_FIXTURES[security.ticker]))
    parsed_or_rejected(lambda: parse_chart(body, security=security, end=end), PRICE_COLUMNS, sources={"yahoo"})


@PARSERS
@given(body=chart_bodies("HKDUSD=X", "USD", FX_FIXTURE), end=ends)
def test_parse_fx_chart_returns_fx_columns_or_a_source_error(body: bytes, end: date) -> None:
    parsed_or_rejected(lambda: parse_fx_chart(body, currency="HKD", end=end), FX_COLUMNS, sources={"yahoo"})


date_text = st.one_of(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31)).map(str),
    st.sampled_from(["9999-12-31", "9999-12-01", "0001-01-01", "2025-06-30T00:00:00", "30/06/2025"]),
    text,
)


@st.composite
def timeseries_documents(draw: st.DrawFn) -> Any:
    item = obj(
        asOfDate=maybe(date_text),
        periodType=maybe(st.sampled_from(["3M", "12M", "TTM"])),
        currencyCode=maybe(st.sampled_from(["CNY", "USD", "cny", ""])),
        reportedValue=maybe(obj(raw=maybe(numbers), fmt=text)),
    )
    entries = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        yahoo_type = draw(st.one_of(st.sampled_from(sorted(TIMESERIES_FIELDS)), text))
        meta = obj(
            symbol=maybe(st.sampled_from([["BABA"], "BABA", ["baba"], ["NVDA"], []])),
            type=maybe(st.one_of(st.just([yahoo_type]), list_of(json_values))),
        )
        entry = draw(st.fixed_dictionaries({"meta": maybe(meta), yahoo_type: maybe(list_of(maybe(item)))}))
        entries.append(draw(maybe(st.just(entry))))
    timeseries = obj(result=maybe(st.just(entries)), error=st.one_of(st.none(), json_values))
    return draw(st.one_of(obj(timeseries=maybe(timeseries)), json_values))


@PARSERS
@given(
    body=st.one_of(
        junk_bytes,
        timeseries_documents().map(encode),
        truncated(TIMESERIES_FIXTURE),
        mutated(TIMESERIES_FIXTURE),
    ),
    lag=st.integers(min_value=0, max_value=120),
    as_of=ends,
)
def test_parse_timeseries_returns_fundamental_columns_or_a_source_error(body: bytes, lag: int, as_of: date) -> None:
    parsed_or_rejected(
        lambda: parse_timeseries(body, security=BABA, reporting_lag_days=lag, as_of=as_of),
        FUNDAMENTAL_COLUMNS,
        sources={"yahoo"},
    )


# --- SEC EDGAR -------------------------------------------------------------------------------------

SEC_FIXTURES = [
    fixture("sec_edgar", name)
    for name in (
        "companyfacts_CIK0001045810_10q_10k.json",
        "companyfacts_CIK0001577552_20f_usgaap_cny.json",
        "companyfacts_CIK0001744676_20f_ifrs_cny.json",
    )
]
CONCEPTS = sorted({pair for pairs in FIELDS.values() for pair in pairs} | {(t, c) for t, c, _ in SHARES})
# quarter boundaries, so random start/end pairs often make 3/6/9/12-month durations
BOUNDARIES = [date(2023, 1, 1), date(2023, 4, 1), date(2023, 7, 1), date(2023, 10, 1), date(2024, 1, 1),
              date(2024, 3, 31), date(2024, 6, 30), date(2024, 9, 30), date(2024, 12, 31)]  # fmt: skip
boundary = st.sampled_from(BOUNDARIES).map(str)
sec_fact = obj(
    start=maybe(st.one_of(boundary, date_text)),
    end=maybe(st.one_of(boundary, date_text)),
    val=maybe(numbers),
    accn=maybe(st.sampled_from(["0001-24-000001", "0001-24-000002", ""])),
    fy=maybe(st.one_of(st.integers(min_value=2020, max_value=2026), numbers, text)),
    fp=maybe(st.sampled_from(["Q1", "Q2", "Q3", "Q4", "FY", "H1", "q2"])),
    form=maybe(st.sampled_from(["10-Q", "10-K", "20-F"])),
    filed=maybe(st.one_of(boundary, date_text)),
)


@st.composite
def companyfacts_documents(draw: st.DrawFn) -> Any:
    facts: dict[str, dict[str, Any]] = {}
    for taxonomy, concept in draw(st.lists(st.sampled_from(CONCEPTS), max_size=4, unique=True)):
        units = draw(
            maybe(
                st.dictionaries(
                    st.one_of(st.sampled_from(["USD", "CNY", "shares", "usd", "USD/shares"]), text),
                    maybe(list_of(maybe(sec_fact))),
                    max_size=2,
                )
            )
        )
        facts.setdefault(taxonomy, {})[concept] = draw(maybe(st.just({"label": concept, "units": units})))
    document = {
        "cik": draw(maybe(st.sampled_from([1045810, "0001045810", -1, 10**400, 1e400]))),
        "entityName": draw(text),
        "facts": draw(maybe(st.just(facts))),
    }
    return draw(st.one_of(st.just(document), json_values))


@PARSERS
@given(
    body=st.one_of(
        junk_bytes,
        companyfacts_documents().map(encode),
        st.sampled_from(SEC_FIXTURES).flatmap(truncated),
        st.one_of(*(mutated(body) for body in SEC_FIXTURES)),
    )
)
def test_parse_companyfacts_returns_fundamental_columns_or_a_source_error(body: bytes) -> None:
    parsed_or_rejected(lambda: parse_companyfacts(body, ticker="NVDA"), OUTPUT_COLUMNS, sources={"sec_edgar"})


# --- BLS -------------------------------------------------------------------------------------------

BLS_FIXTURE = fixture("bls", "timeseries_cpi_2025_2026.json")
bls_datum = obj(
    year=maybe(st.one_of(st.sampled_from(["2025", "2026", "0", "99999", "-1", "２０２５"]), text)),
    period=maybe(st.one_of(st.sampled_from(["M01", "M10", "M12", "M13", "M00", "Q01"]), text)),
    periodName=text,
    value=maybe(st.one_of(st.sampled_from(["324.8", "-", "", " 1.5 ", "nan", "inf", "1e400", "-5", "1_0"]), text)),
    footnotes=json_values,
)
bls_documents = st.one_of(
    obj(
        status=maybe(st.sampled_from(["REQUEST_SUCCEEDED", "REQUEST_NOT_PROCESSED", "request_succeeded"])),
        message=maybe(list_of(st.one_of(text, st.just("Year range has been reduced to the system-allowed limit")))),
        Results=maybe(
            st.one_of(
                obj(series=maybe(list_of(maybe(obj(
                    seriesID=maybe(st.sampled_from(["CUUR0000SA0", "CUSR0000SA0", "", SQL])),
                    data=maybe(list_of(maybe(bls_datum))),
                ))))),
                list_of(json_values),
            )
        ),
    ),
    json_values,
)  # fmt: skip


@PARSERS
@given(body=st.one_of(junk_bytes, bls_documents.map(encode), truncated(BLS_FIXTURE), mutated(BLS_FIXTURE)))
def test_parse_bls_series_returns_cpi_columns_or_a_source_error(body: bytes) -> None:
    frame = parsed_or_rejected(lambda: parse_series(body), CPI_COLUMNS, sources={"bls"})
    if frame is not None and len(frame):
        assert frame["value"].map(math.isfinite).all()  # '-' and the like are gaps, never numbers


# --- FRED ------------------------------------------------------------------------------------------

FRED_FIXTURES = [fixture("fred", "CPIAUCNS.csv"), fixture("fred", "CPILFESL_date_header.csv")]
csv_cell = st.one_of(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)).map(lambda day: str(day.replace(day=1))),
    st.sampled_from(["324.800", ".", "", "-1", "nan", "inf", "1e400", "2025-10-15", '"2025-01-01"', '"a,b"', '"']),
    text,
)


@st.composite
def fred_texts(draw: st.DrawFn) -> bytes:
    header = draw(
        st.one_of(
            st.sampled_from(["observation_date,CPIAUCNS", "DATE,CPIAUCNS", "date,cpiaucns", "observation_date", ""]),
            text,
        )
    )
    rows = draw(list_of(st.lists(csv_cell, min_size=0, max_size=3).map(",".join), max_size=5))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join([header, *rows]).encode(draw(st.sampled_from(["utf-8", "utf-8-sig"])), "surrogatepass")


@PARSERS
@given(
    body=st.one_of(
        junk_bytes,
        fred_texts(),
        truncated(FRED_FIXTURES[0]),
        truncated(FRED_FIXTURES[1]).map(lambda body: body.replace(b"CPILFESL", b"CPIAUCNS")),
    )
)
def test_parse_fred_csv_returns_cpi_columns_or_a_source_error(body: bytes) -> None:
    frame = parsed_or_rejected(lambda: parse_csv(body, fred_id="CPIAUCNS"), CPI_COLUMNS, sources={"fred"})
    if frame is not None and len(frame):
        assert frame["value"].map(math.isfinite).all()
        assert all(day.day == 1 for day in frame["period_date"])


@PARSERS
@given(fred_id=text)
def test_parse_fred_csv_rejects_an_unknown_series_with_a_value_error(fred_id: str) -> None:
    body = FRED_FIXTURES[0]
    parsed_or_rejected(lambda: parse_csv(body, fred_id=fred_id), CPI_COLUMNS, sources={"fred"}, also=(ValueError,))


# --- Federal Register ------------------------------------------------------------------------------

FR_FIXTURES = [fixture("federal_register", f"documents_{name}.json") for name in ("page1", "page2", "empty")]
fr_documents = st.one_of(
    obj(
        count=json_values,
        results=maybe(list_of(maybe(obj(
            document_number=maybe(st.one_of(st.sampled_from(["2022-21658", "E8-1234", " "]), text)),
            publication_date=maybe(date_text),
            title=maybe(text),
            html_url=maybe(st.one_of(st.just("https://www.federalregister.gov/d/2022-21658"), text)),
            type=json_values,
        )))),
        errors=st.one_of(st.none(), json_values),
    ),
    json_values,
)  # fmt: skip


@PARSERS
@given(
    body=st.one_of(
        junk_bytes,
        fr_documents.map(encode),
        st.sampled_from(FR_FIXTURES).flatmap(truncated),
        st.one_of(*(mutated(body) for body in FR_FIXTURES)),
    )
)
def test_parse_federal_register_returns_event_columns_or_a_source_error(body: bytes) -> None:
    frame = parsed_or_rejected(lambda: parse_documents(body), EVENT_COLUMNS, sources={"federal_register"})
    if frame is not None and len(frame):
        assert frame["event_id"].is_unique and frame["event_id"].str.startswith("fr-").all()
        assert frame["title"].map(lambda title: "\n" not in title and len(title) <= 200).all()


# --- curated calendar ------------------------------------------------------------------------------

CURATED = Path(__file__).parents[1].joinpath("flows", "sources", "curated", "policy_events.csv").read_bytes()
CURATED_HEADER = ",".join(EVENT_COLUMNS[:-1])


@st.composite
def curated_texts(draw: st.DrawFn) -> bytes:
    header = draw(st.one_of(st.just(CURATED_HEADER), st.just(CURATED_HEADER + ",source"), text))
    row = st.lists(st.one_of(csv_cell, date_text), min_size=0, max_size=8).map(",".join)
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return newline.join([header, *draw(list_of(row, max_size=5))]).encode("utf-8", "surrogatepass")


@PARSERS
@given(body=st.one_of(junk_bytes, curated_texts(), truncated(CURATED)))
def test_parse_curated_events_returns_a_frame_or_a_value_error(body: bytes) -> None:
    """The calendar reader keeps the file's columns (validation reports drift) and adds ``source``.

    A file pandas cannot read as CSV raises pandas' ValueError (EmptyDataError, ParserError,
    UnicodeDecodeError) naming the problem.
    """
    until = AS_OF
    try:
        frame = parse_events(body, until=until)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(frame, pd.DataFrame)
    assert "source" in frame.columns and (frame["source"] == "curated").all()
    if body.startswith(CURATED_HEADER.encode() + b"\n") and b"\r" not in body:
        assert list(frame.columns) == EVENT_COLUMNS
    if "event_date" in frame.columns:
        assert all(pd.isna(day) or (isinstance(day, date) and day <= until) for day in frame["event_date"])


# --- the inputs that crashed the parsers before they were fixed --------------------------------------


def _edit(body: bytes, *changes: tuple[tuple[Any, ...], Any]) -> bytes:
    document = json.loads(body)
    for path, value in changes:
        document = _replace(document, path, value)
    return encode(document)


CHART = ("chart", "result", 0)
QUOTE = (*CHART, "indicators", "quote", 0)
NVDA_CHART, FX_CHART = CHART_FIXTURES["NVDA"], FX_FIXTURE
NVDA_SPLIT = (*CHART, "events", "splits", "1718026200")
REVENUE = ("timeseries", "result", 0)
SEC_FACT = ("facts", "us-gaap", "Revenues", "units", "USD", 0)
BLS_SERIES = ("Results", "series", 0)
REGRESSIONS: list[tuple[str, Callable[[bytes], pd.DataFrame], list[str], set[str], bytes]] = [
    # json.loads raises RecursionError (not a ValueError) on absurdly deep nesting
    ("chart-deep-nesting", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"}, b"[" * 5_000),
    ("companyfacts-deep-nesting", lambda b: parse_companyfacts(b, ticker="NVDA"), OUTPUT_COLUMNS, {"sec_edgar"},
     b'{"a":' * 5_000),
    ("bls-deep-nesting", parse_series, CPI_COLUMNS, {"bls"}, b"[" * 5_000),
    ("federal-register-deep-nesting", parse_documents, EVENT_COLUMNS, {"federal_register"}, b"[" * 5_000),
    # numbers beyond any float: OverflowError from float()/int()
    ("chart-huge-open", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"},
     _edit(NVDA_CHART, ((*QUOTE, "open", 0), 10**400))),
    ("chart-huge-split-numerator", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"},
     _edit(NVDA_CHART, ((*NVDA_SPLIT, "numerator"), 10**400))),
    ("chart-infinite-volume", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"},
     _edit(NVDA_CHART, ((*QUOTE, "volume", 0), math.inf))),
    ("chart-volume-1e300", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"},
     _edit(NVDA_CHART, ((*QUOTE, "volume", 0), 1e300))),
    ("timeseries-huge-value", lambda b: parse_timeseries(b, security=BABA, reporting_lag_days=45), FUNDAMENTAL_COLUMNS,
     {"yahoo"}, _edit(TIMESERIES_FIXTURE, ((*REVENUE, "quarterlyTotalRevenue", 0, "reportedValue", "raw"), 10**400))),
    ("companyfacts-infinite-cik", lambda b: parse_companyfacts(b, ticker="NVDA"), OUTPUT_COLUMNS, {"sec_edgar"},
     b'{"cik": Infinity, "facts": {}}'),
    ("companyfacts-huge-fiscal-year", lambda b: parse_companyfacts(b, ticker="NVDA"), OUTPUT_COLUMNS, {"sec_edgar"},
     _edit(SEC_FIXTURES[0], ((*SEC_FACT, "fy"), "99999999999999999999"))),
    ("companyfacts-huge-val", lambda b: parse_companyfacts(b, ticker="NVDA"), OUTPUT_COLUMNS, {"sec_edgar"},
     _edit(SEC_FIXTURES[0], ((*SEC_FACT, "val"), 10**400))),
    ("bls-huge-year", parse_series, CPI_COLUMNS, {"bls"},
     _edit(BLS_FIXTURE, ((*BLS_SERIES, "data", 0, "year"), 10**20))),
    # wrong nesting: a scalar where a list or an object belongs
    ("chart-timestamp-true", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"},
     _edit(NVDA_CHART, ((*CHART, "timestamp"), True))),
    ("chart-indicators-true", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"},
     _edit(NVDA_CHART, ((*CHART, "indicators"), True))),
    ("fx-indicators-int", lambda b: parse_fx_chart(b, currency="HKD"), FX_COLUMNS, {"yahoo"},
     _edit(FX_CHART, ((*CHART, "indicators"), 5))),
    ("timeseries-type-list-of-lists", lambda b: parse_timeseries(b, security=BABA, reporting_lag_days=45),
     FUNDAMENTAL_COLUMNS, {"yahoo"}, _edit(TIMESERIES_FIXTURE, ((*REVENUE, "meta", "type"), [["x"]]))),
    ("timeseries-type-int", lambda b: parse_timeseries(b, security=BABA, reporting_lag_days=45),
     FUNDAMENTAL_COLUMNS, {"yahoo"}, _edit(TIMESERIES_FIXTURE, ((*REVENUE, "meta", "type"), 7))),
    ("timeseries-symbol-int", lambda b: parse_timeseries(b, security=BABA, reporting_lag_days=45),
     FUNDAMENTAL_COLUMNS, {"yahoo"}, _edit(TIMESERIES_FIXTURE, ((*REVENUE, "meta", "symbol"), 7))),
    ("timeseries-entries-int", lambda b: parse_timeseries(b, security=BABA, reporting_lag_days=45),
     FUNDAMENTAL_COLUMNS, {"yahoo"}, _edit(TIMESERIES_FIXTURE, ((*REVENUE, "quarterlyTotalRevenue"), 7))),
    ("bls-series-int", parse_series, CPI_COLUMNS, {"bls"}, _edit(BLS_FIXTURE, (("Results", "series"), 7))),
    ("bls-data-int", parse_series, CPI_COLUMNS, {"bls"}, _edit(BLS_FIXTURE, ((*BLS_SERIES, "data"), 7))),
    ("bls-datum-null", parse_series, CPI_COLUMNS, {"bls"}, _edit(BLS_FIXTURE, ((*BLS_SERIES, "data", 0), None))),
    # timezone names that make ZoneInfo raise OSError (a directory, a name too long for the file system)
    ("chart-zone-directory", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"},
     _edit(NVDA_CHART, ((*CHART, "meta", "exchangeTimezoneName"), "America"))),
    ("chart-zone-too-long", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"},
     _edit(NVDA_CHART, ((*CHART, "meta", "exchangeTimezoneName"), 10**400))),
    # Infinity parsed as a number: the suites bound these columns below only, so it would have loaded
    ("chart-infinite-close", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"},
     _edit(NVDA_CHART, *(((*QUOTE, column, 0), math.inf) for column in ("open", "high", "low", "close")))),
    ("chart-split-overflowing-prices", lambda b: parse_chart(b, security=NVDA), PRICE_COLUMNS, {"yahoo"},
     _edit(NVDA_CHART, ((*NVDA_SPLIT, "numerator"), 1e308), ((*NVDA_SPLIT, "denominator"), 1e-10))),
    ("fx-infinite-close", lambda b: parse_fx_chart(b, currency="HKD"), FX_COLUMNS, {"yahoo"},
     _edit(FX_CHART, ((*QUOTE, "close", 0), math.inf))),
    ("timeseries-infinite-value", lambda b: parse_timeseries(b, security=BABA, reporting_lag_days=45),
     FUNDAMENTAL_COLUMNS, {"yahoo"},
     _edit(TIMESERIES_FIXTURE, ((*REVENUE, "quarterlyTotalRevenue", 0, "reportedValue", "raw"), math.inf))),
    ("companyfacts-infinite-val", lambda b: parse_companyfacts(b, ticker="NVDA"), OUTPUT_COLUMNS, {"sec_edgar"},
     _edit(SEC_FIXTURES[0], ((*SEC_FACT, "val"), math.inf))),
    # csv.Error: a lone carriage return inside a line
    ("fred-carriage-return", lambda b: parse_csv(b, fred_id="CPIAUCNS"), CPI_COLUMNS, {"fred"},
     b"observation_date,CPIAUCNS\n2025-01-01,1\r2025-02-01,2\n"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("parse", "columns", "sources", "body"),
    [case[1:] for case in REGRESSIONS],
    ids=[case[0] for case in REGRESSIONS],
)
def test_inputs_that_once_crashed_a_parser(
    parse: Callable[[bytes], pd.DataFrame], columns: list[str], sources: set[str], body: bytes
) -> None:
    parsed_or_rejected(lambda: parse(body), columns, sources=sources)


def test_curated_calendar_whose_dates_are_all_unreadable_reports_them_instead_of_crashing() -> None:
    """pandas kept an all-NaT column as datetime64, which could not be compared with a date (TypeError)."""
    frame = parse_events(b"event_id,event_date\nx,\x00\ny,2025-13-01\n", until=AS_OF)
    assert list(frame.columns) == ["event_id", "event_date", "source", "available_at"]
    assert len(frame) == 2 and frame["event_date"].isna().all()


# --- validate_frame --------------------------------------------------------------------------------

GOOD_ROWS: dict[str, dict[str, Any]] = {
    "prices": {
        "ticker": "0700.HK", "trade_date": date(2026, 11, 19), "open": 400.0, "high": 405.0, "low": 398.0,
        "close": 401.0, "adj_close": 401.0, "volume": 1000, "dividend": 0.0, "split_ratio": 1.0,
        "currency": "HKD", "exchange": "XHKG", "source": "sample",
    },
    "fx_rates": {
        "currency": "HKD", "rate_date": date(2026, 11, 19), "usd_per_unit": 0.128, "pair": "HKDUSD=X",
        "source": "sample",
    },
    "fundamentals": {
        "ticker": "BABA", "fiscal_period_end": date(2026, 6, 30), "fiscal_year": 2026, "fiscal_quarter": 2,
        "report_date": date(2026, 8, 14), "currency": "CNY", "revenue": 2.4e11, "operating_income": 3.0e10,
        "net_income": 2.5e10, "rd_expense": 1.4e10, "capex": 1.0e10, "shares_outstanding": 2.3e10,
        "source": "sample", "period_months": 3, "available_at": datetime(2026, 8, 14, 20, 0),
    },
    "cpi": {
        "series_id": "CUUR0000SA0", "period_date": date(2026, 4, 1), "value": 333.02, "release_date": date(2026, 5, 12),
        "is_release_date_estimated": False, "source": "bls_cpi_package", "available_at": datetime(2026, 5, 12, 12, 30),
    },
    "policy_events": {
        "event_id": "ok-event", "event_date": date(2025, 1, 2), "category": "diplomacy", "region": "US-CN",
        "title": "t", "source_url": "https://example.org/x", "source": "curated",
        "available_at": datetime(2025, 1, 2, 21, 0),
    },
}  # fmt: skip
# Columns a rule always rejects a given corruption of: not null / must be positive / a date.
NOT_NULL = {
    "prices": [
        "ticker", "trade_date", "close", "adj_close", "dividend", "split_ratio", "currency", "exchange", "source",
    ],
    "fx_rates": ["currency", "rate_date", "usd_per_unit", "pair", "source"],
    "fundamentals": [
        "ticker", "fiscal_period_end", "fiscal_year", "fiscal_quarter", "report_date", "currency", "source",
        "available_at",
    ],
    "cpi": ["series_id", "period_date", "value", "release_date", "is_release_date_estimated", "source", "available_at"],
    "policy_events": [
        "event_id", "event_date", "category", "region", "title", "source_url", "source", "available_at",
    ],
}  # fmt: skip
POSITIVE = {
    "prices": ["open", "high", "low", "close", "adj_close", "split_ratio"],
    "fx_rates": ["usd_per_unit"],
    "fundamentals": ["shares_outstanding"],
    "cpi": ["value"],
    "policy_events": [],
}
DATES = {
    "prices": "trade_date",
    "fx_rates": "rate_date",
    "fundamentals": "report_date",
    "cpi": "release_date",  # a CPI row is after --as-of when its month was released after it
    "policy_events": "event_date",
}
cell = st.one_of(
    st.none(),
    st.just(math.nan),
    numbers,
    text,
    st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 12, 31)),
    st.sampled_from([date(9999, 12, 31), date(2262, 4, 12), date(2100, 1, 1), datetime(2026, 11, 19, 12, 30)]),
    st.sampled_from([pd.NaT, pd.Timestamp("2026-11-19"), True]),
)


@dataclass
class Damage:
    """A damaged frame, {column: (part of) the name of a rule that must fail}, and the rows known to be bad."""

    frame: pd.DataFrame
    expected: dict[str, str]
    broken_rows: set[int]

    def __repr__(self) -> str:  # the rows in full: pandas' repr elides columns
        rows = self.frame.to_dict("records")
        return f"Damage(rows={rows!r}, expected={self.expected!r}, broken_rows={self.broken_rows!r})"


@st.composite
def broken_frames(draw: st.DrawFn, dataset: str) -> Damage:
    """A frame of the dataset's columns with random damage: values of random types in random cells, nulls in
    not-null columns, negative or textual prices, far-future dates, dropped or renamed columns."""
    good = GOOD_ROWS[dataset]
    columns = list(good)
    expected: dict[str, str] = {}
    broken_rows: set[int] = set()
    rows = []
    for position in range(draw(st.integers(min_value=1, max_value=4))):
        row = dict(good)
        kind = draw(st.sampled_from(["none", "random", "null", "negative", "text", "future"]))
        if kind == "random":
            for column in draw(st.sets(st.sampled_from(columns), max_size=3)):
                row[column] = draw(cell)
        elif kind == "null":
            column = draw(st.sampled_from(NOT_NULL[dataset]))
            row[column] = draw(st.sampled_from([None, math.nan, pd.NaT]))
            expected[column] = "expect_column_values_to_not_be_null"
        elif kind == "negative" and POSITIVE[dataset]:
            column = draw(st.sampled_from(POSITIVE[dataset]))
            row[column] = draw(st.sampled_from([-1.0, -1e300, -(2**62), 0.0]))
            expected[column] = "expect_column_values_to_be_between"
        elif kind == "text" and POSITIVE[dataset]:
            column = draw(st.sampled_from(POSITIVE[dataset]))
            row[column] = draw(st.sampled_from([SQL, "../../etc/passwd", "abc", "1e400"]))
            expected[column] = ""
        elif kind == "future":
            row[DATES[dataset]] = draw(st.sampled_from([date(2099, 1, 1), date(2262, 4, 10), date(9999, 12, 31)]))
            expected["gx_not_after_as_of"] = "gx_not_after_as_of"
        if kind in {"null", "future"} or kind in {"negative", "text"} and POSITIVE[dataset]:
            broken_rows.add(position)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=columns)
    for column in draw(st.sets(st.sampled_from(columns), max_size=2)):
        renamed = draw(st.one_of(st.none(), st.sampled_from([column.upper(), f"{column} ", SQL, "../../etc/passwd"])))
        frame = frame.drop(columns=[column]) if renamed is None else frame.rename(columns={column: renamed})
        expected[column] = "expect_column_to_exist"
    return Damage(frame, expected, broken_rows)


def check_report(report: ValidationReport, expected: dict[str, str]) -> None:
    assert isinstance(report, ValidationReport)
    assert report.success == (not report.failures)
    for failure in report.failures:
        assert failure.rule.startswith("expect_") and failure.describe()
    if expected:
        assert not report.success, f"expected failures on {sorted(expected)}"
        described = "\n".join(failure.rule for failure in report.failures)
        for column, rule in expected.items():
            named = [f for f in report.failures if f.column == column or f"column={column}" in f.rule]
            assert named, f"no failure names {column!r}:\n{described}"
            assert any(rule in f.rule for f in named), f"{column!r} failed without {rule!r}:\n{described}"


@pytest.fixture(scope="module")
def validation_settings():  # type: ignore[no-untyped-def]
    return load_settings({})


@pytest.mark.parametrize("dataset", list(GOOD_ROWS))
def test_validate_frame_never_raises_and_names_the_broken_rule(dataset: str, validation_settings) -> None:  # type: ignore[no-untyped-def]
    @VALIDATORS
    @given(damage=broken_frames(dataset))
    def check(damage: Damage) -> None:
        report = validate_frame(registry.get(dataset), damage.frame, settings=validation_settings, as_of=AS_OF)
        check_report(report, damage.expected)

    check()


def test_validate_frame_accepts_the_good_rows(validation_settings) -> None:  # type: ignore[no-untyped-def]
    """The baseline the damaged frames start from is valid, so each failure above is the damage's."""
    for dataset, row in GOOD_ROWS.items():
        report = validate_frame(registry.get(dataset), pd.DataFrame([row]), settings=validation_settings, as_of=AS_OF)
        assert report.success, (dataset, [failure.describe() for failure in report.failures])


# parser -> validator: whatever a parser makes of a damaged recording, its suite can evaluate it
PARSED: dict[str, tuple[Callable[[bytes], pd.DataFrame], st.SearchStrategy[bytes]]] = {
    "prices": (lambda body: parse_chart(body, security=NVDA), mutated(CHART_FIXTURES["NVDA"])),
    "fx_rates": (lambda body: parse_fx_chart(body, currency="HKD"), mutated(FX_FIXTURE)),
    "fundamentals": (lambda body: parse_companyfacts(body, ticker="NVDA"), mutated(SEC_FIXTURES[0])),
    "cpi": (parse_series, mutated(BLS_FIXTURE)),
    "policy_events": (parse_documents, mutated(FR_FIXTURES[0])),
}


@pytest.mark.parametrize("dataset", list(PARSED))
def test_parsed_damaged_recordings_validate_without_raising(dataset: str, validation_settings) -> None:  # type: ignore[no-untyped-def]
    parse, bodies = PARSED[dataset]

    @VALIDATORS
    @given(body=bodies)
    def check(body: bytes) -> None:
        try:
            frame = parse(body)
        except SourceError:
            return
        check_report(validate_frame(registry.get(dataset), frame, settings=validation_settings, as_of=AS_OF), {})

    check()


# --- end to end: malformed price rows through ingest ------------------------------------------------


def _digest(folder: Path) -> str:
    """One hash over every file under ``folder`` (the published copy): names and contents."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")) if folder.exists() else []:
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _prices(*changes: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([{**GOOD_ROWS["prices"], **change} for change in changes])


@pytest.fixture
def ingest_home(tmp_path: Path, warehouse: Home) -> Path:
    shutil.copytree(warehouse.path, tmp_path / "home")
    return tmp_path / "home"


@settings(
    max_examples=5,
    deadline=None,
    database=None,
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(damage=broken_frames("prices"))
@example(damage=Damage(_prices({"ticker": SQL, "high": 1.0, "low": 2.0}), {"ticker": "in_set"}, {0}))
@example(damage=Damage(_prices({}, {"close": "abc"}), {"close": ""}, {1}))  # text in a price column
@example(damage=Damage(_prices({}).rename(columns={"ticker": "TICKER"}), {"ticker": "to_exist"}, set()))
# once crashed the jump rule's look-up of previous closes (Arrow): a ticker column mixing ints and text
@example(damage=Damage(_prices({}, {"ticker": -437335}), {"ticker": "in_set"}, {1}))
# once crashed the landing step (Arrow): an int beyond int64 in an object column; two columns renamed alike
@example(damage=Damage(_prices({}, {"volume": 10**400}), {"volume": "gx_types_ok"}, {1}))
@example(damage=Damage(_prices({}).rename(columns={"open": "x", "high": "x"}), {"open": "to_exist"}, set()))
def test_ingest_of_malformed_price_rows_loads_nothing_that_failed(ingest_home: Path, damage: Damage) -> None:
    frame = damage.frame
    settings_ = load_settings({"GAPWATCH_HOME": str(ingest_home)})
    published = settings_.paths.published_database.parent
    store = Warehouse(settings_)
    reports: list[ValidationReport] = []

    def extract_malformed(dataset: Dataset, **_: object) -> Batch:
        return Batch(dataset.name, "sample", frame.copy(), None, AS_OF)

    def validate_and_keep(*args: Any, **kwargs: Any) -> ValidationReport:
        reports.append(ingest.validate(*args, **kwargs))
        return reports[-1]

    def snapshot() -> list[tuple[Any, ...]]:
        return (
            store.cursor()
            .execute(
                "select count(*), sum(hash(ticker, trade_date, open, high, low, close, adj_close, volume, load_id)) "
                "from raw.prices"
            )
            .fetchall()
        )

    try:
        before, published_before = snapshot(), _digest(published)
        try:
            result = ingest.ingest(
                registry.get("prices"), settings=settings_, warehouse=store, as_of=AS_OF, run_id="properties",
                steps=ingest.Steps(extract=extract_malformed, validate=validate_and_keep),
            )  # fmt: skip
        except ingest.IngestFailed as failure:
            exc = failure.__cause__
            assert isinstance(exc, DatasetValidationError) and failure.result.status == "failed"
            assert "Nothing from this batch was loaded" in str(exc)
            assert exc.report.blocking
            assert snapshot() == before
        else:
            # No critical rule failed: the rows that broke a (warning) rule are held back, the others load.
            [report] = reports
            failing = report.failing_rows()
            assert not report.blocking
            assert not any("to_exist" in rule for rule in damage.expected.values()), "a batch missing columns loaded"
            assert damage.broken_rows <= set(failing), f"broken rows {damage.broken_rows} not held back: {failing}"
            loaded = (
                store.cursor()
                .execute("select count(*) from raw.prices where load_id = ?", [result.load_id])
                .fetchone()[0]
            )
            assert loaded == len(frame) - len(failing) == result.rows_loaded
        assert _digest(published) == published_before  # ingest never publishes
    finally:
        store.close()
