"""SEC EDGAR submissions (the filing index), offline: recorded payloads through ``httpx.MockTransport``.

Fixtures (tests/fixtures/sec_edgar/, SEC's compact JSON; see the README there for what is real):

- ``submissions_CIK0001045810_10q_10k_8k.json``: NVIDIA's main document trimmed to 29 filings
  (2024-02-21 to 2025-11-19): 10-Q, 10-K, earnings 8-Ks (items 2.02,9.01) on the same days, 8-Ks 5.07
  and 5.02 (one accepted after 17:30 with the next business day's filing date), a 10-K/A, Form 4s,
  DEF 14As; ``filings.files`` lists page 001 (recorded) and page 002 (not recorded).
- ``submissions_CIK0001045810-submissions-001.json``: page 001, the bare columnar object (14 filings, 2023).
- ``submissions_CIK0001577552_20f_6k.json``: Alibaba, a 20-F filer: 6-Ks accepted before the US open,
  two 20-Fs, an S-8 and a Schedule 13G/A; no older pages.
- ``forbidden_undeclared_tool.html`` (SEC's 403 page), ``not_found_nosuchkey.xml`` (SEC's 404 body).

acceptanceDateTime is New York time labelled "Z" (see flows/sources/sec_edgar/submissions.py): the
expected ``accepted_at`` values below add 4 hours (EDT) or 5 hours (EST) to the recorded clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flows.settings import load_settings
from flows.sources.http import HttpClient, SourceError
from flows.sources.sample.filings import generate_filings
from flows.sources.sample.generator import generate_fundamentals
from flows.sources.sec_edgar import client as sec_client
from flows.sources.sec_edgar.submissions import (
    PERIODIC_FORMS,
    SUBMISSION_COLUMNS,
    SUBMISSION_DTYPES,
    parse_submissions,
)

FIXTURES = Path(__file__).parent / "fixtures" / "sec_edgar"
NVDA_MAIN = (FIXTURES / "submissions_CIK0001045810_10q_10k_8k.json").read_bytes()
NVDA_PAGE = (FIXTURES / "submissions_CIK0001045810-submissions-001.json").read_bytes()
BABA_MAIN = (FIXTURES / "submissions_CIK0001577552_20f_6k.json").read_bytes()
FORBIDDEN = (FIXTURES / "forbidden_undeclared_tool.html").read_bytes()
NOT_FOUND = (FIXTURES / "not_found_nosuchkey.xml").read_bytes()
PAGE_001 = "CIK0001045810-submissions-001.json"
PAGE_002 = "CIK0001045810-submissions-002.json"
# page 002 is listed by the recorded main document but not recorded: a one-filing stand-in in the same format
PAGE_002_BODY = json.dumps(
    {"accessionNumber": ["0001045810-22-000166"], "filingDate": ["2022-11-18"], "reportDate": ["2022-10-30"],
     "acceptanceDateTime": ["2022-11-18T16:12:09.000Z"], "act": ["34"], "form": ["10-Q"], "fileNumber": ["000-23985"],
     "filmNumber": ["221402717"], "items": [""], "size": [3651882], "isXBRL": [1], "isInlineXBRL": [1],
     "primaryDocument": ["nvda-20221030.htm"], "primaryDocDescription": ["10-Q"]},
    separators=(",", ":"),
).encode()  # fmt: skip
BASE = "https://data.sec.gov"
USER_AGENT = "gapwatch-tests research ops@example.org"
NVDA, BABA = "0001045810", "0001577552"


class Server:
    """Recorded payloads by path; keeps every request and every requested sleep."""

    def __init__(self, routes: dict[str, bytes | Callable[[httpx.Request], httpx.Response]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def client(self) -> HttpClient:
        def answer(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            route = self.routes.get(request.url.path)
            if route is None:
                return httpx.Response(404, content=NOT_FOUND, headers={"Content-Type": "application/xml"})
            if callable(route):
                return route(request)
            return httpx.Response(200, content=route, headers={"Content-Type": "application/json"})

        return sec_client.make_sec_client(
            BASE, user_agent=USER_AGENT, transport=httpx.MockTransport(answer), sleep=self.sleeps.append
        )

    @property
    def paths(self) -> list[str]:
        return [request.url.path for request in self.requests]


NVDA_ROUTES: dict[str, Any] = {
    "/submissions/CIK0001045810.json": NVDA_MAIN,
    f"/submissions/{PAGE_001}": NVDA_PAGE,
    f"/submissions/{PAGE_002}": PAGE_002_BODY,
}


def _document(body: bytes = NVDA_MAIN) -> dict[str, Any]:
    return json.loads(body)


def _body(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


def _row(frame: pd.DataFrame, accession: str) -> pd.Series:
    rows = frame[frame["accession_number"] == accession]
    assert len(rows) == 1, rows
    return rows.iloc[0]


@pytest.fixture(scope="module")
def nvda() -> pd.DataFrame:
    return parse_submissions(NVDA_MAIN, ticker="NVDA", cik=NVDA)


# --- client: which pages, which paths, which keys -------------------------------------------------


@pytest.mark.parametrize(
    ("since", "pages"),
    [
        (None, [PAGE_001, PAGE_002]),  # a backfill: every page
        (date(2023, 2, 21), [PAGE_001, PAGE_002]),  # page 002 ends on 2023-02-21: on or after counts
        (date(2023, 2, 22), [PAGE_001]),
        (date(2024, 2, 13), [PAGE_001]),  # page 001 ends on 2024-02-13
        (date(2024, 2, 14), []),
        (date(2026, 1, 1), []),
    ],
)
def test_older_pages_are_fetched_when_they_end_on_or_after_since(since: date | None, pages: list[str]) -> None:
    server = Server(NVDA_ROUTES)
    with server.client() as client:
        bodies = sec_client.fetch_submissions(client, NVDA, since=since)
    assert [label for label, _ in bodies] == ["recent", *pages]
    assert bodies[0][1] == NVDA_MAIN
    assert dict(bodies).get(PAGE_001, NVDA_PAGE) == NVDA_PAGE
    assert server.paths == ["/submissions/CIK0001045810.json", *(f"/submissions/{page}" for page in pages)]
    assert all(request.url.host == "data.sec.gov" for request in server.requests)
    assert all(request.headers["User-Agent"] == USER_AGENT for request in server.requests)


@pytest.mark.parametrize("cik", ["0001045810", "1045810", "CIK0001045810", "cik1045810"])
def test_the_cik_is_padded_in_the_path(cik: str) -> None:
    server = Server(NVDA_ROUTES)
    with server.client() as client:
        sec_client.fetch_submissions(client, cik, since=date(2030, 1, 1))
    assert server.paths == ["/submissions/CIK0001045810.json"]


def test_a_company_without_older_pages_is_one_request() -> None:
    server = Server({"/submissions/CIK0001577552.json": BABA_MAIN})
    with server.client() as client:
        bodies = sec_client.fetch_submissions(client, "1577552")
    assert bodies == [("recent", BABA_MAIN)]


def test_an_invalid_cik_is_refused_before_any_request() -> None:
    server = Server(NVDA_ROUTES)
    with server.client() as client, pytest.raises(ValueError, match="Invalid SEC CIK"):
        sec_client.fetch_submissions(client, "NVDA")
    assert server.requests == []


@pytest.mark.parametrize("body", [FORBIDDEN, NOT_FOUND, NVDA_MAIN[:3000], b"", b"[1, 2]", b'{"filings": []}'])
def test_a_main_body_that_is_not_a_document_comes_back_alone_for_the_parser(body: bytes) -> None:
    """An HTML page answered with 200 (a proxy, a captive portal), a cut-off body: no page discovery crash."""
    server = Server({"/submissions/CIK0001045810.json": body})
    with server.client() as client:
        bodies = sec_client.fetch_submissions(client, NVDA)
    assert bodies == [("recent", body)]
    with pytest.raises(SourceError) as raised:
        parse_submissions(body, ticker="NVDA", cik=NVDA)
    assert (raised.value.source, raised.value.key) == ("sec_edgar", "CIK0001045810")
    assert "CIK0001045810 (NVDA)" in str(raised.value)


def test_files_entries_that_name_no_page_of_this_company_are_never_requested() -> None:
    document = _document()
    document["filings"]["files"] = [
        {"name": "../api/xbrl/companyfacts/CIK0001045810.json", "filingTo": "2025-01-01"},  # not a page name
        {"name": "CIK0001577552-submissions-001.json", "filingTo": "2025-01-01"},  # another company's page
        {"filingCount": 3, "filingTo": "2025-01-01"},  # no name
        "CIK0001045810-submissions-003.json",  # not an object
        {"name": PAGE_001, "filingTo": "2024-02-13"},
        {"name": PAGE_001, "filingTo": "2024-02-13"},  # listed twice: fetched once
        {"name": PAGE_002, "filingTo": "someday"},  # unreadable filingTo: fetched rather than missed
    ]
    body = _body(document)
    server = Server({**NVDA_ROUTES, "/submissions/CIK0001045810.json": body})
    with server.client() as client:
        bodies = sec_client.fetch_submissions(client, NVDA, since=date(2024, 1, 1))
    assert [label for label, _ in bodies] == ["recent", PAGE_001, PAGE_002]
    # ... and the parser refuses the main document, naming the first bad entry
    with pytest.raises(SourceError, match=r"filings.files entry 0 .* does not name a page of this company"):
        parse_submissions(body, ticker="NVDA", cik=NVDA)


def test_404_for_an_unknown_cik_is_not_retried() -> None:
    server = Server({})
    with server.client() as client, pytest.raises(SourceError) as raised:
        sec_client.fetch_submissions(client, "9999999")
    error = raised.value
    assert (error.source, error.key, error.status) == ("sec_edgar", "CIK0009999999", 404)
    assert "/submissions/CIK0009999999.json" in str(error) and "not retried" in str(error)
    assert len(server.requests) == 1 and server.sleeps == []


def test_403_undeclared_automated_tool_is_not_retried_and_never_shows_the_contact() -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, content=FORBIDDEN, headers={"Content-Type": "text/html"})

    server = Server({"/submissions/CIK0001045810.json": forbidden})
    with server.client() as client, pytest.raises(SourceError) as raised:
        sec_client.fetch_submissions(client, NVDA)
    assert (raised.value.key, raised.value.status) == ("CIK0001045810", 403)
    assert "HTTP 403" in str(raised.value) and "not retried" in str(raised.value)
    assert "ops@example.org" not in str(raised.value)
    assert len(server.requests) == 1


def test_a_missing_older_page_fails_the_key_with_the_page_in_the_message() -> None:
    server = Server({"/submissions/CIK0001045810.json": NVDA_MAIN})  # page 001 answers 404 NoSuchKey
    with server.client() as client, pytest.raises(SourceError) as raised:
        sec_client.fetch_submissions(client, NVDA, since=date(2024, 1, 1))
    assert (raised.value.key, raised.value.status) == ("CIK0001045810", 404)
    assert PAGE_001 in str(raised.value)
    assert server.paths == ["/submissions/CIK0001045810.json", f"/submissions/{PAGE_001}"]


def test_a_503_on_a_page_is_retried_after_retry_after() -> None:
    answers = iter(
        [httpx.Response(503, headers={"Retry-After": "3"}, content=b"busy"), httpx.Response(200, content=NVDA_PAGE)]
    )
    server = Server({**NVDA_ROUTES, f"/submissions/{PAGE_001}": lambda request: next(answers)})
    with server.client() as client:
        bodies = sec_client.fetch_submissions(client, NVDA, since=date(2024, 1, 1))
    assert bodies == [("recent", NVDA_MAIN), (PAGE_001, NVDA_PAGE)]
    assert 3.0 in server.sleeps
    assert server.paths.count(f"/submissions/{PAGE_001}") == 2


# --- parser: NVIDIA (10-Q / 10-K filer) --------------------------------------------------------------


def test_output_columns_and_dtypes(nvda: pd.DataFrame) -> None:
    assert list(nvda.columns) == SUBMISSION_COLUMNS == [
        "ticker", "cik", "accession_number", "form", "items", "filing_date", "accepted_at",
        "report_date", "primary_document", "source",
    ]  # fmt: skip
    assert {column: str(dtype) for column, dtype in nvda.dtypes.items()} == {
        column: str(pd.Series([], dtype=dtype).dtype) for column, dtype in SUBMISSION_DTYPES.items()
    }
    assert str(nvda["accepted_at"].dtype) == "datetime64[us]"
    assert set(nvda["ticker"]) == {"NVDA"} and set(nvda["cik"]) == {NVDA} and set(nvda["source"]) == {"sec_edgar"}


def test_main_document_keeps_the_periodic_forms(nvda: pd.DataFrame) -> None:
    # 29 recorded filings: 7 Form 4 and 2 DEF 14A dropped
    assert len(nvda) == 20
    assert nvda["form"].value_counts().to_dict() == {"8-K": 11, "10-Q": 6, "10-K": 2, "10-K/A": 1}
    assert nvda["accepted_at"].is_monotonic_increasing
    assert not nvda["accession_number"].duplicated().any()


def test_hand_checked_rows(nvda: pd.DataFrame) -> None:
    ten_q = _row(nvda, "0001045810-24-000316")  # Q3 FY2025: quarter ended 2024-10-27, filed 2024-11-20
    assert ten_q.to_dict() == {
        "ticker": "NVDA", "cik": "0001045810", "accession_number": "0001045810-24-000316", "form": "10-Q",
        "items": None, "filing_date": date(2024, 11, 20), "accepted_at": _utc("2024-11-20 21:36:57"),
        "report_date": date(2024, 10, 27), "primary_document": "nvda-20241027.htm", "source": "sec_edgar",
    }  # fmt: skip
    earnings = _row(nvda, "0001045810-24-000314")  # the results press release, 15 minutes earlier
    assert (earnings["form"], earnings["items"]) == ("8-K", "2.02,9.01")
    assert earnings["accepted_at"] == _utc("2024-11-20 21:21:38")
    assert earnings["report_date"] == date(2024, 11, 20)
    ten_k = _row(nvda, "0001045810-25-000023")
    assert (ten_k["form"], ten_k["report_date"], ten_k["filing_date"]) == ("10-K", date(2025, 1, 26), date(2025, 2, 26))
    assert ten_k["accepted_at"] == _utc("2025-02-26 21:39:54")
    amendment = _row(nvda, "0001045810-25-000041")
    assert (amendment["form"], amendment["report_date"]) == ("10-K/A", date(2025, 1, 26))
    assert _row(nvda, "0001045810-25-000161")["items"] == "5.07"


def test_every_periodic_report_has_an_earnings_8k_the_same_day_except_the_amendment(nvda: pd.DataFrame) -> None:
    earnings_days = set(nvda.loc[nvda["items"].fillna("").str.contains("2.02", regex=False), "filing_date"])
    reports = nvda[nvda["form"].isin(["10-Q", "10-K"])]
    assert set(reports["filing_date"]) - earnings_days == {date(2024, 5, 29)}  # Q1 FY2025: 10-Q a week later
    assert date(2025, 3, 20) not in earnings_days  # the 10-K/A


def test_acceptance_time_is_new_york_time_converted_to_utc_across_dst(nvda: pd.DataFrame) -> None:
    """The recorded clock + 4 h in summer (EDT), + 5 h in winter (EST)."""
    assert _row(nvda, "0001045810-24-000264")["accepted_at"] == _utc("2024-08-28 20:37:49")  # 16:37:49 EDT
    assert _row(nvda, "0001045810-24-000316")["accepted_at"] == _utc("2024-11-20 21:36:57")  # 16:36:57 EST
    assert _row(nvda, "0001045810-25-000209")["accepted_at"] == _utc("2025-08-27 20:35:26")  # 16:35:26 EDT
    # accepted Friday 2025-03-07 17:48 EST (after the 17:30 cutoff): filed on Monday 2025-03-10, after the
    # switch to EDT on 03-09 -- the conversion follows the acceptance date, filing_date is SEC's
    late = _row(nvda, "0001045810-25-000036")
    assert late["accepted_at"] == _utc("2025-03-07 22:48:12")
    assert late["filing_date"] == date(2025, 3, 10)


@pytest.mark.parametrize(
    ("recorded", "utc"),
    [
        ("2024-11-01T16:30:00.000Z", "2024-11-01 20:30:00"),  # Friday before DST ended (EDT)
        ("2024-11-04T16:30:00.000Z", "2024-11-04 21:30:00"),  # Monday after (EST)
        ("2025-03-07T06:15:00.000Z", "2025-03-07 11:15:00"),  # Friday before DST began (EST)
        ("2025-03-10T06:15:00.000Z", "2025-03-10 10:15:00"),  # Monday after (EDT)
        ("2025-03-10T06:15:00.250Z", "2025-03-10 10:15:00.250"),
        ("2025-03-10T06:15:00", "2025-03-10 10:15:00"),  # no designator: New York time too
        ("2024-11-20T16:36:57-05:00", "2024-11-20 21:36:57"),  # an explicit offset is honoured
        ("2024-11-20T21:36:57+00:00", "2024-11-20 21:36:57"),
    ],
)
def test_acceptance_time_conversion(recorded: str, utc: str) -> None:
    document = _document(NVDA_PAGE)
    document["acceptanceDateTime"][2] = recorded  # the Q3 FY2024 10-Q
    frame = parse_submissions(_body(document), ticker="NVDA", cik=NVDA)
    assert _row(frame, "0001045810-23-000227")["accepted_at"] == _utc(utc)


def test_an_older_page_is_parsed_like_the_main_document() -> None:
    page = parse_submissions(NVDA_PAGE, ticker="NVDA", cik="1045810")
    assert list(page.columns) == SUBMISSION_COLUMNS
    assert page["form"].value_counts().to_dict() == {"8-K": 5, "10-Q": 3, "10-K": 1}  # no SC 13G/A, Form 4, DEF 14A
    first, last = page.iloc[0], page.iloc[-1]
    assert (first["accession_number"], first["form"], first["accepted_at"]) == (
        "0001045810-23-000015", "8-K", _utc("2023-02-22 21:20:47"),
    )  # fmt: skip
    assert (last["accession_number"], last["form"], last["report_date"], last["accepted_at"]) == (
        "0001045810-23-000227", "10-Q", date(2023, 10, 29), _utc("2023-11-21 21:34:12"),
    )  # fmt: skip
    assert _row(page, "0001045810-23-000175")["accepted_at"] == _utc("2023-08-28 20:13:27")  # EDT


# --- parser: a 20-F filer ----------------------------------------------------------------------------


def test_20f_filer_gives_6k_and_20f_rows() -> None:
    baba = parse_submissions(BABA_MAIN, ticker="BABA", cik="1577552")
    assert len(baba) == 12  # the S-8 and the Schedule 13G/A dropped
    assert baba["form"].value_counts().to_dict() == {"6-K": 10, "20-F": 2}
    assert set(baba["cik"]) == {BABA} and baba["items"].isna().all()
    annual = baba[baba["form"] == "20-F"]
    assert list(annual["accession_number"]) == ["0000950170-24-060617", "0000950170-25-071304"]
    assert list(annual["report_date"]) == [date(2024, 3, 31), date(2025, 3, 31)]
    assert list(annual["accepted_at"]) == [_utc("2024-05-23 11:12:30"), _utc("2025-05-15 10:52:27")]
    # results 6-Ks before the US open: 06:3x New York time is 10:3x UTC in summer, 11:3x in winter
    assert _row(baba, "0001104659-24-089117")["accepted_at"] == _utc("2024-08-15 10:31:40")
    assert _row(baba, "0001104659-24-119030")["accepted_at"] == _utc("2024-11-15 11:32:15")
    # on 2025-05-15 the results 6-K came 48 minutes before the 20-F
    same_day = baba[baba["filing_date"] == date(2025, 5, 15)]
    assert list(same_day["form"]) == ["6-K", "20-F"]


# --- parser: forms filter, empty strings, duplicates, order -------------------------------------------


def test_forms_filter() -> None:
    insiders = parse_submissions(NVDA_MAIN, ticker="NVDA", cik=NVDA, forms=frozenset({"4"}))
    assert len(insiders) == 7 and set(insiders["form"]) == {"4"}
    assert insiders["items"].isna().all()
    assert _row(insiders, "0001045810-25-000231")["primary_document"] == "xslF345X05/wk-form4_1758581059.xml"
    proxies = parse_submissions(NVDA_MAIN, ticker="NVDA", cik=NVDA, forms=frozenset({"DEF 14A"}))
    assert list(proxies["report_date"]) == [None, None]  # empty reportDate -> None
    annual = parse_submissions(NVDA_MAIN, ticker="NVDA", cik=NVDA, forms=frozenset({"10-K", "10-K/A"}))
    assert list(annual["accession_number"]) == [
        "0001045810-24-000029", "0001045810-25-000023", "0001045810-25-000041",
    ]  # fmt: skip
    assert parse_submissions(NVDA_MAIN, ticker="NVDA", cik=NVDA, forms=frozenset()).empty
    assert PERIODIC_FORMS == {
        "10-Q", "10-Q/A", "10-K", "10-K/A", "20-F", "20-F/A", "40-F", "40-F/A", "6-K", "6-K/A", "8-K", "8-K/A",
    }  # fmt: skip


def test_rows_the_filter_drops_are_not_read_beyond_their_form() -> None:
    document = _document()
    recent = document["filings"]["recent"]
    form4 = recent["form"].index("4")
    recent["acceptanceDateTime"][form4] = ""
    recent["accessionNumber"][form4] = "garbled"
    assert len(parse_submissions(_body(document), ticker="NVDA", cik=NVDA)) == 20


def test_empty_strings_become_none() -> None:
    document = _document(NVDA_PAGE)
    document["primaryDocument"][2] = ""
    document["reportDate"][2] = ""
    del document["items"]  # an absent optional array reads as empty
    frame = parse_submissions(_body(document), ticker="NVDA", cik=NVDA)
    row = _row(frame, "0001045810-23-000227")
    assert row["primary_document"] is None and row["report_date"] is None
    assert frame["items"].isna().all()


def test_a_repeated_accession_number_gives_one_row_the_first_listing() -> None:
    document = _document(NVDA_PAGE)
    for values in document.values():
        values.append(values[2])  # the Q3 FY2024 10-Q again, at the end...
    document["acceptanceDateTime"][-1] = "2023-11-22T09:00:00.000Z"  # ... with another acceptance time
    frame = parse_submissions(_body(document), ticker="NVDA", cik=NVDA)
    assert len(frame) == 9
    assert _row(frame, "0001045810-23-000227")["accepted_at"] == _utc("2023-11-21 21:34:12")


def test_rows_are_sorted_by_acceptance_then_accession_number() -> None:
    document = _document(NVDA_PAGE)
    document["acceptanceDateTime"] = ["2023-11-21T16:21:30.000Z"] * len(document["form"])
    frame = parse_submissions(_body(document), ticker="NVDA", cik=NVDA)
    assert list(frame["accession_number"]) == sorted(frame["accession_number"])


# --- parser: broken payloads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (FORBIDDEN, "is not JSON"),  # SEC's 403 "Undeclared Automated Tool" page
        (NOT_FOUND, "is not JSON"),  # SEC's 404 NoSuchKey XML
        (NVDA_MAIN[:4000], "is not JSON"),  # cut off
        (b"[]", "is a JSON list"),
        (b'{"message": "Not Found", "status": 404}', "is an error envelope"),
        (b'{"error": "Rate limit exceeded"}', "is an error envelope"),
        (b'{"cik": "1045810", "name": "NVIDIA CORP"}', "has no 'filings' object"),
        (b'{"cik": "1045810", "filings": {"files": []}}', "has no 'filings.recent' object"),
        (b'{"cik": "1045810", "filings": []}', "has no 'filings.recent' object"),
        (b'{"cik": "1045810", "filings": {"recent": {}, "files": {}}}', "'filings.files' is not a list"),
    ],
)
def test_malformed_bodies_are_source_errors_naming_the_cik(body: bytes, message: str) -> None:
    with pytest.raises(SourceError, match=re.escape(message)) as raised:
        parse_submissions(body, ticker="NVDA", cik=NVDA)
    assert (raised.value.source, raised.value.key) == ("sec_edgar", "CIK0001045810")
    assert "SEC submissions for CIK0001045810 (NVDA)" in str(raised.value)


def _broken(change: Callable[[dict[str, Any]], None]) -> bytes:
    document = _document()
    change(document)
    return _body(document)


def _recent(document: dict[str, Any]) -> dict[str, Any]:
    return document["filings"]["recent"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _recent(d)["filingDate"].pop(), "unequal lengths (accessionNumber 29, filingDate 28"),
        (lambda d: _recent(d)["size"].append(1), "unequal lengths"),
        (lambda d: _recent(d).pop("acceptanceDateTime"), "filings.recent has no 'acceptanceDateTime' array"),
        (lambda d: _recent(d).update(form="10-Q"), "'form' of filings.recent is not an array ('10-Q')"),
        (lambda d: _recent(d).update(items=None), "'items' of filings.recent is not an array (None)"),
        (lambda d: _recent(d)["form"].__setitem__(0, None), "filing 0 in filings.recent has form None"),
        (lambda d: _recent(d)["accessionNumber"].__setitem__(0, "1045810-25-255"), "accession number '1045810-25-255'"),
        (lambda d: _recent(d)["filingDate"].__setitem__(0, "2025-11-31"), "filingDate '2025-11-31'"),
        (lambda d: _recent(d)["filingDate"].__setitem__(0, ""), "filingDate ''"),
        (lambda d: _recent(d)["reportDate"].__setitem__(0, "20251026"), "reportDate '20251026'"),
        (lambda d: _recent(d)["acceptanceDateTime"].__setitem__(0, ""), "acceptanceDateTime ''"),
        (lambda d: _recent(d)["acceptanceDateTime"].__setitem__(0, 1763588465), "acceptanceDateTime 1763588465"),
        (lambda d: _recent(d)["acceptanceDateTime"].__setitem__(0, "2025-11-19T24:41:05.000Z"), "2025-11-19T24:41"),
        (lambda d: _recent(d)["acceptanceDateTime"].__setitem__(0, "9999-11-19T16:41:05.000Z"), "outside 1980-2199"),
        (lambda d: _recent(d)["acceptanceDateTime"].__setitem__(0, "2025-11-19T16:41:05+25:00"), "+25:00"),
        (lambda d: _recent(d)["items"].__setitem__(1, ["2.02", "9.01"]), "items ['2.02', '9.01']"),
        (lambda d: d.update(cik="1577552"), "holds the filings of CIK0001577552, not CIK0001045810"),
        (lambda d: d.update(cik=["1045810"]), "unreadable 'cik'"),
    ],
)
def test_unreadable_documents_are_source_errors(change: Callable[[dict[str, Any]], None], message: str) -> None:
    with pytest.raises(SourceError, match=re.escape(message)) as raised:
        parse_submissions(_broken(change), ticker="NVDA", cik=NVDA)
    assert raised.value.key == "CIK0001045810"


def test_a_page_with_unequal_arrays_is_a_source_error() -> None:
    document = _document(NVDA_PAGE)
    document["items"] = document["items"][:-1]
    with pytest.raises(SourceError, match=r"the arrays of the page have unequal lengths \(.*items 13"):
        parse_submissions(_body(document), ticker="NVDA", cik=NVDA)


# --- properties --------------------------------------------------------------------------------------

PROPERTIES = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=30,
)
ARRAY_NAMES = st.sampled_from(["accessionNumber", "filingDate", "reportDate", "acceptanceDateTime", "form", "items",
                               "primaryDocument", "size", "act"])  # fmt: skip


def _assert_well_typed(frame: pd.DataFrame, forms: frozenset[str] = PERIODIC_FORMS) -> None:
    assert list(frame.columns) == SUBMISSION_COLUMNS
    assert {column: str(dtype) for column, dtype in frame.dtypes.items()} == {
        column: str(pd.Series([], dtype=dtype).dtype) for column, dtype in SUBMISSION_DTYPES.items()
    }
    assert frame["accepted_at"].notna().all() and frame["accepted_at"].is_monotonic_increasing
    assert not frame["accession_number"].duplicated().any()
    assert set(frame["form"]) <= forms
    assert all(value is None or isinstance(value, str) and value for value in frame["items"])
    assert all(isinstance(value, date) for value in frame["filing_date"])
    assert all(value is None or isinstance(value, date) for value in frame["report_date"])


def _parse_or_source_error(body: bytes) -> None:
    try:
        frame = parse_submissions(body, ticker="NVDA", cik=NVDA)
    except SourceError as exc:
        assert exc.source == "sec_edgar" and exc.key == "CIK0001045810"
        return
    _assert_well_typed(frame)


@PROPERTIES
@given(st.binary(max_size=200) | JSON_VALUES.map(_body))
@example(b"\xff\xfe{")
@example(b'{"filings": {"recent": {"accessionNumber": [], "filingDate": [], "acceptanceDateTime": [], "form": []}}}')
def test_any_body_gives_typed_rows_or_a_source_error(body: bytes) -> None:
    _parse_or_source_error(body)


@PROPERTIES
@given(st.data())
def test_any_damage_to_a_recorded_document_gives_typed_rows_or_a_source_error(data: st.DataObject) -> None:
    """The recorded main document or page with cells, arrays or keys replaced by arbitrary JSON."""
    document = _document(data.draw(st.sampled_from([NVDA_MAIN, NVDA_PAGE])))
    arrays = document["filings"]["recent"] if "filings" in document else document
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(ARRAY_NAMES)
        action = data.draw(st.sampled_from(["cell", "array", "drop", "truncate", "top"]))
        if action == "cell" and isinstance(arrays.get(name), list) and arrays[name]:
            arrays[name][data.draw(st.integers(0, len(arrays[name]) - 1))] = data.draw(JSON_VALUES)
        elif action == "array":
            arrays[name] = data.draw(JSON_VALUES)
        elif action == "drop":
            arrays.pop(name, None)
        elif action == "truncate" and isinstance(arrays.get(name), list):
            del arrays[name][data.draw(st.integers(0, len(arrays[name]))) :]
        elif action == "top":
            document[data.draw(st.sampled_from(["cik", "filings", "accessionNumber"]))] = data.draw(JSON_VALUES)
    _parse_or_source_error(_body(document))


NEW_YORK_TIMES = st.datetimes(min_value=datetime(2001, 1, 1, 6), max_value=datetime(2035, 12, 31, 22)).filter(
    lambda moment: time(6) <= moment.time() < time(22)  # EDGAR's hours: never inside a DST change (02:00)
)
FILINGS = st.lists(
    st.tuples(
        st.sampled_from(["10-Q", "10-K", "8-K", "6-K", "20-F", "40-F", "10-K/A", "4", "DEF 14A", "SC 13G/A"]),
        st.integers(0, 40),  # accession sequence: repeats are duplicates
        NEW_YORK_TIMES,
        st.sampled_from(["", "2.02,9.01", "5.07"]),
        st.one_of(st.just(""), st.dates(min_value=date(2000, 1, 1), max_value=date(2035, 12, 31)).map(str)),
    ),
    max_size=25,
)


@PROPERTIES
@given(FILINGS)
def test_well_formed_pages_give_one_row_per_periodic_accession_in_utc(filings: list[tuple]) -> None:
    """An oracle independent of the parser: pandas' own New York -> UTC conversion."""
    page: dict[str, list[Any]] = {
        "accessionNumber": [
            f"0001045810-{moment.year % 100:02d}-{sequence:06d}" for _, sequence, moment, *_ in filings
        ],
        "filingDate": [moment.date().isoformat() for _, _, moment, *_ in filings],
        "reportDate": [report for *_, report in filings],
        "acceptanceDateTime": [moment.strftime("%Y-%m-%dT%H:%M:%S.000Z") for _, _, moment, *_ in filings],
        "form": [form for form, *_ in filings],
        "items": [items for _, _, _, items, _ in filings],
        "primaryDocument": ["doc.htm"] * len(filings),
    }
    frame = parse_submissions(_body(page), ticker="NVDA", cik=NVDA)
    _assert_well_typed(frame)
    expected: dict[str, pd.Timestamp] = {}
    for accession, form, accepted in zip(
        page["accessionNumber"], page["form"], page["acceptanceDateTime"], strict=True
    ):
        if form in PERIODIC_FORMS and accession not in expected:
            local = pd.Timestamp(accepted.removesuffix(".000Z"))
            expected[accession] = local.tz_localize("America/New_York").tz_convert("UTC").tz_localize(None)
    assert dict(zip(frame["accession_number"], frame["accepted_at"], strict=True)) == expected


