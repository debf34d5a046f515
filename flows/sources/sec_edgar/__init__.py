"""SEC EDGAR XBRL ``companyfacts``: reported fundamentals of 10-Q/10-K and 20-F filers.

``client`` builds the request (through the shared :class:`flows.sources.http.HttpClient`,
with the contact User-Agent SEC requires and a rate under SEC's 10 requests/second)
and returns the raw body for the landing zone; ``parser`` turns a landed body into
``raw.fundamentals`` rows. The parser never touches the network.
Registered here: client ``sec_edgar``; fetcher and parser ``sec_companyfacts``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from flows.settings import LiveSettings, Settings
from flows.sources.http import HttpClient, RetryPolicy
from flows.sources.registry import register_client, register_fetcher, register_parser
from flows.sources.sec_edgar import client, parser


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
