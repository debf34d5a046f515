"""BLS API v2 and FRED CSV connectors, offline: recorded payloads served through ``httpx.MockTransport``.

No network, no real sleeping: every ``HttpClient`` gets a mock transport and a
fake ``sleep`` that records the waits it was asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import pandas as pd
import pytest

from flows.sources.bls import client as bls_client
from flows.sources.bls import parser as bls_parser
from flows.sources.cpi_package.reader import CPI_COLUMNS, read_cpi
from flows.sources.fred import client as fred_client
from flows.sources.fred import parser as fred_parser
from flows.sources.http import HttpClient, SourceError

FIXTURES = Path(__file__).parent / "fixtures"
BLS_SUCCESS = (FIXTURES / "bls/timeseries_cpi_2025_2026.json").read_bytes()
BLS_NOT_PROCESSED = (FIXTURES / "bls/request_not_processed.json").read_bytes()
FRED_NEW_HEADER = (FIXTURES / "fred/CPIAUCNS.csv").read_bytes()
FRED_OLD_HEADER = (FIXTURES / "fred/CPILFESL_date_header.csv").read_bytes()
FRED_ERROR_PAGE = (FIXTURES / "fred/error_page.html").read_bytes()
BLS_BASE = "https://api.bls.gov"
FRED_BASE = "https://fred.stlouisfed.org"
KEY = "0123456789abcdef0123456789abcdef"  # shaped like a BLS registration key (32 hex digits); not a real one
SERIES = ["CUUR0000SA0", "CUSR0000SA0"]


class Server:
    """A recorded-payload server: answers with ``handler`` and keeps every request it saw."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def client(self, source: str, base_url: str, *, secrets: tuple[str, ...] = ()) -> HttpClient:
        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.handler(request)

        return HttpClient(
            source,
            base_url,
            transport=httpx.MockTransport(record),
            sleep=self.sleeps.append,
            jitter=lambda: 0.5,
            secrets=secrets,
        )