# --- sample filings ----------------------------------------------------------------------------------

SETTINGS = load_settings({})
AS_OF = date(2026, 11, 20)


@pytest.fixture(scope="module")
def fundamentals() -> pd.DataFrame:
    return generate_fundamentals(SETTINGS.universe, SETTINGS.sample, start={}, end=AS_OF)


@pytest.fixture(scope="module")
def sample(fundamentals: pd.DataFrame) -> pd.DataFrame:
    return generate_filings(fundamentals, SETTINGS.universe.securities)


def _new_york(frame: pd.DataFrame) -> pd.Series:
    return frame["accepted_at"].dt.tz_localize("UTC").dt.tz_convert("America/New_York")


def test_sample_filings_are_deterministic_and_typed(fundamentals: pd.DataFrame, sample: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(sample, generate_filings(fundamentals, SETTINGS.universe.securities))
    _assert_well_typed(sample)
    assert set(sample["source"]) == {"sample"}
    assert sample["accession_number"].is_unique
    assert sample["accession_number"].str.fullmatch(r"\d{10}-\d{2}-\d{6}").all()
    assert (sample["accession_number"].str[:10] == sample["cik"]).all()  # self-filed under the company's CIK
    assert (sample["accession_number"].str[11:13] == sample["filing_date"].map(lambda d: f"{d.year % 100:02d}")).all()


def test_one_periodic_report_per_report_date_for_securities_with_a_cik(
    fundamentals: pd.DataFrame, sample: pd.DataFrame
) -> None:
    filers = {s.ticker: s for s in SETTINGS.universe.securities if s.cik and s.group in ("us_ai_leader", "china_tech")}
    assert set(sample["ticker"]) == set(filers)  # not 0700.HK and the other HK listings, not the benchmarks
    periodic = sample[sample["form"].isin(["10-Q", "10-K", "6-K", "20-F"])]
    expected = fundamentals[fundamentals["ticker"].isin(list(filers))][["ticker", "report_date"]].drop_duplicates()
    assert len(periodic) == len(expected)
    assert set(zip(periodic["ticker"], periodic["filing_date"], strict=True)) == set(
        zip(expected["ticker"], expected["report_date"], strict=True)
    )
    for row in periodic.itertuples():
        statements = fundamentals[
            (fundamentals["ticker"] == row.ticker) & (fundamentals["report_date"] == row.filing_date)
        ]
        annual = bool((statements["fiscal_quarter"] == 4).any())
        us = filers[row.ticker].group == "us_ai_leader"
        assert (
            row.form
            == {(True, False): "10-Q", (True, True): "10-K", (False, False): "6-K", (False, True): "20-F"}[(us, annual)]
        )
        assert row.report_date == max(statements["fiscal_period_end"])
        assert row.cik == filers[row.ticker].cik
    assert set(sample.loc[sample["ticker"] == "NVDA", "form"]) == {"10-Q", "10-K", "8-K"}
    assert set(sample.loc[sample["ticker"] == "BABA", "form"]) == {"6-K", "20-F"}


def test_us_filers_file_an_earnings_8k_before_the_report_the_same_day(sample: pd.DataFrame) -> None:
    us = sample[sample["form"].isin(["10-Q", "10-K", "8-K"])]
    for (_, _), day in us.groupby(["ticker", "filing_date"]):
        assert sorted(day["form"]) in (["10-Q", "8-K"], ["10-K", "8-K"])
        earnings = day[day["form"] == "8-K"].iloc[0]
        report = day[day["form"] != "8-K"].iloc[0]
        assert earnings["items"] == "2.02,9.01" and earnings["report_date"] == earnings["filing_date"]
        assert timedelta(minutes=3) <= report["accepted_at"] - earnings["accepted_at"] <= timedelta(minutes=15)
    assert sample.loc[sample["form"] != "8-K", "items"].isna().all()


def test_acceptance_times_are_after_the_close_or_before_the_open_in_new_york(sample: pd.DataFrame) -> None:
    local = _new_york(sample)
    clock = local.dt.time
    after_close = (clock >= time(16, 5)) & (clock <= time(17, 30))
    before_open = (clock >= time(6, 0)) & (clock <= time(8, 30))
    assert (after_close | before_open).all()
    assert after_close.any() and before_open.any()
    assert (local.dt.date == sample["filing_date"]).all()
    # zoneinfo's DST: 4 hours in summer, 5 in winter, as pandas' tz database says
    offsets = sample["accepted_at"] - local.dt.tz_localize(None)
    assert set(offsets) == {timedelta(hours=4), timedelta(hours=5)}
    summer = sample["filing_date"].map(lambda d: date(d.year, 4, 1) <= d <= date(d.year, 10, 31))
    assert (offsets[summer] == timedelta(hours=4)).all()
    assert (offsets[sample["filing_date"].map(lambda d: d.month in (12, 1, 2))] == timedelta(hours=5)).all()
    # per (ticker, report date), both filings sit in the same window
    windows = after_close.groupby([sample["ticker"], sample["filing_date"]]).nunique()
    assert (windows == 1).all()


def test_filings_of_a_report_do_not_depend_on_the_rest_of_the_frame(
    fundamentals: pd.DataFrame, sample: pd.DataFrame
) -> None:
    """An incremental run emits only new report dates: the filings it gives them must be the same."""
    later = fundamentals[fundamentals["report_date"] >= date(2026, 1, 1)]
    part = generate_filings(later, SETTINGS.universe.securities)
    expected = sample[sample["filing_date"] >= date(2026, 1, 1)].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, expected)


