"""The plain data of live extraction: a key's job, what fetching it gave, a key's failure.

Picklable and light (no HTTP client imported): dataset modules build jobs in their live plans, Dask
workers receive them, audit records carry the failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class KeyFailure:
    """One key of a live load that failed after the client's retries; the other keys still load."""

    key: str
    source: str
    error: str
    http_status: int | None = None


@dataclass(frozen=True)
class KeyJob:
    """The request(s) of one key, as plain data: it can be fetched in another thread, process or machine."""

    key: str
    parser: str  # a registered parser; recorded in the landing manifest
    meta: dict[str, Any]  # what the parser needs besides the body (and what the manifest keeps)
    source: str  # whose client and limits it uses (a registered client), or registry.LOCAL
    fetch: str  # a registered fetcher
    args: dict[str, Any]
    suffix: str = ".json"


@dataclass
class Fetched:
    """What fetching one key gave: its bodies as (label, body) -- label '' for a single body -- or a failure."""

    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    failure: KeyFailure | None = None
    worker: str = ""  # where it ran: a thread name, or a Dask worker's address
