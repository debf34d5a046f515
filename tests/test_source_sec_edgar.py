"""SEC EDGAR companyfacts connector, offline: recorded payloads served through ``httpx.MockTransport``.

Fixtures (tests/fixtures/sec_edgar/, the real companyfacts wire format; values illustrative):

- ``companyfacts_CIK0001045810_10q_10k.json``: an NVIDIA-like 10-Q/10-K filer (fiscal year ends late
  January, USD): quarterly income items, year-to-date capex (PaymentsToAcquireProductiveAssets),
  facts repeated by later filings, Q1 FY2025 R&D restated in the Q1 FY2026 10-Q, balance-sheet and
  cover-page share counts, fiscal 2023 revenue only under the older revenue tag.
- ``companyfacts_CIK0001577552_20f_usgaap_cny.json``: an Alibaba-like 20-F filer (US GAAP, CNY,
  fiscal year ends March 31), annual facts only, plus a USD convenience translation.
- ``companyfacts_CIK0001744676_20f_ifrs_cny.json``: a Tencent-Music-like 20-F filer (IFRS, CNY).
- ``forbidden_undeclared_tool.html`` (SEC's 403 page), ``not_found_nosuchkey.xml`` (SEC's 404 body).

No network, no real sleeping: every client gets a mock transport and a ``sleep`` that only records.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import pandas as pd
import pytest

from flows.sources.http import HttpClient, SourceError
from flows.sources.sample.generator import FUNDAMENTAL_COLUMNS
from flows.sources.sec_edgar import client as sec_client
from flows.sources.sec_edgar.parser import parse_companyfacts

FIXTURES = Path(__file__).parent / "fixtures" / "sec_edgar"
NVDA_FACTS = (FIXTURES / "companyfacts_CIK0001045810_10q_10k.json").read_bytes()
BABA_FACTS = (FIXTURES / "companyfacts_CIK0001577552_20f_usgaap_cny.json").read_bytes()
TME_FACTS = (FIXTURES / "companyfacts_CIK0001744676_20f_ifrs_cny.json").read_bytes()
FORBIDDEN = (FIXTURES / "forbidden_undeclared_tool.html").read_bytes()
NOT_FOUND = (FIXTURES / "not_found_nosuchkey.xml").read_bytes()
BASE = "https://data.sec.gov"
CONTACT = "ops@example.org"
USER_AGENT = f"gapwatch-tests research {CONTACT}"
M = 1_000_000


class Server:
    """A recorded-payload server: answers with ``handler`` and keeps every request and every requested sleep."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def client(self, *, user_agent: str = USER_AGENT) -> HttpClient:
        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.handler(request)

        return sec_client.make_sec_client(
            BASE, user_agent=user_agent, transport=httpx.MockTransport(record), sleep=self.sleeps.append
        )


def _json(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})


