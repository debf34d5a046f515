"""Federal Register API v1 document search (``GET /api/v1/documents.json``), page by page.

Keyless. The query asks for one agency's documents (by slug, e.g.
``industry-and-security-bureau`` for BIS) published in [start, end], oldest
first, with only the fields the parser needs.

Document types: by default only ``RULE`` (final and interim final rules --
the documents that change what may be exported; BIS's October 2022 and 2023
advanced-computing controls were interim final rules of type RULE). Proposed
rules (``PRORULE``) are consultations, not policy events, and notices
(``NOTICE``) are mostly individual licence and penalty orders. Pass
``types=("RULE", "PRORULE")`` to widen the net.

``conditions[term]`` is a full-text search; note that the API combines
several words as AND, not OR. Leave ``term`` empty to get every document of
the agency.

Paging: each page names the next one in ``next_page_url`` (an absolute URL
with the query repeated); it is absent on the last page. The pages are
requested through the same ``HttpClient`` (same retries and rate limit), only
on the client's own host, and at most ``MAX_PAGES`` of them: a longer chain or
a URL seen twice is a ``SourceError``, not a silent truncation.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx

from flows.sources.http import HttpClient, SourceError

DOCUMENTS_PATH = "/api/v1/documents.json"
FIELDS = ("document_number", "title", "publication_date", "html_url", "type", "abstract", "agencies")
DEFAULT_TYPES = ("RULE",)
MAX_PAGES = 50
MAX_PER_PAGE = 1000  # the API's own limit


def document_params(
    *, agency: str, term: str | None, start: date, end: date, per_page: int, types: tuple[str, ...] = DEFAULT_TYPES
) -> dict[str, Any]:
    """Query parameters of the first page (list values repeat the key, as the API expects for ``[]`` keys)."""
    params: dict[str, Any] = {
        "conditions[agencies][]": [agency],
        "conditions[publication_date][gte]": start.isoformat(),
        "conditions[publication_date][lte]": end.isoformat(),
        "conditions[type][]": list(types),
        "per_page": per_page,
        "order": "oldest",
        "fields[]": list(FIELDS),
    }
    if term:
        params["conditions[term]"] = term
    return params


def fetch_documents(
    client: HttpClient,
    *,
    agency: str,
    term: str | None,
    start: date,
    end: date,
    per_page: int = 100,
    types: tuple[str, ...] = DEFAULT_TYPES,
) -> list[bytes]:
    """Every result page of the search, in order: one body per page, following ``next_page_url``."""
    if start > end:
        raise ValueError(f"Federal Register start ({start}) is after end ({end}); swap them.")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}.")
    if not types:
        raise ValueError("At least one document type is needed, e.g. ('RULE',).")
    params = document_params(agency=agency, term=term, start=start, end=end, per_page=per_page, types=types)
    home = httpx.URL(client.base_url).host
    bodies: list[bytes] = []
    seen: set[str] = set()
    next_url: str | None = None
    while True:
        page = len(bodies) + 1
        key = f"{agency} page {page}"
        if next_url is None:
            response = client.get(DOCUMENTS_PATH, key=key, params=params)
        else:
            response = client.get(next_url, key=key)
        bodies.append(response.content)
        seen.add(str(response.request.url))
        next_url = _next_page_url(response.content, source=client.source, key=key)
        if next_url is None:
            return bodies
        if httpx.URL(next_url).host not in ("", home):  # absolute on the API's own host, or relative
            raise SourceError(
                f"Federal Register next_page_url {next_url!r} leaves {home}; refusing to follow it.",
                source=client.source,
                key=key,
            )
        if str(httpx.URL(next_url)) in seen or next_url in seen:
            raise SourceError(
                f"Federal Register paging loops: page {page} links back to {next_url!r}.", source=client.source, key=key
            )
        if page >= MAX_PAGES:
            raise SourceError(
                f"Federal Register search for {agency} has more than {MAX_PAGES} pages of {per_page}; "
                "narrow the date range or raise per_page.",
                source=client.source,
                key=key,
            )


def _next_page_url(body: bytes, *, source: str, key: str) -> str | None:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(
            f"Federal Register page is not JSON ({exc}); it starts with {body[:80]!r}.",
            source=source,
            key=key,
        ) from exc
    value = document.get("next_page_url") if isinstance(document, dict) else None
    return value if isinstance(value, str) and value else None