def _ok(body: bytes, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": content_type})


def _bls_body(series: list[dict[str, object]], *, message: list[str] | None = None) -> bytes:
    envelope = {
        "status": "REQUEST_SUCCEEDED",
        "responseTime": 41,
        "message": message or [],
        "Results": {"series": series},
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


# --- BLS: requests ---------------------------------------------------------------------------------


def test_bls_without_key_posts_ten_year_chunks_without_registrationkey() -> None:
    server = Server(lambda request: _ok(BLS_SUCCESS))
    with server.client("bls", BLS_BASE) as client:
        bodies = bls_client.fetch_series(client, SERIES, start_year=2005, end_year=2026, registration_key=None)

    assert [label for label, _ in bodies] == ["2005-2014", "2015-2024", "2025-2026"]
    assert all(body == BLS_SUCCESS for _, body in bodies)
    assert [request.method for request in server.requests] == ["POST"] * 3
    assert {str(request.url) for request in server.requests} == {"https://api.bls.gov/publicAPI/v2/timeseries/data/"}
    assert all(request.headers["content-type"] == "application/json" for request in server.requests)
    assert [json.loads(request.content) for request in server.requests] == [
        {"seriesid": SERIES, "startyear": "2005", "endyear": "2014"},
        {"seriesid": SERIES, "startyear": "2015", "endyear": "2024"},
        {"seriesid": SERIES, "startyear": "2025", "endyear": "2026"},
    ]


def test_bls_with_key_posts_twenty_year_chunks_and_keeps_the_key_out_of_labels() -> None:
    server = Server(lambda request: _ok(BLS_SUCCESS))
    with server.client("bls", BLS_BASE, secrets=(KEY,)) as client:
        bodies = bls_client.fetch_series(client, SERIES, start_year=2005, end_year=2026, registration_key=KEY)

    assert [label for label, _ in bodies] == ["2005-2024", "2025-2026"]
    assert [json.loads(request.content) for request in server.requests] == [
        {"seriesid": SERIES, "startyear": "2005", "endyear": "2024", "registrationkey": KEY},
        {"seriesid": SERIES, "startyear": "2025", "endyear": "2026", "registrationkey": KEY},
    ]
    assert all(KEY not in str(request.url) for request in server.requests)  # only in the POST body


def test_bls_splits_more_than_25_series_per_request_without_a_key() -> None:
    series = [f"CUUR0000SA{index:02d}" for index in range(30)]
    server = Server(lambda request: _ok(BLS_SUCCESS))
    with server.client("bls", BLS_BASE) as client:
        bodies = bls_client.fetch_series(client, series, start_year=2025, end_year=2026, registration_key=None)

    assert [label for label, _ in bodies] == ["2025-2026-part1", "2025-2026-part2"]
    assert [len(json.loads(request.content)["seriesid"]) for request in server.requests] == [25, 5]


def test_bls_year_chunks_cover_the_range_exactly() -> None:
    assert bls_client.year_chunks(2026, 2026, size=10) == [(2026, 2026)]
    assert bls_client.year_chunks(2006, 2025, size=10) == [(2006, 2015), (2016, 2025)]
    with pytest.raises(ValueError, match="after end_year"):
        bls_client.year_chunks(2026, 2025, size=10)


# --- BLS: parsing ----------------------------------------------------------------------------------


def test_bls_parse_skips_the_unpublished_october_2025_and_the_annual_average() -> None:
    frame = bls_parser.parse_series(BLS_SUCCESS)

    assert list(frame.columns) == CPI_COLUMNS
    assert frame["value"].dtype == "float64"
    assert set(frame["source"]) == {"bls_api"}
    assert set(frame["series_id"]) == set(SERIES)
    # 2025-01 .. 2026-08 is 20 months; October 2025 ("-") has no row; M13 (annual average 321.943) is no month.
    assert frame.groupby("series_id").size().to_dict() == {"CUSR0000SA0": 19, "CUUR0000SA0": 19}
    assert date(2025, 10, 1) not in set(frame["period_date"])
    assert 321.943 not in set(frame["value"])
    assert all(isinstance(day, date) and day.day == 1 for day in frame["period_date"])
    nsa = frame[frame["series_id"] == "CUUR0000SA0"].set_index("period_date")["value"]
    assert nsa[date(2025, 9, 1)] == 324.8
    assert nsa[date(2025, 11, 1)] == 324.122
    assert nsa[date(2026, 8, 1)] == 334.98


def test_bls_parse_matches_the_bundled_bls_database_month_for_month() -> None:
    parsed = bls_parser.parse_series(BLS_SUCCESS)
    bundled = read_cpi(first_month=date(2025, 1, 1), last_month=date(2026, 8, 1), series=SERIES)

    pd.testing.assert_frame_equal(parsed.drop(columns="source"), bundled.drop(columns="source"))


def test_bls_request_not_processed_with_http_200_is_an_error_quoting_the_message() -> None:
    with pytest.raises(SourceError) as caught:
        bls_parser.parse_series(BLS_NOT_PROCESSED)

    assert caught.value.source == "bls"
    assert "REQUEST_NOT_PROCESSED" in str(caught.value)
    assert "daily threshold for total number of requests" in str(caught.value)


def test_bls_error_message_that_quotes_the_key_is_redacted() -> None:
    body = json.dumps(
        {
            "status": "REQUEST_NOT_PROCESSED",
            "responseTime": 0,
            "message": [f"The key:{KEY} provided by the User is invalid."],
            "Results": {},
        }
    ).encode()
    with pytest.raises(SourceError) as caught:
        bls_parser.parse_series(body)

    assert KEY not in str(caught.value)
    assert "***" in str(caught.value)


def test_bls_series_without_data_gives_no_rows_and_no_error() -> None:
    body = _bls_body(
        [{"seriesID": "CUUR0000SA0L1E", "data": []}],
        message=["No Data Available for Series CUUR0000SA0L1E Year: 2027"],
    )
    frame = bls_parser.parse_series(body)

    assert frame.empty
    assert list(frame.columns) == CPI_COLUMNS


def test_bls_year_range_cut_short_is_an_error_even_with_request_succeeded() -> None:
    body = _bls_body(
        [{"seriesID": "CUUR0000SA0", "data": []}],
        message=["Year range has been reduced to the system-allowed limit of 10 years."],
    )
    with pytest.raises(SourceError, match="latest years are missing"):
        bls_parser.parse_series(body)


def test_bls_unknown_value_marker_is_an_error_not_a_guess() -> None:
    body = _bls_body(
        [{"seriesID": "CUUR0000SA0", "data": [{"year": "2026", "period": "M01", "value": "(NA)", "footnotes": [{}]}]}]
    )
    with pytest.raises(SourceError, match=r"CUUR0000SA0 2026 M01 is not a number: '\(NA\)'"):
        bls_parser.parse_series(body)


def test_bls_non_json_body_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="not JSON"):
        bls_parser.parse_series(b"<html><body>Service Unavailable</body></html>")


# --- BLS: HTTP failures through the shared client --------------------------------------------------


def test_bls_500_error_message_never_contains_the_registration_key() -> None:
    server = Server(lambda request: httpx.Response(500, text="Internal Server Error"))
    with server.client("bls", BLS_BASE, secrets=(KEY,)) as client, pytest.raises(SourceError) as caught:
        bls_client.fetch_series(client, SERIES, start_year=2025, end_year=2026, registration_key=KEY)

    assert caught.value.status == 500
    assert caught.value.key == "CUUR0000SA0,CUSR0000SA0 2025-2026"
    assert KEY not in str(caught.value) and KEY not in caught.value.key
    assert len(server.requests) == 4  # retried: 5xx
    assert len(server.sleeps) == 3
    assert all(json.loads(request.content)["registrationkey"] == KEY for request in server.requests)


def test_bls_429_honours_retry_after_then_succeeds() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), _ok(BLS_SUCCESS)])
    server = Server(lambda request: next(answers))
    with server.client("bls", BLS_BASE) as client:
        bodies = bls_client.fetch_series(client, SERIES, start_year=2025, end_year=2026, registration_key=None)

    assert server.sleeps == [7.0]
    assert len(server.requests) == 2
    assert bodies == [("2025-2026", BLS_SUCCESS)]


