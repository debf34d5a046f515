"""Requests to the BLS public data API v2 (``POST /publicAPI/v2/timeseries/data/``).

BLS limits what one request may ask for: without a registration key at most
10 years and 25 series, with one 20 years and 50 series. Longer ranges are
not refused but silently cut ("Year range has been reduced to the
system-allowed limit"), so ``fetch_series`` splits the year range (and, past
the series limit, the series list) itself and sends one request per chunk.

The registration key is a secret. It travels only in the POST body; it is
never part of a chunk label or an error key. Construct the client with
``HttpClient("bls", ..., secrets=[key])`` so anything the client reports is
redacted too.

Only transport lives here: a response with HTTP 200 can still be an error
envelope (``REQUEST_NOT_PROCESSED``), which ``parser.parse_series`` reports
after the body has been landed.
"""

from __future__ import annotations

from flows.sources.http import HttpClient

TIMESERIES_PATH = "/publicAPI/v2/timeseries/data/"
MAX_YEARS_WITHOUT_KEY = 10
MAX_YEARS_WITH_KEY = 20
MAX_SERIES_WITHOUT_KEY = 25
MAX_SERIES_WITH_KEY = 50


def year_chunks(start_year: int, end_year: int, *, size: int) -> list[tuple[int, int]]:
    """Consecutive (first, last) year ranges of at most ``size`` years covering [start_year, end_year]."""
    if start_year > end_year:
        raise ValueError(f"start_year ({start_year}) is after end_year ({end_year}); swap them.")
    if size < 1:
        raise ValueError(f"Chunk size must be at least 1 year, got {size}.")
    return [(first, min(first + size - 1, end_year)) for first in range(start_year, end_year + 1, size)]


def fetch_series(
    client: HttpClient,
    series_ids: list[str],
    *,
    start_year: int,
    end_year: int,
    registration_key: str | None,
) -> list[tuple[str, bytes]]:
    """POST one request per year chunk (and series batch); return (label, body) per request, oldest chunk first.

    Labels are the chunk's years, e.g. ``"2015-2024"`` (``"2015-2024-part2"`` when
    the series list had to be split too). A failed request raises ``SourceError``
    whose key is the comma-joined series ids and the chunk's years.
    """
    if not series_ids:
        raise ValueError("fetch_series needs at least one BLS series id.")
    keyed = bool(registration_key)
    years_per_request = MAX_YEARS_WITH_KEY if keyed else MAX_YEARS_WITHOUT_KEY
    series_per_request = MAX_SERIES_WITH_KEY if keyed else MAX_SERIES_WITHOUT_KEY
    batches = [series_ids[i : i + series_per_request] for i in range(0, len(series_ids), series_per_request)]
    bodies: list[tuple[str, bytes]] = []
    for first, last in year_chunks(start_year, end_year, size=years_per_request):
        for number, batch in enumerate(batches, start=1):
            payload: dict[str, object] = {"seriesid": batch, "startyear": str(first), "endyear": str(last)}
            if keyed:
                payload["registrationkey"] = registration_key
            label = f"{first}-{last}" if len(batches) == 1 else f"{first}-{last}-part{number}"
            response = client.post(TIMESERIES_PATH, key=f"{','.join(batch)} {first}-{last}", json=payload)
            bodies.append((label, response.content))
    return bodies
