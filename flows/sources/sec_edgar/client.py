"""Requests to SEC EDGAR's XBRL API: ``GET /api/xbrl/companyfacts/CIK##########.json``.

One request per company returns every XBRL fact it ever filed (10-Q, 10-K,
20-F, 40-F, 6-K, 8-K and amendments), served from ``https://data.sec.gov``
with no API key. :func:`fetch_companyfacts` returns the raw body so the
caller can land it before parsing (see :mod:`flows.sources.sec_edgar.parser`).

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

import re
import time
from collections.abc import Callable

import httpx

from flows.sources.http import HttpClient, RetryPolicy

SOURCE = "sec_edgar"
COMPANYFACTS_PATH = "/api/xbrl/companyfacts/CIK{cik}.json"
SEC_MAX_REQUESTS_PER_SECOND = 8  # SEC's fair-access limit is 10/s per host; stay under it
USER_AGENT_ENV = "GAPWATCH_SEC_USER_AGENT"
USER_AGENT_EXAMPLE = "gapwatch research ops@yourfirm.com"
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
