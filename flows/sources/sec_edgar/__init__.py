"""SEC EDGAR: XBRL ``companyfacts`` (reported fundamentals of 10-Q/10-K and 20-F filers) and ``submissions``
(the filing index: when each report was accepted).

``client`` builds the requests (through the shared :class:`flows.sources.http.HttpClient`,
with the contact User-Agent SEC requires and a rate under SEC's 10 requests/second)
and returns raw bodies for the landing zone; ``parser`` turns a landed companyfacts
body into ``raw.fundamentals`` rows, ``submissions`` a landed submissions body into
filing-index rows. The parsers never touch the network.
Registered here: client ``sec_edgar``; fetchers and parsers ``sec_companyfacts`` and ``sec_submissions``;
parser ``sec_acceptances`` (the submissions as acceptance times, for dating fundamentals). Parsers bound their
rows by the ``as_of`` a plan records in the job's meta (``flows.availability``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pandas as pd

from flows.settings import LiveSettings, Settings
from flows.sources.http import HttpClient, RetryPolicy
from flows.sources.registry import register_client, register_fetcher, register_parser
from flows.sources.sec_edgar import client, parser, submissions


@register_client("sec_edgar")
def _client(live: LiveSettings) -> HttpClient:
    return client.make_sec_client(
        live.source("sec_edgar").base_url,
        user_agent=live.sec_user_agent.get_secret_value(),
        timeout_seconds=live.http_timeout_seconds,
        retry=RetryPolicy(attempts=live.http_attempts),
    )


@register_fetcher("sec_companyfacts")
def _fetch_companyfacts(http: HttpClient, args: dict[str, Any], live: LiveSettings) -> bytes:
    return client.fetch_companyfacts(http, args["cik"])


def _as_of(meta: dict[str, Any]) -> date | None:
    """The as-of date a plan recorded in the job's meta (older manifests have none: no bound)."""
    return date.fromisoformat(meta["as_of"]) if meta.get("as_of") else None


@register_parser("sec_companyfacts")
def _parse_companyfacts(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    """The facts filed by the as-of date; with ``meta['with_accessions']``, the filings behind each row."""
    return parser.parse_companyfacts(
        body, ticker=meta["ticker"], as_of=_as_of(meta), with_accessions=bool(meta.get("with_accessions"))
    )


@register_fetcher("sec_submissions")
def _fetch_submissions(http: HttpClient, args: dict[str, Any], live: LiveSettings) -> list[tuple[str, bytes]]:
    """The main document and the older pages since ``args['since']``, labelled 'recent' and 'submissions-NNN'
    (the page file name without the CIK and '.json', which the landing file name adds)."""
    bodies = client.fetch_submissions(http, args["cik"], since=args.get("since"))
    return [(re.sub(r"^CIK\d{10}-|\.json$", "", label), body) for label, body in bodies]


@register_parser("sec_submissions")
def _parse_submissions(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    """The filing index, bounded by the as-of date: a filing accepted after the end of that day in New York
    (or filed after it) is not yet known."""
    frame = submissions.parse_submissions(body, ticker=meta["ticker"], cik=meta["cik"])
    as_of = _as_of(meta)
    return frame if as_of is None else submissions.known_by(frame, as_of)


@register_parser("sec_acceptances")
def _parse_acceptances(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    """The acceptance time of each filing (``ticker``, ``accession_number``, ``accepted_at``): what dates an
    SEC fundamental (the fundamentals dataset joins it on the accession number)."""
    frame = _parse_submissions(body, meta, settings)
    return frame[["ticker", "accession_number", "accepted_at"]]
