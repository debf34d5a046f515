"""Federal Register API v1: published rules of one agency, merged with the curated event calendar.

Registered here: client ``federal_register``; fetcher and parser ``fedreg_documents``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd

from flows.settings import LiveSettings, Settings
from flows.sources.federal_register import client, parser
from flows.sources.fetch import default_client
from flows.sources.http import HttpClient
from flows.sources.registry import register_client, register_fetcher, register_parser


@register_client("federal_register")
def _client(live: LiveSettings) -> HttpClient:
    return default_client("federal_register", live)


@register_fetcher("fedreg_documents")
def _fetch_documents(http: HttpClient, args: dict[str, Any], live: LiveSettings) -> list[bytes]:
    return client.fetch_documents(http, agency=args["agency"], term=args["term"], start=args["start"], end=args["end"])


@register_parser("fedreg_documents")
def _parse_documents(body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    until = meta.get("until")  # the plan's as-of date (older manifests have none)
    return parser.parse_documents(body, until=date.fromisoformat(until) if until else None)
