"""Read Federal Register search pages into ``raw.policy_events`` rows, and merge them with the curated calendar.

The wire format of one page (``/api/v1/documents.json``)::

    {"count": 3, "description": "...", "total_pages": 2,
     "next_page_url": "https://www.federalregister.gov/api/v1/documents.json?...&page=2",
     "results": [{"abstract": "...", "agencies": [...], "document_number": "2022-21658",
                  "html_url": "https://www.federalregister.gov/documents/2022/10/13/2022-21658/...",
                  "publication_date": "2022-10-13", "title": "...", "type": "Rule"}]}

``results`` is absent when nothing matched (``{"count": 0, "description": ...}``).

Each document becomes one event: ``event_id`` = ``"fr-"`` + the document
number in lower case (stable across runs), ``event_date`` = the publication
date (the date the rule became public in the Register -- often a few days
after the agency's own announcement), ``title`` on one line and at most 200
characters, ``source_url`` = ``html_url``, ``available_at`` = 06:00 New York
on the publication date, when federalregister.gov publishes the day's issue
(:func:`flows.availability.federal_register_public_at`). Category, region and source are the
caller's (defaults: ``export_control``, ``US``, ``federal_register``).

As of a date (``until``): a document published after it is not yet known and
gives no row, whatever the query asked for (the client already bounds the
query by ``conditions[publication_date][lte]``; a page that ignores the
condition, or a replay with a tighter bound, is filtered here too).
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from flows.availability import federal_register_public_at
from flows.sources.curated.reader import EVENT_COLUMNS
from flows.sources.http import SourceError

SOURCE = "federal_register"
MAX_TITLE_CHARS = 200
DOCUMENT_URL = "https://www.federalregister.gov/d/{document_number}"
# A Federal Register document page: /d/<number> or /documents/<yyyy>/<mm>/<dd>/<number>/<slug>.
_DOCUMENT_PAGE = re.compile(r"federalregister\.gov/(?:d|documents/\d{4}/\d{2}/\d{2})/([^/?#\s]+)", re.IGNORECASE)


def parse_documents(
    body: bytes,
    *,
    category: str = "export_control",
    region: str = "US",
    source: str = SOURCE,
    until: date | None = None,
) -> pd.DataFrame:
    """EVENT_COLUMNS rows, one per document on the page (a document listed twice on the page counts once),
    published by ``until`` (every document when None)."""
    document = _load(body)
    results = document.get("results") or []
    if not isinstance(results, list):
        raise SourceError(
            f"Federal Register 'results' is not a list: {str(results)[:120]}.", source=SOURCE, key="(page)"
        )
    rows = [_row(result, category=category, region=region, source=source) for result in results]
    if until is not None:
        rows = [row for row in rows if row["event_date"] <= until]
    if not rows:
        dtypes = {column: "datetime64[us]" if column == "available_at" else object for column in EVENT_COLUMNS}
        return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in dtypes.items()})
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS).astype({"available_at": "datetime64[us]"})
    return frame.drop_duplicates("event_id", keep="first").reset_index(drop=True)


def merge_with_curated(curated: pd.DataFrame, fetched: pd.DataFrame) -> pd.DataFrame:
    """Curated events, then the fetched ones that are new. Curated wins.

    A fetched row is dropped when it is the same event as a curated row or as an
    earlier fetched row (the same document on two pages). Two rows are the same
    event when any of these match:

    - ``event_id``;
    - ``source_url``, ignoring the scheme, host case and a trailing slash;
    - the Federal Register document number -- from a ``fr-<number>`` event id or
      from a federalregister.gov document URL (``/d/<number>`` or
      ``/documents/<yyyy>/<mm>/<dd>/<number>/...``). So a curated row that cites
      the rule's Federal Register page replaces the fetched row for that rule.

    Curated rows are kept as they are (even duplicates among themselves: the
    calendar's own validation reports those). Events about the same policy that
    cite different pages (an agency press release vs. the Register) are not
    matched: give the curated row the Register URL to merge them.
    """
    curated_rows = _records(curated)
    fetched_rows = _records(fetched)
    taken: set[str] = set()
    for row in curated_rows:
        taken |= _match_keys(row)
    keep: list[bool] = []
    for row in fetched_rows:
        keys = _match_keys(row)
        keep.append(not keys & taken)
        taken |= keys
    parts = [frame for frame in (curated, fetched[keep] if len(fetched) else fetched) if len(frame)]
    if not parts:
        return (curated if len(curated.columns) else fetched).iloc[0:0].reset_index(drop=True)
    return pd.concat(parts, ignore_index=True)


def _load(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise SourceError(
            f"Federal Register page is not JSON ({exc}); it starts with {body[:80]!r}.", source=SOURCE, key="(page)"
        ) from exc
    if not isinstance(document, dict):
        raise SourceError(
            f"Federal Register page is JSON but not an object: {str(document)[:80]}.", source=SOURCE, key="(page)"
        )
    if document.get("errors"):
        raise SourceError(
            f"Federal Register API reported errors: {json.dumps(document['errors'])[:300]}. "
            "Check the agency slug and the conditions.",
            source=SOURCE,
            key="(page)",
        )
    return document


def _row(result: Any, *, category: str, region: str, source: str) -> dict[str, Any]:
    if not isinstance(result, dict):
        raise SourceError(
            f"Federal Register result is not an object: {str(result)[:120]}.", source=SOURCE, key="(page)"
        )
    number = str(result.get("document_number") or "").strip()
    if not number:
        raise SourceError(
            f"Federal Register result without a document_number: {str(result)[:200]}.", source=SOURCE, key="(page)"
        )
    raw_date = str(result.get("publication_date") or "")
    try:
        event_date = date.fromisoformat(raw_date)
    except ValueError as exc:
        raise SourceError(
            f"Federal Register document {number} has publication_date {raw_date!r}, not an ISO date.",
            source=SOURCE,
            key=number,
        ) from exc
    title = one_line(str(result.get("title") or "")) or f"Federal Register document {number}"
    url = str(result.get("html_url") or "").strip() or DOCUMENT_URL.format(document_number=number)
    return {
        "event_id": f"fr-{number.lower()}",
        "event_date": event_date,
        "category": category,
        "region": region,
        "title": title,
        "source_url": url,
        "source": source,
        "available_at": federal_register_public_at(event_date),
    }


def one_line(text: str, *, limit: int = MAX_TITLE_CHARS) -> str:
    """Whitespace (newlines included) collapsed to single spaces; cut at a word boundary to ``limit`` chars."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "..."


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = [column for column in ("event_id", "source_url") if column in frame.columns]
    return frame[columns].to_dict("records") if columns else [{} for _ in range(len(frame))]


def _match_keys(row: dict[str, Any]) -> set[str]:
    keys: set[str] = set()
    event_id = row.get("event_id")
    if isinstance(event_id, str) and event_id.strip():
        event_id = event_id.strip().lower()
        keys.add(f"id:{event_id}")
        if event_id.startswith("fr-"):
            keys.add(f"doc:{event_id[3:]}")
    url = row.get("source_url")
    if isinstance(url, str) and url.strip():
        parts = urlsplit(url.strip())
        keys.add(f"url:{parts.netloc.lower()}{parts.path.rstrip('/')}{'?' + parts.query if parts.query else ''}")
        page = _DOCUMENT_PAGE.search(url)
        if page:
            keys.add(f"doc:{page.group(1).lower()}")
    return keys
