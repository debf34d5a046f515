"""SEC EDGAR: XBRL ``companyfacts`` (reported fundamentals of 10-Q/10-K and 20-F filers) and ``submissions``
(the filing index: when each report was accepted).

``client`` builds the requests (through the shared :class:`flows.sources.http.HttpClient`,
with the contact User-Agent SEC requires and a rate under SEC's 10 requests/second)
and returns raw bodies for the landing zone; ``parser`` turns a landed companyfacts
body into ``raw.fundamentals`` rows, ``submissions`` a landed submissions body into
filing-index rows. The parsers never touch the network.
Registered here: client ``sec_edgar``; fetchers and parsers ``sec_companyfacts`` and ``sec_submissions``.
"""

from __future__ import annotations

import re
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
        user_agent=live.sec_user_agent,
        timeout_seconds=live.http_timeout_seconds,
        retry=RetryPolicy(attempts=live.http_attempts),
    )


@register_fetcher("sec_companyfacts")
def _fetch_companyfacts(http: HttpClient, args: dict[str, Any], live: LiveSettings) -> bytes:
    return client.fetch_companyfacts(http, args["cik"])


@register_parser("sec_companyfacts")
def _parse_companyfacts(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    return parser.parse_companyfacts(body, ticker=meta["ticker"])


@register_fetcher("sec_submissions")
def _fetch_submissions(http: HttpClient, args: dict[str, Any], live: LiveSettings) -> list[tuple[str, bytes]]:
    """The main document and the older pages since ``args['since']``, labelled 'recent' and 'submissions-NNN'
    (the page file name without the CIK and '.json', which the landing file name adds)."""
    bodies = client.fetch_submissions(http, args["cik"], since=args.get("since"))
    return [(re.sub(r"^CIK\d{10}-|\.json$", "", label), body) for label, body in bodies]


@register_parser("sec_submissions")
def _parse_submissions(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    return submissions.parse_submissions(body, ticker=meta["ticker"], cik=meta["cik"])