def test_annual_reports_by_period_months_and_any_security_like_object() -> None:
    fundamentals = pd.DataFrame(
        {
            "ticker": ["AAA", "AAA", "AAA", "ADR", "ADR", "NOCIK"],
            "fiscal_period_end": [date(2025, 12, 31), date(2025, 12, 31), date(2026, 3, 31)] + [date(2025, 12, 31)] * 3,
            "report_date": [date(2026, 2, 20), date(2026, 2, 20), date(2026, 5, 1)] + [date(2026, 3, 2)] * 3,
            "period_months": [3, 12, 3, 12, 12, 3],
        }
    )
    securities = [
        SimpleNamespace(ticker="AAA", cik="123", group="us_ai_leader"),
        SimpleNamespace(ticker="ADR", cik="0000000456", group="china_tech"),
        SimpleNamespace(ticker="NOCIK", cik=None, group="us_ai_leader"),
    ]
    filings = generate_filings(fundamentals, securities)
    got = sorted(zip(filings["ticker"], filings["form"], filings["report_date"], strict=True))
    assert got == [
        ("AAA", "10-K", date(2025, 12, 31)), ("AAA", "10-Q", date(2026, 3, 31)),
        ("AAA", "8-K", date(2026, 2, 20)), ("AAA", "8-K", date(2026, 5, 1)),
        ("ADR", "20-F", date(2025, 12, 31)),
    ]  # fmt: skip
    assert set(filings["cik"]) == {"0000000123", "0000000456"}
    empty = generate_filings(fundamentals.iloc[0:0], securities)
    assert empty.empty and list(empty.columns) == SUBMISSION_COLUMNS


