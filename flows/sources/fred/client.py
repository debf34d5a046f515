"""FRED's keyless CSV download (``GET /graph/fredgraph.csv?id=...&cosd=...&coed=...``).

No API key: this is the file behind the "Download CSV" button of a FRED
graph, served from ``https://fred.stlouisfed.org``. It is the CPI alternative
when the BLS API is down or out of quota. FRED republishes the BLS series
under its own ids (``FRED_TO_BLS``); the parser maps them back so ``raw.cpi``
keeps one set of series ids whatever the source.
"""

from __future__ import annotations

from datetime import date

from flows.sources.http import HttpClient

GRAPH_CSV_PATH = "/graph/fredgraph.csv"
FRED_TO_BLS: dict[str, str] = {
    "CPIAUCNS": "CUUR0000SA0",
    "CPIAUCSL": "CUSR0000SA0",
    "CPILFENS": "CUUR0000SA0L1E",
    "CPILFESL": "CUSR0000SA0L1E",
}


def fetch_csv(client: HttpClient, fred_id: str, *, start: date, end: date) -> bytes:
    """The CSV body for ``fred_id`` with observations dated in [start, end] (``cosd``/``coed``, ISO dates)."""
    if start > end:
        raise ValueError(f"FRED start ({start}) is after end ({end}); swap them.")
    params = {"id": fred_id, "cosd": start.isoformat(), "coed": end.isoformat()}
    return client.get(GRAPH_CSV_PATH, key=fred_id, params=params).content
