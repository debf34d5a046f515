"""Federal Register connector, offline: two recorded result pages linked by ``next_page_url``.

No network, no real sleeping: the ``HttpClient`` gets an ``httpx.MockTransport``
and a fake ``sleep`` that records the waits it was asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import httpx
import pandas as pd
import pytest

from flows.sources.curated.reader import EVENT_COLUMNS, parse_events
from flows.sources.federal_register import client as fr_client
from flows.sources.federal_register import parser as fr_parser
from flows.sources.http import HttpClient, SourceError

FIXTURES = Path(__file__).parent / "fixtures/federal_register"
PAGE_1 = (FIXTURES / "documents_page1.json").read_bytes()
PAGE_2 = (FIXTURES / "documents_page2.json").read_bytes()
EMPTY = (FIXTURES / "documents_empty.json").read_bytes()
CURATED_CSV = Path(__file__).parents[1] / "flows/sources/curated/policy_events.csv"
BASE = "https://www.federalregister.gov"
AGENCY = "industry-and-security-bureau"
FIELDS = ["document_number", "title", "publication_date", "html_url", "type", "abstract", "agencies"]


class Server:
    """A recorded-payload server: answers with ``handler`` and keeps every request it saw."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def client(self) -> HttpClient:
        def record(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.handler(request)

        return HttpClient(
            "federal_register",
            BASE,
            transport=httpx.MockTransport(record),
            sleep=self.sleeps.append,
            jitter=lambda: 0.5,
        )


def _ok(body: bytes) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": "application/json; charset=utf-8"})


def _two_pages(request: httpx.Request) -> httpx.Response:
    return _ok(PAGE_2 if request.url.params.get("page") == "2" else PAGE_1)


def _fetch(server: Server, **overrides: object) -> list[bytes]:
    arguments: dict[str, object] = {
        "agency": AGENCY,
        "term": None,
        "start": date(2022, 10, 1),
        "end": date(2023, 12, 31),
        "per_page": 2,
    }
    arguments.update(overrides)
    with server.client() as client:
        return fr_client.fetch_documents(client, **arguments)  # type: ignore[arg-type]


def _fetched_events() -> pd.DataFrame:
    return pd.concat([fr_parser.parse_documents(PAGE_1), fr_parser.parse_documents(PAGE_2)], ignore_index=True)


# --- requests and paging ---------------------------------------------------------------------------


def test_first_page_asks_for_the_agencys_rules_oldest_first_with_the_needed_fields() -> None:
    server = Server(_two_pages)
    _fetch(server, term="advanced computing")

    params = server.requests[0].url.params
    assert server.requests[0].method == "GET"
    assert server.requests[0].url.path == "/api/v1/documents.json"
    assert params.get_list("conditions[agencies][]") == [AGENCY]
    assert params.get_list("conditions[type][]") == ["RULE"]
    assert params["conditions[term]"] == "advanced computing"
    assert params["conditions[publication_date][gte]"] == "2022-10-01"
    assert params["conditions[publication_date][lte]"] == "2023-12-31"
    assert params["per_page"] == "2"
    assert params["order"] == "oldest"
    assert params.get_list("fields[]") == FIELDS


def test_no_term_condition_without_a_term_and_proposed_rules_on_request() -> None:
    server = Server(_two_pages)
    _fetch(server, term=None, types=("RULE", "PRORULE"))

    params = server.requests[0].url.params
    assert "conditions[term]" not in params
    assert params.get_list("conditions[type][]") == ["RULE", "PRORULE"]


def test_follows_next_page_url_until_it_is_absent_and_returns_one_body_per_page() -> None:
    server = Server(_two_pages)
    bodies = _fetch(server)

    assert bodies == [PAGE_1, PAGE_2]
    assert len(server.requests) == 2
    next_page_url = json.loads(PAGE_1)["next_page_url"]
    assert server.requests[1].url == httpx.URL(next_page_url)  # the absolute URL, through the same client
    assert server.requests[1].url.params["page"] == "2"


def test_an_empty_search_is_one_page_and_no_events() -> None:
    server = Server(lambda request: _ok(EMPTY))
    bodies = _fetch(server, start=date(2026, 11, 1), end=date(2026, 11, 20))

    assert bodies == [EMPTY]
    frame = fr_parser.parse_documents(EMPTY)
    assert frame.empty and list(frame.columns) == EVENT_COLUMNS


def test_page_cap_stops_an_endless_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fr_client, "MAX_PAGES", 3)

    def endless(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        return _ok(
            json.dumps(
                {"count": 9999, "results": [], "next_page_url": f"{BASE}/api/v1/documents.json?page={page + 1}"}
            ).encode()
        )

    server = Server(endless)
    with pytest.raises(SourceError, match="more than 3 pages"):
        _fetch(server)
    assert len(server.requests) == 3


def test_a_page_linking_to_itself_is_a_loop_error() -> None:
    looping = json.dumps({"count": 1, "results": [], "next_page_url": f"{BASE}/api/v1/documents.json?page=2"}).encode()
    server = Server(lambda request: _ok(looping))
    with pytest.raises(SourceError, match="paging loops"):
        _fetch(server)
    assert len(server.requests) == 2


def test_next_page_url_on_another_host_is_not_followed() -> None:
    foreign = json.dumps(
        {"count": 1, "results": [], "next_page_url": "https://example.com/api/v1/documents.json?page=2"}
    )
    server = Server(lambda request: _ok(foreign.encode()))
    with pytest.raises(SourceError, match="leaves www.federalregister.gov"):
        _fetch(server)
    assert len(server.requests) == 1


def test_429_honours_retry_after_on_the_second_page() -> None:
    answers = iter([_ok(PAGE_1), httpx.Response(429, headers={"Retry-After": "3"}), _ok(PAGE_2)])
    server = Server(lambda request: next(answers))
    bodies = _fetch(server)

    assert bodies == [PAGE_1, PAGE_2]
    assert server.sleeps == [3.0]
    assert len(server.requests) == 3


def test_a_bad_agency_slug_400_is_not_retried() -> None:
    server = Server(lambda request: httpx.Response(400, json={"errors": {"agencies": ["nope is not a valid agency"]}}))
    with pytest.raises(SourceError) as caught:
        _fetch(server, agency="nope")

    assert caught.value.status == 400
    assert caught.value.key == "nope page 1"
    assert len(server.requests) == 1
    assert server.sleeps == []


# --- parsing ---------------------------------------------------------------------------------------


def test_parse_documents_maps_each_document_to_an_event() -> None:
    frame = fr_parser.parse_documents(PAGE_1)

    assert list(frame.columns) == EVENT_COLUMNS
    first = frame.iloc[0].to_dict()
    assert first == {
        "event_id": "fr-2022-21658",
        "event_date": date(2022, 10, 13),
        "category": "export_control",
        "region": "US",
        "title": (
            "Implementation of Additional Export Controls: Certain Advanced Computing and Semiconductor "
            "Manufacturing Items; Supercomputer and Semiconductor End Use; Entity List Modification"
        ),
        "source_url": (
            "https://www.federalregister.gov/documents/2022/10/13/2022-21658/"
            "implementation-of-additional-export-controls-certain-advanced-computing-and-semiconductor-manufacturing"
        ),
        "source": "federal_register",
        "available_at": pd.Timestamp("2022-10-13 10:00"),  # 06:00 New York (EDT)
    }


def test_parse_documents_takes_category_and_region_from_the_caller() -> None:
    frame = fr_parser.parse_documents(PAGE_2, category="regulation", region="US-CN", source="fr_test")

    assert set(frame["category"]) == {"regulation"}
    assert set(frame["region"]) == {"US-CN"}
    assert set(frame["source"]) == {"fr_test"}


def test_titles_become_one_line_of_at_most_200_characters() -> None:
    long_title = "Additions to the Entity List;\n  Revisions " + " ".join(["of Certain Entries"] * 20)
    page = {
        "count": 1,
        "results": [
            {
                "document_number": "C1-2024-12345",
                "publication_date": "2024-06-03",
                "title": long_title,
                "html_url": None,
                "type": "Rule",
            }
        ],
    }
    frame = fr_parser.parse_documents(json.dumps(page).encode())

    title = frame.loc[0, "title"]
    assert "\n" not in title and "  " not in title
    assert len(title) <= 200 and title.endswith("...")
    assert title.startswith("Additions to the Entity List; Revisions of Certain Entries")
    assert frame.loc[0, "event_id"] == "fr-c1-2024-12345"
    assert frame.loc[0, "source_url"] == "https://www.federalregister.gov/d/C1-2024-12345"


def test_an_errors_envelope_is_a_source_error() -> None:
    body = json.dumps({"errors": {"conditions": {"publication_date": ["is not a valid date"]}}}).encode()
    with pytest.raises(SourceError, match="reported errors"):
        fr_parser.parse_documents(body)


def test_a_bad_publication_date_is_a_source_error() -> None:
    page = {"results": [{"document_number": "2024-00001", "publication_date": "06/03/2024", "title": "t"}]}
    with pytest.raises(SourceError, match="not an ISO date"):
        fr_parser.parse_documents(json.dumps(page).encode())


# --- merge with the curated calendar ---------------------------------------------------------------


def test_a_document_repeated_across_pages_is_kept_once() -> None:
    fetched = _fetched_events()
    assert len(fetched) == 4  # 2023-23049 is on both pages

    merged = fr_parser.merge_with_curated(fetched.iloc[0:0], fetched)
    assert list(merged["event_id"]) == ["fr-2022-21658", "fr-2023-23049", "fr-2023-23055"]


def test_merge_with_the_committed_curated_calendar_keeps_every_curated_event_and_adds_new_documents() -> None:
    curated = parse_events(CURATED_CSV.read_bytes(), until=date(2026, 11, 20))
    merged = fr_parser.merge_with_curated(curated, _fetched_events())

    assert len(merged) == len(curated) + 3
    pd.testing.assert_frame_equal(merged.iloc[: len(curated)], curated.reset_index(drop=True))
    assert list(merged["event_id"].iloc[len(curated) :]) == ["fr-2022-21658", "fr-2023-23049", "fr-2023-23055"]
    assert merged["event_id"].is_unique
    assert set(EVENT_COLUMNS) <= set(merged.columns)


def test_curated_wins_on_event_id_on_source_url_and_on_the_federal_register_document_number() -> None:
    curated_csv = (
        b"event_id,event_date,category,region,title,source_url\n"
        b"2022-10-07-bis-advanced-computing-rule,2022-10-07,export_control,US-CN,BIS advanced computing rule,"
        b"https://www.federalregister.gov/documents/2022/10/13/2022-21658/"
        b"implementation-of-additional-export-controls-certain-advanced-computing-and-semiconductor-manufacturing/\n"
        b"2023-10-17-bis-advanced-computing-update,2023-10-17,export_control,US-CN,BIS updates its controls,"
        b"https://www.federalregister.gov/d/2023-23055\n"
        b"fr-2023-23049,2023-10-25,export_control,US-CN,Curated title for the SME rule,https://www.bis.gov/\n"
    )
    curated = parse_events(curated_csv, until=date(2026, 11, 20))
    merged = fr_parser.merge_with_curated(curated, _fetched_events())

    # same html_url (trailing slash aside), same document number via /d/, same event_id: all three curated rows win
    pd.testing.assert_frame_equal(merged, curated.reset_index(drop=True))


def test_merge_without_fetched_events_returns_the_curated_calendar() -> None:
    curated = parse_events(CURATED_CSV.read_bytes(), until=date(2026, 11, 20))
    empty = fr_parser.parse_documents(EMPTY)

    pd.testing.assert_frame_equal(fr_parser.merge_with_curated(curated, empty), curated.reset_index(drop=True))


def test_documents_published_after_the_as_of_date_give_no_row() -> None:
    everything = fr_parser.parse_documents(PAGE_1)
    last = max(everything["event_date"])
    bounded = fr_parser.parse_documents(PAGE_1, until=last - pd.Timedelta(days=1))
    assert len(bounded) == len(everything) - (everything["event_date"] == last).sum()
    assert (bounded["event_date"] < last).all()
    pd.testing.assert_frame_equal(fr_parser.parse_documents(PAGE_1, until=last), everything)


def test_the_query_asks_only_for_documents_published_by_the_end_date() -> None:
    params = fr_client.document_params(
        agency=AGENCY, term=None, start=date(2024, 1, 1), end=date(2026, 6, 30), per_page=100
    )
    assert params["conditions[publication_date][lte]"] == "2026-06-30"