# --- the loopback server's submissions route, through the real client and parser -----------------------


def test_live_server_serves_the_sample_filings_in_the_wire_format() -> None:
    from live_server import serve_recordings

    live_settings = load_settings(
        {
            "GAPWATCH_UNIVERSE": str(Path(__file__).parent / "fixtures" / "live_universe.yaml"),
            "GAPWATCH_SAMPLE_YEARS": "3",
        }
    )
    with serve_recordings(live_settings, as_of=AS_OF) as (base_url, sources):
        client = sec_client.make_sec_client(base_url, user_agent=USER_AGENT)
        with client:
            for security in (s for s in live_settings.universe.securities if s.cik):
                bodies = sec_client.fetch_submissions(client, security.cik)
                assert [label for label, _ in bodies] == ["recent", f"CIK{security.cik}-submissions-001.json"]
                parsed = pd.concat(
                    [parse_submissions(body, ticker=security.ticker, cik=security.cik) for _, body in bodies]
                )
                expected = sources.filings[sources.filings["ticker"] == security.ticker]
                pd.testing.assert_frame_equal(
                    parsed.sort_values(["accepted_at", "accession_number"]).reset_index(drop=True),
                    expected.assign(source="sec_edgar").reset_index(drop=True),
                )
                recent = sec_client.fetch_submissions(client, security.cik, since=AS_OF - timedelta(days=30))
                assert [label for label, _ in recent] == ["recent"]
            with pytest.raises(SourceError) as raised:
                sec_client.fetch_submissions(client, "9999999")
            assert raised.value.status == 404
        assert any(path.startswith("/submissions/CIK0001577552") for path in sources.requests)