def _row(frame: pd.DataFrame, end: str, *, months: int = 3) -> pd.Series:
    rows = frame[(frame["fiscal_period_end"] == date.fromisoformat(end)) & (frame["period_months"] == months)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


@pytest.fixture(scope="module")
def nvda() -> pd.DataFrame:
    return parse_companyfacts(NVDA_FACTS, ticker="NVDA")


# --- client: request, User-Agent, rate limit --------------------------------------------------------


@pytest.mark.parametrize("cik", ["0001045810", "1045810", "CIK0001045810"])
def test_fetch_requests_the_padded_cik_with_the_contact_user_agent(cik: str) -> None:
    server = Server(lambda request: _json(NVDA_FACTS))
    with server.client() as client:
        body = sec_client.fetch_companyfacts(client, cik)
    assert body == NVDA_FACTS
    (request,) = server.requests
    assert request.method == "GET"
    assert request.url.host == "data.sec.gov"
    assert request.url.path == "/api/xbrl/companyfacts/CIK0001045810.json"
    assert request.headers["User-Agent"] == USER_AGENT


def test_rate_limit_stays_under_secs_ten_requests_per_second() -> None:
    server = Server(lambda request: _json(NVDA_FACTS))
    with server.client() as client:
        assert sec_client.SEC_MAX_REQUESTS_PER_SECOND == 8
        assert client.limiter.per_second == 8 < 10
        client.limiter.clock = lambda: 1000.0  # three requests in the same instant
        for _ in range(3):
            sec_client.fetch_companyfacts(client, "0001045810")
    # each start is spaced 1/8 s after the previous one
    assert server.sleeps == [pytest.approx(0.125), pytest.approx(0.25)]


@pytest.mark.parametrize("user_agent", ["", "   ", "gapwatch research"])
def test_a_user_agent_without_contact_email_is_refused(user_agent: str) -> None:
    with pytest.raises(ValueError, match="GAPWATCH_SEC_USER_AGENT"):
        sec_client.make_sec_client(BASE, user_agent=user_agent)


def test_an_invalid_cik_is_refused_before_any_request() -> None:
    server = Server(lambda request: _json(NVDA_FACTS))
    with server.client() as client, pytest.raises(ValueError, match="Invalid SEC CIK"):
        sec_client.fetch_companyfacts(client, "NVDA")
    assert server.requests == []


# --- client: errors and retries through the shared HttpClient ----------------------------------------


def test_403_error_never_shows_the_contact() -> None:
    """SEC's 403 page, reached through a redirect whose URL carries the contact: the message redacts it."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/"):
            return httpx.Response(301, headers={"Location": f"/blocked?contact={CONTACT}&ua={USER_AGENT}"})
        return httpx.Response(403, content=FORBIDDEN, headers={"Content-Type": "text/html"})

    server = Server(handler)
    with server.client() as client, pytest.raises(SourceError) as raised:
        sec_client.fetch_companyfacts(client, "0001045810")
    error = raised.value
    assert (error.source, error.key, error.status) == ("sec_edgar", "CIK0001045810", 403)
    assert "HTTP 403" in str(error) and "not retried" in str(error)
    assert "***" in str(error)  # the URL did carry the contact
    assert CONTACT not in str(error) and "ops@" not in str(error) and USER_AGENT not in str(error)
    assert CONTACT not in repr(error.args)
    assert len(server.requests) == 2  # the redirect and the 403, no retry


def test_503_is_retried_then_succeeds() -> None:
    answers = iter([httpx.Response(503, headers={"Retry-After": "2"}, content=b"busy"), _json(NVDA_FACTS)])
    server = Server(lambda request: next(answers))
    with server.client() as client:
        body = sec_client.fetch_companyfacts(client, "0001045810")
    assert body == NVDA_FACTS
    assert len(server.requests) == 2
    assert all(r.headers["User-Agent"] == USER_AGENT for r in server.requests)
    assert server.sleeps[0] == 2.0  # Retry-After honoured (later entries are the rate limiter's spacing)


def test_404_for_an_unknown_cik_is_not_retried() -> None:
    server = Server(lambda request: httpx.Response(404, content=NOT_FOUND, headers={"Content-Type": "application/xml"}))
    with server.client() as client, pytest.raises(SourceError) as raised:
        sec_client.fetch_companyfacts(client, "9999999")
    assert (raised.value.key, raised.value.status) == ("CIK0009999999", 404)
    assert "not retried" in str(raised.value)
    assert len(server.requests) == 1
    assert server.sleeps == []


# --- parser: 10-Q/10-K filer -------------------------------------------------------------------------


def test_output_has_the_raw_fundamentals_columns(nvda: pd.DataFrame) -> None:
    assert list(nvda.columns) == [*FUNDAMENTAL_COLUMNS, "period_months"]
    assert set(nvda["ticker"]) == {"NVDA"} and set(nvda["source"]) == {"sec_edgar"}
    assert set(nvda["currency"]) == {"USD"}
    assert set(nvda["period_months"]) == {3, 12}
    assert not nvda.duplicated(["ticker", "fiscal_period_end", "period_months", "report_date"]).any()
    assert (nvda["report_date"] > nvda["fiscal_period_end"]).all()


def test_facts_repeated_by_later_filings_keep_their_first_filed_date(nvda: pd.DataFrame) -> None:
    # FY2024 figures: 10-K filed 2024-02-21, repeated unchanged as comparatives in the 10-K filed 2025-02-26
    fy2024 = _row(nvda, "2024-01-28", months=12)
    assert fy2024["report_date"] == date(2024, 2, 21)
    assert fy2024["revenue"] == 60_922 * M
    # Q1 FY2025 capex (369) repeated in the Q1 FY2026 10-Q: no new version for it
    q1 = nvda[nvda["fiscal_period_end"] == date(2024, 4, 28)]
    assert list(q1["capex"]) == [369 * M, 369 * M]
    # one row per period unless a value changed
    assert nvda.groupby(["fiscal_period_end", "period_months"]).size().max() == 2
    assert len(nvda) == 10


def test_year_to_date_capex_is_turned_into_quarters(nvda: pd.DataFrame) -> None:
    # YTD facts: Q1 369, H1 1,346, 9M 2,159, FY 3,236 ($M)
    expected = {
        "2024-04-28": (369, date(2024, 5, 29)),  # Q1: the 3-month YTD fact itself
        "2024-07-28": (1346 - 369, date(2024, 8, 28)),  # Q2 = H1 - Q1 = 977
        "2024-10-27": (2159 - 1346, date(2024, 11, 20)),  # Q3 = 9M - H1 = 813
        "2025-01-26": (3236 - 2159, date(2025, 2, 26)),  # Q4 = FY - 9M = 1,077
    }
    for end, (capex, reported) in expected.items():
        row = nvda[(nvda["fiscal_period_end"] == date.fromisoformat(end)) & (nvda["period_months"] == 3)].iloc[0]
        assert row["capex"] == capex * M, end
        assert row["report_date"] == reported, end  # the filing date of the latest fact used
    assert (nvda["capex"].dropna() > 0).all()
    assert _row(nvda, "2025-01-26", months=12)["capex"] == 3236 * M


def test_fourth_quarter_is_the_year_minus_nine_months(nvda: pd.DataFrame) -> None:
    q4 = _row(nvda, "2025-01-26")
    assert (q4["fiscal_year"], q4["fiscal_quarter"]) == (2025, 4)
    assert q4["revenue"] == (130_497 - 91_166) * M == 39_331 * M
    assert q4["operating_income"] == (81_453 - 57_420) * M
    assert q4["net_income"] == (72_880 - 50_789) * M
    assert q4["rd_expense"] == (12_914 - 9_200) * M
    # the direct quarterly facts are used where they exist (not H1 - Q1)
    assert _row(nvda, "2024-07-28")["revenue"] == 30_040 * M


def test_a_restatement_is_a_second_row_with_the_later_filing_date(nvda: pd.DataFrame) -> None:
    q1 = nvda[(nvda["fiscal_period_end"] == date(2024, 4, 28)) & (nvda["period_months"] == 3)]
    assert list(q1["report_date"]) == [date(2024, 5, 29), date(2025, 5, 28)]
    assert list(q1["rd_expense"]) == [2_720 * M, 2_745 * M]
    # the other columns are carried as known at the restatement
    assert list(q1["revenue"]) == [26_044 * M, 26_044 * M]
    assert list(q1["shares_outstanding"]) == [2_460_000_000, 2_460_000_000]
    assert set(zip(q1["fiscal_year"], q1["fiscal_quarter"], strict=True)) == {(2025, 1)}


def test_fiscal_year_and_quarter_follow_the_filings(nvda: pd.DataFrame) -> None:
    quarters = nvda[nvda["period_months"] == 3].drop_duplicates("fiscal_period_end")
    got = {
        str(end): (year, quarter)
        for end, year, quarter in quarters[["fiscal_period_end", "fiscal_year", "fiscal_quarter"]].itertuples(
            index=False
        )
    }
    assert got == {
        "2023-04-30": (2024, 1),  # a comparative: counted back from the filings' own periods
        "2024-04-28": (2025, 1),
        "2024-07-28": (2025, 2),
        "2024-10-27": (2025, 3),
        "2025-01-26": (2025, 4),
        "2025-04-27": (2026, 1),
    }
    years = nvda[nvda["period_months"] == 12]
    assert list(zip(years["fiscal_year"], years["fiscal_quarter"], strict=True)) == [(2023, 4), (2024, 4), (2025, 4)]


def test_no_quarter_is_invented_without_year_to_date_facts(nvda: pd.DataFrame) -> None:
    # FY2024 has a 10-K but no 9-month facts in the payload: a fiscal-year row, no Q4 row
    fy2024 = nvda[nvda["fiscal_period_end"] == date(2024, 1, 28)]
    assert list(fy2024["period_months"]) == [12]


def test_concept_fallbacks_and_share_counts(nvda: pd.DataFrame) -> None:
    # FY2023 revenue exists only as RevenueFromContractWithCustomerExcludingAssessedTax
    assert _row(nvda, "2023-01-29", months=12)["revenue"] == 26_974 * M
    # balance-sheet count at the period end wins over the cover page (24,400M on 2025-02-14)
    assert _row(nvda, "2025-01-26")["shares_outstanding"] == 24_477_000_000
    assert _row(nvda, "2025-01-26", months=12)["shares_outstanding"] == 24_477_000_000
    # no balance-sheet count for Q2: the cover-page count of that 10-Q (dated 2024-08-21)
    assert _row(nvda, "2024-07-28")["shares_outstanding"] == 24_530_000_000
    # nothing for the Q1 FY2024 comparative
    assert pd.isna(_row(nvda, "2023-04-30")["shares_outstanding"])


# --- parser: 20-F filers -----------------------------------------------------------------------------


def test_20f_us_gaap_filer_in_cny_gives_annual_rows_only() -> None:
    baba = parse_companyfacts(BABA_FACTS, ticker="BABA")
    assert set(baba["period_months"]) == {12}
    assert set(baba["fiscal_quarter"]) == {4}
    assert set(baba["currency"]) == {"CNY"}  # the USD convenience translation is ignored
    assert [str(end) for end in baba["fiscal_period_end"]] == ["2022-03-31", "2023-03-31", "2024-03-31", "2025-03-31"]
    assert list(baba["fiscal_year"]) == [2022, 2023, 2024, 2025]
    # FY2023 appears in both 20-Fs with the same values: known since the first one
    assert list(baba["report_date"]) == [date(2024, 5, 23)] * 3 + [date(2025, 5, 15)]
    fy2025 = baba.iloc[-1]
    assert fy2025["revenue"] == 996_347 * M and fy2025["net_income"] == 129_470 * M
    assert fy2025["capex"] == 76_521 * M
    assert baba.iloc[2]["shares_outstanding"] == 19_963_000_000


def test_20f_ifrs_filer_maps_ifrs_concepts() -> None:
    tme = parse_companyfacts(TME_FACTS, ticker="TME")
    assert set(tme["period_months"]) == {12} and set(tme["currency"]) == {"CNY"}
    fy2024 = _row(tme, "2024-12-31", months=12)
    assert fy2024["revenue"] == 28_401 * M
    assert fy2024["operating_income"] == 8_198 * M
    assert fy2024["net_income"] == 6_644 * M  # attributable to owners of the parent, not ProfitLoss (7,131)
    assert fy2024["rd_expense"] == 1_706 * M
    assert fy2024["shares_outstanding"] == 3_126_000_000
    assert (fy2024["fiscal_year"], fy2024["fiscal_quarter"]) == (2024, 4)
    # 2022 capex was tagged with a minus sign: still a positive amount spent
    assert _row(tme, "2022-12-31", months=12)["capex"] == 36 * M


def test_currency_with_most_facts_wins() -> None:
    document = json.loads(BABA_FACTS)
    usd = document["facts"]["us-gaap"]["Revenues"]["units"]["CNY"]
    document["facts"]["us-gaap"]["Revenues"]["units"] = {"USD": usd}  # only revenue in "USD": still a minority
    frame = parse_companyfacts(json.dumps(document).encode(), ticker="BABA")
    assert set(frame["currency"]) == {"CNY"}
    assert frame["revenue"].isna().all()


# --- parser: broken payloads -------------------------------------------------------------------------


def test_a_cut_off_body_is_a_source_error_with_the_cik() -> None:
    with pytest.raises(SourceError, match="not JSON") as raised:
        parse_companyfacts(NVDA_FACTS[:5000], ticker="NVDA")
    assert (raised.value.source, raised.value.key) == ("sec_edgar", "CIK0001045810")


def test_an_html_page_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="not JSON") as raised:
        parse_companyfacts(FORBIDDEN, ticker="NVDA")
    assert raised.value.source == "sec_edgar"
    assert raised.value.key == "NVDA"  # no CIK in the body: the ticker names the payload


@pytest.mark.parametrize(
    "document",
    [{"cik": 1045810, "entityName": "NVIDIA CORP"}, {"cik": 1045810, "entityName": "NVIDIA CORP", "facts": []}],
)
def test_missing_facts_is_a_source_error(document: dict) -> None:
    with pytest.raises(SourceError, match="no 'facts' object") as raised:
        parse_companyfacts(json.dumps(document).encode(), ticker="NVDA")
    assert (raised.value.source, raised.value.key) == ("sec_edgar", "CIK0001045810")


def test_an_unreadable_fact_is_a_source_error() -> None:
    document = json.loads(NVDA_FACTS)
    document["facts"]["us-gaap"]["Revenues"]["units"]["USD"][0]["val"] = "26B"
    with pytest.raises(SourceError, match="us-gaap:Revenues") as raised:
        parse_companyfacts(json.dumps(document).encode(), ticker="NVDA")
    assert raised.value.key == "CIK0001045810"


def test_a_company_without_mapped_facts_gives_an_empty_frame() -> None:
    body = json.dumps({"cik": 1045810, "entityName": "NVIDIA CORP", "facts": {}}).encode()
    frame = parse_companyfacts(body, ticker="NVDA")
    assert frame.empty
    assert list(frame.columns) == [*FUNDAMENTAL_COLUMNS, "period_months"]


# --- as of a date: only the facts filed by then ---------------------------------------------------


def test_as_of_a_date_the_rows_are_those_known_at_its_end(nvda: pd.DataFrame) -> None:
    # the Q1 FY2025 R&D restatement was filed on 2025-05-28: as of the day before it is not yet known
    before = parse_companyfacts(NVDA_FACTS, ticker="NVDA", as_of=date(2025, 5, 27))
    q1 = before[(before["fiscal_period_end"] == date(2024, 4, 28)) & (before["period_months"] == 3)]
    assert list(q1["report_date"]) == [date(2024, 5, 29)] and list(q1["rd_expense"]) == [2_720 * M]
    assert (before["report_date"] <= date(2025, 5, 27)).all()
    # ... the rows known then are the full parse's rows dated by then, unchanged (the world as of D is stable)
    expected = nvda[nvda["report_date"] <= date(2025, 5, 27)].reset_index(drop=True)
    pd.testing.assert_frame_equal(before, expected)
    # on the filing day itself it is known
    on_the_day = parse_companyfacts(NVDA_FACTS, ticker="NVDA", as_of=date(2025, 5, 28))
    assert len(on_the_day) == len(nvda)


def test_a_quarter_filed_after_the_as_of_date_is_not_there_yet() -> None:
    q3 = parse_companyfacts(NVDA_FACTS, ticker="NVDA", as_of=date(2024, 11, 19))
    assert date(2024, 10, 27) not in set(q3["fiscal_period_end"])  # the Q3 10-Q was filed on 2024-11-20
    assert date(2024, 10, 27) in set(parse_companyfacts(NVDA_FACTS, ticker="NVDA", as_of=date(2024, 11, 20))[
        "fiscal_period_end"
    ])  # fmt: skip


def test_accessions_name_the_filings_that_made_each_row_known(nvda: pd.DataFrame) -> None:
    frame = parse_companyfacts(NVDA_FACTS, ticker="NVDA", with_accessions=True)
    assert list(frame.columns) == [*FUNDAMENTAL_COLUMNS, "period_months", "accession_number"]
    pd.testing.assert_frame_equal(frame.drop(columns="accession_number"), nvda)
    assert frame["accession_number"].str.fullmatch(r"\d{10}-\d{2}-\d{6}(,\d{10}-\d{2}-\d{6})*").all()