# --- FRED ------------------------------------------------------------------------------------------


def test_fred_fetch_csv_gets_the_graph_csv_with_id_and_dates() -> None:
    server = Server(lambda request: _ok(FRED_NEW_HEADER, "text/csv"))
    with server.client("fred", FRED_BASE) as client:
        body = fred_client.fetch_csv(client, "CPIAUCNS", start=date(2025, 1, 1), end=date(2026, 11, 20))

    assert body == FRED_NEW_HEADER
    (request,) = server.requests
    assert request.method == "GET"
    assert request.url.path == "/graph/fredgraph.csv"
    # the values as known on the end date: the real-time period (ALFRED's vintage) is the end date
    assert dict(request.url.params) == {
        "id": "CPIAUCNS", "cosd": "2025-01-01", "coed": "2026-11-20",
        "realtime_start": "2026-11-20", "realtime_end": "2026-11-20", "vintage_date": "2026-11-20",
    }  # fmt: skip


def test_fred_parse_observation_date_header_maps_to_the_bls_id_and_skips_missing() -> None:
    frame = fred_parser.parse_csv(FRED_NEW_HEADER, fred_id="CPIAUCNS")

    assert list(frame.columns) == CPI_COLUMNS
    assert set(frame["series_id"]) == {"CUUR0000SA0"}
    assert set(frame["source"]) == {"fred"}
    assert frame["value"].dtype == "float64"
    assert len(frame) == 19  # 2025-01 .. 2026-08 without October 2025 (empty value)
    assert date(2025, 10, 1) not in set(frame["period_date"])
    assert frame.set_index("period_date").loc[date(2025, 9, 1), "value"] == 324.8


def test_fred_parse_older_date_header_treats_dot_as_missing() -> None:
    frame = fred_parser.parse_csv(FRED_OLD_HEADER, fred_id="CPILFESL")

    assert set(frame["series_id"]) == {"CUSR0000SA0L1E"}
    assert list(frame["period_date"]) == [date(2025, month, 1) for month in (6, 7, 8, 9, 11, 12)]
    assert list(frame["value"]) == [327.658, 328.682, 329.7, 330.418, 331.043, 331.814]


def test_fred_and_bls_agree_on_the_same_months() -> None:
    fred = fred_parser.parse_csv(FRED_NEW_HEADER, fred_id="CPIAUCNS")
    bls = bls_parser.parse_series(BLS_SUCCESS)
    bls = bls[bls["series_id"] == "CUUR0000SA0"].reset_index(drop=True)

    pd.testing.assert_frame_equal(fred.drop(columns="source"), bls.drop(columns="source"))


def test_fred_html_page_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="HTML page instead of the CSV") as caught:
        fred_parser.parse_csv(FRED_ERROR_PAGE, fred_id="CPIAUCNS")
    assert caught.value.source == "fred"
    assert caught.value.key == "CPIAUCNS"


def test_fred_wrong_header_is_a_source_error() -> None:
    body = FRED_NEW_HEADER.replace(b"CPIAUCNS", b"CPIAUCSL")  # another series than the one asked for
    with pytest.raises(SourceError, match="expected 'observation_date,CPIAUCNS'"):
        fred_parser.parse_csv(body, fred_id="CPIAUCNS")


def test_fred_unknown_series_id_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown FRED CPI series"):
        fred_parser.parse_csv(FRED_NEW_HEADER, fred_id="GDP")


def test_fred_404_is_not_retried() -> None:
    server = Server(lambda request: httpx.Response(404, text="<html>Not Found</html>"))
    with server.client("fred", FRED_BASE) as client, pytest.raises(SourceError) as caught:
        fred_client.fetch_csv(client, "CPIAUCNS", start=date(2025, 1, 1), end=date(2026, 11, 20))

    assert caught.value.status == 404
    assert "not retried" in str(caught.value)
    assert len(server.requests) == 1
    assert server.sleeps == []