# --- as of a date: the filings public by the end of that day in New York ------------------------------


def test_known_by_keeps_the_filings_accepted_before_the_end_of_the_day_in_new_york(nvda: pd.DataFrame) -> None:
    from flows.sources.sec_edgar.submissions import known_by

    # the Q3 FY2025 10-Q: accepted 2024-11-20 16:36:57 New York (21:36:57 UTC), filed 2024-11-20
    day_before = known_by(nvda, date(2024, 11, 19))
    assert "0001045810-24-000316" not in set(day_before["accession_number"])
    assert (day_before["filing_date"] <= date(2024, 11, 19)).all()
    assert "0001045810-24-000316" in set(known_by(nvda, date(2024, 11, 20))["accession_number"])
    # accepted late in the evening New York time (after midnight UTC) still counts for that New York day
    late = nvda.assign(
        accepted_at=nvda["accepted_at"].where(
            nvda["accession_number"] != "0001045810-24-000316", _utc("2024-11-21 03:30:00")
        )
    )  # 22:30 EST
    assert "0001045810-24-000316" in set(known_by(late, date(2024, 11, 20))["accession_number"])
    # ... but a filing accepted after the end of the day is not (whatever its filing date says)
    leaked = nvda.assign(
        accepted_at=nvda["accepted_at"].where(
            nvda["accession_number"] != "0001045810-24-000316", _utc("2024-11-21 05:00:01")
        )
    )  # 00:00:01 EST
    assert "0001045810-24-000316" not in set(known_by(leaked, date(2024, 11, 20))["accession_number"])
