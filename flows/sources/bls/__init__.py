"""BLS public data API v2: monthly CPI series (``client`` fetches, ``parser`` reads the JSON envelope).

Registered here: client ``bls``; fetcher and parser ``bls_series``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from flows.settings import LiveSettings, Settings
from flows.sources.bls import client, parser
from flows.sources.fetch import default_client
from flows.sources.http import HttpClient
from flows.sources.registry import register_client, register_fetcher, register_parser


@register_client("bls")
def _client(live: LiveSettings) -> HttpClient:
    return default_client("bls", live)


@register_fetcher("bls_series")
def _fetch_series(http: HttpClient, args: dict[str, Any], live: LiveSettings) -> list[tuple[str, bytes]]:
    return client.fetch_series(
        http,
        args["series"],
        start_year=args["start_year"],
        end_year=args["end_year"],
        registration_key=live.bls_api_key.get_secret_value() or None,
    )


@register_parser("bls_series")
def _parse_series(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    return parser.parse_series(body)
