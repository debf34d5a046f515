"""Requests to SEC EDGAR's JSON APIs on ``https://data.sec.gov`` (no API key).

- ``GET /api/xbrl/companyfacts/CIK##########.json``: one request per company
  returns every XBRL fact it ever filed (10-Q, 10-K, 20-F, 40-F, 6-K, 8-K and
  amendments). :func:`fetch_companyfacts` returns the raw body so the caller
  can land it before parsing (see :mod:`flows.sources.sec_edgar.parser`).
- ``GET /submissions/CIK##########.json``: the company's filing index, the
  latest filings (at least a year's, or 1,000) in ``filings.recent``; older
  ones on extra pages ``GET /submissions/CIK##########-submissions-NNN.json``
  listed in ``filings.files``. :func:`fetch_submissions` returns the main
  document and the pages a load needs, each raw, for the landing zone (see
  :mod:`flows.sources.sec_edgar.submissions`).

SEC's fair-access rules, enforced here:

- A descriptive ``User-Agent`` with a contact e-mail (``GAPWATCH_SEC_USER_AGENT``,
  e.g. ``gapwatch research ops@yourfirm.com``). Without one SEC answers 403
  ("Undeclared Automated Tool"); :func:`make_sec_client` refuses to build a
  client rather than send anonymous requests.
- At most 10 requests per second per host; we stay at
  ``SEC_MAX_REQUESTS_PER_SECOND`` (8).

The contact is a secret for logging purposes: the User-Agent and the e-mail
address inside it are redacted from every error message the shared client
raises. Retries (429/5xx with ``Retry-After``, none on other 4xx: an unknown
CIK is a 404), timeouts and error wording belong to the shared
:class:`~flows.sources.http.HttpClient`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from typing import Any

import httpx

from flows.sources.http import HttpClient, RetryPolicy

SOURCE = "sec_edgar"
COMPANYFACTS_PATH = "/api/xbrl/companyfacts/CIK{cik}.json"
SUBMISSIONS_PATH = "/submissions/CIK{cik}.json"
SUBMISSIONS_PAGE_PATH = "/submissions/{name}"
RECENT = "recent"  # the label of the main submissions document
# an older page's file name, as listed in filings.files: CIK##########-submissions-NNN.json
SUBMISSIONS_PAGE_NAME = re.compile(r"CIK(\d{10})-submissions-\d{3}\.json", re.ASCII)  # fullmatch
SEC_MAX_REQUESTS_PER_SECOND = 8  # SEC's fair-access limit is 10/s per host; stay under it
USER_AGENT_ENV = "GAPWATCH_SEC_USER_AGENT"
USER_AGENT_EXAMPLE = "gapwatch research ops@yourfirm.com"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_EMAIL = re.compile(r"[^\s<>()\"',;]+@[^\s<>()\"',;]+")


def make_sec_client(
    base_url: str,
    *,
    user_agent: str,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timeout_seconds: float = 30.0,
    retry: RetryPolicy | None = None,
) -> HttpClient:
    """An :class:`HttpClient` for SEC EDGAR: contact User-Agent, 8 requests/second, the contact redacted.

    Raises ValueError when ``user_agent`` is empty or has no contact e-mail.
    """
    agent = (user_agent or "").strip()
    if not agent:
        raise ValueError(
            f"SEC EDGAR requires a descriptive User-Agent with a contact e-mail, and {USER_AGENT_ENV} is empty. "
            f"Set it, e.g. {USER_AGENT_ENV}='{USER_AGENT_EXAMPLE}'."
        )
    if "@" not in agent:
        raise ValueError(
            f"SEC EDGAR requires a contact e-mail in the User-Agent, and {USER_AGENT_ENV} has no '@' "
            f"(value not shown). Set it to a name and an address, e.g. '{USER_AGENT_EXAMPLE}'."
        )
    # The whole User-Agent first, then the address alone: a URL or message may carry it percent-free but split.
    secrets = list(dict.fromkeys([user_agent, agent, *_EMAIL.findall(agent)]))
    return HttpClient(
        SOURCE,
        base_url,
        headers={"User-Agent": agent, "Accept": "application/json"},
        requests_per_second=SEC_MAX_REQUESTS_PER_SECOND,
        secrets=secrets,
        transport=transport,
        timeout_seconds=timeout_seconds,
        retry=retry,
        sleep=sleep,
    )


def fetch_companyfacts(client: HttpClient, cik: str) -> bytes:
    """Raw companyfacts JSON for ``cik`` (digits, zero-padded to 10 in the path; key ``CIK##########``)."""
    padded = normalize_cik(cik)
    return client.get(COMPANYFACTS_PATH.format(cik=padded), key=f"CIK{padded}").content


def fetch_submissions(client: HttpClient, cik: str, *, since: date | None = None) -> list[tuple[str, bytes]]:
    """The submissions of ``cik`` as (label, raw body): ``("recent", main document)`` then the older pages.

    An older page (label = its file name, e.g. ``CIK0001045810-submissions-001.json``) is fetched
    when its ``filingTo`` is on or after ``since``; every page when ``since`` is None (a backfill).
    Pages are found in the main document's ``filings.files``. When that cannot be read (a body that
    is not JSON, an entry without a page name of this CIK) the main document is returned without
    those pages -- the parser then reports what is wrong with it; a page whose ``filingTo`` is
    unreadable is fetched rather than risk missing filings. Every request has the key ``CIK##########``.
    """
    padded = normalize_cik(cik)
    key = f"CIK{padded}"
    main = client.get(SUBMISSIONS_PATH.format(cik=padded), key=key).content
    bodies = [(RECENT, main)]
    for name in _older_pages(main, cik=padded, since=since):
        bodies.append((name, client.get(SUBMISSIONS_PAGE_PATH.format(name=name), key=key).content))
    return bodies


def _older_pages(main: bytes, *, cik: str, since: date | None) -> Iterator[str]:
    """File names of the older pages listed in the main document, those ending on or after ``since``."""
    try:
        document = json.loads(main)
    except (ValueError, RecursionError):  # not JSON (an HTML error page, a cut-off body): the parser says so
        return
    filings = document.get("filings") if isinstance(document, Mapping) else None
    files = filings.get("files") if isinstance(filings, Mapping) else None
    if not isinstance(files, list):
        return
    seen: set[str] = set()
    for entry in files:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        match = SUBMISSIONS_PAGE_NAME.fullmatch(name) if isinstance(name, str) else None
        if match is None or match.group(1) != cik or name in seen:
            continue  # not a page of this company: never requested (parse_submissions rejects the document)
        seen.add(name)
        filing_to = _date_or_none(entry.get("filingTo"))
        if since is None or filing_to is None or filing_to >= since:
            yield name


def _date_or_none(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value) if _ISO_DATE.fullmatch(value) else None
    except ValueError:
        return None


def normalize_cik(cik: str | int) -> str:
    """``'1045810'``, ``1045810``, ``'0001045810'`` or ``'CIK0001045810'`` -> ``'0001045810'``."""
    text = str(cik).strip()
    if text.upper().startswith("CIK"):
        text = text[3:]
    if not text.isdigit() or len(text) > 10 or int(text) == 0:
        raise ValueError(
            f"Invalid SEC CIK {cik!r}: expected up to 10 digits, e.g. '0001045810' (NVIDIA). "
            "Look it up at https://www.sec.gov/cgi-bin/browse-edgar?action=getcompany and fix the universe file."
        )
    return text.zfill(10)
