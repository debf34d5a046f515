"""FRED's keyless graph CSV download: the CPI alternative when the BLS API is unavailable.

Registered here: client ``fred``; fetcher and parser ``fred_csv``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from flows.settings import LiveSettings, Settings
from flows.sources.fetch import default_client
from flows.sources.fred import client, parser
from flows.sources.http import HttpClient
from flows.sources.registry import register_client, register_fetcher, register_parser


@register_client("fred")
def _client(live: LiveSettings) -> HttpClient:
    return default_client("fred", live)


@register_fetcher("fred_csv")
def _fetch_csv(http: HttpClient, args: dict[str, Any], live: LiveSettings) -> bytes:
    return client.fetch_csv(http, args["fred_id"], start=args["start"], end=args["end"])


@register_parser("fred_csv")
def _parse_csv(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    return parser.parse_csv(body, fred_id=meta["fred_id"])
