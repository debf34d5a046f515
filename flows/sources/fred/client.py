"""FRED's keyless CSV download (``GET /graph/fredgraph.csv?id=...&cosd=...&coed=...``).

No API key: this is the file behind the "Download CSV" button of a FRED
graph, served from ``https://fred.stlouisfed.org``. It is the CPI alternative
when the BLS API is down or out of quota. FRED republishes the BLS series
under its own ids (``FRED_TO_BLS``); the parser maps them back so ``raw.cpi``
keeps one set of series ids whatever the source.

As of a date D, the request asks for the values known on D (the real-time
period D..D), not today's revised ones; the cpi dataset then keeps only the
months BLS had released by D (``flows.datasets.cpi_release``).
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
    """The CSV body for ``fred_id`` with observations dated in [start, end] (``cosd``/``coed``, ISO dates), as
    they were known on ``end``: the real-time period (``realtime_start``/``realtime_end``, ALFRED's vintage
    parameters, and ``vintage_date``, the graph's) is ``end``, so a later revision or a month published
    after ``end`` is not in the body."""
    if start > end:
        raise ValueError(f"FRED start ({start}) is after end ({end}); swap them.")
    params = {
        "id": fred_id,
        "cosd": start.isoformat(),
        "coed": end.isoformat(),
        "realtime_start": end.isoformat(),
        "realtime_end": end.isoformat(),
        "vintage_date": end.isoformat(),
    }
    return client.get(GRAPH_CSV_PATH, key=fred_id, params=params).content
