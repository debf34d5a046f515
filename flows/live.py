"""Live extraction: call the connectors key by key, land every payload, parse it.

For each key (ticker, FX pair, CIK, CPI series, Federal Register page) the
raw response body is written to the landing zone *before* it is parsed, with
a ``manifest.json`` naming the parser of each file. ``replay`` re-parses a
landed load without the network.

One key failing (HTTP error after retries, error envelope, unparseable
payload) does not lose the others: it becomes a ``KeyFailure`` and the rest
are parsed and loaded. The caller decides, by the configured threshold,
whether the dataset as a whole failed.

This module knows HTTP connectors and the landing zone, never DuckDB.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from flows import progress
from flows.settings import Settings
from flows.sources.curated import reader as curated_reader
from flows.sources.http import HttpClient, RetryPolicy, SourceError

MANIFEST = "manifest.json"


@dataclass
class KeyFailure:
    key: str
    source: str
    error: str
    http_status: int | None = None


@dataclass
class LiveExtract:
    frame: pd.DataFrame
    source: str
    keys: list[str]
    failures: list[KeyFailure] = field(default_factory=list)
    folder: Path | None = None


class PayloadWriter:
    """Writes payload files into one load's landing folder and keeps its manifest."""

    def __init__(self, folder: Path, *, dataset: str, as_of: date) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.entries: list[dict[str, Any]] = []
        self.header = {"dataset": dataset, "as_of": as_of.isoformat()}

    def write(self, key: str, body: bytes, *, parser: str, meta: dict[str, Any], suffix: str = ".json") -> Path:
        name = f"{len(self.entries):04d}-{safe_name(key)}{suffix}"
        path = self.folder / name
        partial = path.with_name(name + ".partial")
        partial.write_bytes(body)
        partial.replace(path)
        self.entries.append({"key": key, "file": name, "parser": parser, "meta": meta})
        self.save()
        return path

    def save(self, failures: list[KeyFailure] | None = None) -> None:
        document = {**self.header, "payloads": self.entries}
        if failures is not None:
            document["failures"] = [failure.__dict__ for failure in failures]
        (self.folder / MANIFEST).write_text(json.dumps(document, indent=1, default=str))


def safe_name(key: str) -> str:
    """A file-name-safe form of a key ('^HSI' -> '_HSI', 'HKDUSD=X' -> 'HKDUSD_X')."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", key)[:80]


def _client(settings: Settings, source: str, base_url: str, *, rps: float = 0.0, headers=None) -> HttpClient:  # type: ignore[no-untyped-def]
    return HttpClient(
        source,
        base_url,
        headers=headers,
        timeout_seconds=settings.live.http_timeout_seconds,
        retry=RetryPolicy(attempts=settings.live.http_attempts),
        requests_per_second=rps,
        secrets=settings.live.secrets,
    )


# --- parsers by name: the manifest records which one reads each payload -------------------------


def _parse(parser: str, body: bytes, meta: dict[str, Any], settings: Settings) -> pd.DataFrame:
    end = date.fromisoformat(meta["end"]) if "end" in meta else None
    if parser.startswith("yahoo_"):
        from flows.sources.yahoo import parser as yahoo
    if parser == "yahoo_chart":
        return yahoo.parse_chart(body, security=settings.universe.get(meta["ticker"]), end=end)
    if parser == "yahoo_fx":
        return yahoo.parse_fx_chart(body, currency=meta["currency"], end=end)
    if parser == "yahoo_timeseries":
        frame = yahoo.parse_timeseries(
            body,
            security=settings.universe.get(meta["ticker"]),
            reporting_lag_days=settings.live.reporting_lag_days,
            as_of=end,
        )
        return frame.assign(period_months=3)
    if parser == "sec_companyfacts":
        from flows.sources.sec_edgar import parser as sec

        return sec.parse_companyfacts(body, ticker=meta["ticker"])
    if parser == "bls_series":
        from flows.sources.bls import parser as bls

        return bls.parse_series(body)
    if parser == "fred_csv":
        from flows.sources.fred import parser as fred

        return fred.parse_csv(body, fred_id=meta["fred_id"])
    if parser == "fedreg_documents":
        from flows.sources.federal_register import parser as fedreg

        return fedreg.parse_documents(body)
    if parser == "curated_csv":
        return curated_reader.parse_events(body, until=date.fromisoformat(meta["until"]))
    raise ValueError(f"Unknown payload parser {parser!r} in the landing manifest.")


# --- extraction per dataset ------------------------------------------------------------------------


@dataclass
class _Job:
    key: str
    parser: str
    meta: dict[str, Any]
    fetch: Callable[[], bytes | list[tuple[str, bytes]]]
    suffix: str = ".json"


def _start(cursor: date | None, *, start: date | None, lookback: timedelta, default: date) -> date:
    if start is not None:
        return start
    return max(default, cursor - lookback) if cursor else default


def plan(
    dataset: str, *, settings: Settings, cursors: dict[str, date], as_of: date, start: date | None
) -> tuple[str, list[_Job], list[HttpClient]]:
    """The requests one dataset needs: (source label, jobs, clients to close).

    Connectors are imported per dataset, so one connector's import problem stays with its dataset.
    """
    live = settings.live
    lookback = timedelta(days=settings.lookback_days)
    history_start = settings.sample.start_date
    if dataset in {"prices", "fx_rates"}:
        from flows.sources.yahoo import client as yahoo

        client = _client(settings, "yahoo", live.yahoo_base_url, rps=live.yahoo_requests_per_second)
        jobs = []
        if dataset == "prices":
            for security in settings.universe.securities:
                begin = _start(cursors.get(security.ticker), start=start, lookback=lookback, default=history_start)
                jobs.append(
                    _Job(
                        security.ticker,
                        "yahoo_chart",
                        {"ticker": security.ticker, "start": begin.isoformat(), "end": as_of.isoformat()},
                        lambda s=security.ticker, b=begin: yahoo.fetch_chart(client, s, start=b, end=as_of),
                    )
                )
        else:
            for currency in settings.universe.fx_currencies:
                symbol = f"{currency}USD=X"
                begin = _start(cursors.get(currency), start=start, lookback=lookback, default=history_start)
                jobs.append(
                    _Job(
                        symbol,
                        "yahoo_fx",
                        {"currency": currency, "start": begin.isoformat(), "end": as_of.isoformat()},
                        lambda s=symbol, b=begin: yahoo.fetch_chart(client, s, start=b, end=as_of),
                    )
                )
        return "yahoo", jobs, [client]
    if dataset == "fundamentals":
        from flows.sources.sec_edgar import client as sec
        from flows.sources.yahoo import client as yahoo

        clients: list[HttpClient] = []
        jobs = []
        yahoo_client = _client(settings, "yahoo", live.yahoo_base_url, rps=live.yahoo_requests_per_second)
        clients.append(yahoo_client)
        sec_client = None
        companies = [s for s in settings.universe.securities if s.group != "benchmark"]
        for security in companies:
            if security.cik and security.group == "us_ai_leader" and live.sec_user_agent:
                if sec_client is None:
                    sec_client = sec.make_sec_client(
                        live.sec_base_url,
                        user_agent=live.sec_user_agent,
                        timeout_seconds=live.http_timeout_seconds,
                        retry=RetryPolicy(attempts=live.http_attempts),
                    )
                    clients.append(sec_client)
                jobs.append(
                    _Job(
                        security.ticker,
                        "sec_companyfacts",
                        {"ticker": security.ticker, "cik": security.cik},
                        lambda c=security.cik, client=sec_client: sec.fetch_companyfacts(client, c),
                    )
                )
            else:
                begin = _start(
                    cursors.get(security.ticker), start=start, lookback=timedelta(days=400), default=history_start
                )
                jobs.append(
                    _Job(
                        security.ticker,
                        "yahoo_timeseries",
                        {"ticker": security.ticker, "start": begin.isoformat(), "end": as_of.isoformat()},
                        lambda s=security.ticker, b=begin: yahoo.fetch_timeseries(yahoo_client, s, start=b, end=as_of),
                    )
                )
        return "sec_edgar+yahoo", jobs, clients
    if dataset == "cpi":
        first = _start(
            min(cursors.values(), default=None), start=start, lookback=timedelta(days=400), default=history_start
        )
        if live.cpi_source == "fred":
            from flows.sources.fred import client as fred

            client = _client(settings, "fred", live.fred_base_url)
            jobs = [
                _Job(
                    fred_id,
                    "fred_csv",
                    {"fred_id": fred_id, "start": first.isoformat(), "end": as_of.isoformat()},
                    lambda f=fred_id: fred.fetch_csv(client, f, start=first, end=as_of),
                    suffix=".csv",
                )
                for fred_id in fred.FRED_TO_BLS
            ]
            return "fred", jobs, [client]
        from flows.sources.bls import client as bls

        client = _client(settings, "bls", live.bls_base_url)
        series = ["CUUR0000SA0", "CUSR0000SA0", "CUUR0000SA0L1E", "CUSR0000SA0L1E"]
        job = _Job(
            "+".join(series),
            "bls_series",
            {"series": series, "start_year": first.year, "end_year": as_of.year},
            lambda: bls.fetch_series(
                client, series, start_year=first.year, end_year=as_of.year, registration_key=live.bls_api_key or None
            ),
        )
        return "bls_api", [job], [client]
    if dataset == "policy_events":
        from flows.sources.federal_register import client as fedreg

        client = _client(settings, "federal_register", live.fedreg_base_url)
        first = _start(
            min(cursors.values(), default=None), start=start, lookback=timedelta(days=30), default=history_start
        )
        curated = curated_reader.read_payload(settings.policy_events_file)
        jobs = [
            _Job("curated", "curated_csv", {"until": as_of.isoformat()}, lambda: curated, suffix=".csv"),
            _Job(
                f"federal_register:{live.fedreg_agency}",
                "fedreg_documents",
                {"agency": live.fedreg_agency, "term": live.fedreg_term, "start": first.isoformat()},
                lambda: fedreg.fetch_documents(
                    client, agency=live.fedreg_agency, term=live.fedreg_term or None, start=first, end=as_of
                ),
            ),
        ]
        return "curated+federal_register", jobs, [client]
    raise ValueError(f"Unknown dataset {dataset!r}.")


def extract_live(
    dataset: str,
    *,
    settings: Settings,
    cursors: dict[str, date],
    as_of: date,
    start: date | None,
    folder: Path,
) -> LiveExtract:
    """Fetch, land and parse every key of ``dataset``; collect per-key failures."""
    source, jobs, clients = plan(dataset, settings=settings, cursors=cursors, as_of=as_of, start=start)
    writer = PayloadWriter(folder, dataset=dataset, as_of=as_of)
    failures: list[KeyFailure] = []
    frames: list[pd.DataFrame] = []
    try:
        for job in progress.track(jobs, f"{dataset}.keys"):
            try:
                fetched = job.fetch()
            except SourceError as exc:
                failures.append(KeyFailure(job.key, exc.source, str(exc), exc.status))
                continue
            # one body, or several: (label, body) chunks (BLS year ranges) or pages (Federal Register)
            if isinstance(fetched, list):
                bodies = [item if isinstance(item, tuple) else (f"page{n}", item) for n, item in enumerate(fetched, 1)]
            else:
                bodies = [("", fetched)]
            for label, body in bodies:
                writer.write(
                    job.key + (f"-{label}" if label else ""), body, parser=job.parser, meta=job.meta, suffix=job.suffix
                )
                try:
                    frames.append(_parse(job.parser, body, job.meta, settings))
                except SourceError as exc:
                    failures.append(KeyFailure(job.key, exc.source, str(exc), exc.status))
    finally:
        for client in clients:
            client.close()
        writer.save(failures)
    return LiveExtract(_combine(dataset, frames), source, [job.key for job in jobs], failures, folder)


def replay(folder: Path, *, settings: Settings) -> LiveExtract:
    """Re-parse a landed live load from its manifest, without the network."""
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"No {MANIFEST} in {folder}: not a live load's landing folder.")
    manifest = json.loads(manifest_path.read_text())
    frames, failures, keys = [], [], []
    for entry in manifest["payloads"]:
        keys.append(entry["key"])
        try:
            frames.append(_parse(entry["parser"], (folder / entry["file"]).read_bytes(), entry["meta"], settings))
        except SourceError as exc:
            failures.append(KeyFailure(entry["key"], exc.source, str(exc), exc.status))
    dataset = manifest["dataset"]
    return LiveExtract(_combine(dataset, frames), "replay", keys, failures, folder)


def _combine(dataset: str, frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame()
    combined = pd.concat(frames, ignore_index=True)
    if dataset == "policy_events":
        from flows.sources.federal_register.parser import merge_with_curated

        curated = combined[combined["source"] == curated_reader.SOURCE]
        fetched = combined[combined["source"] != curated_reader.SOURCE]
        combined = merge_with_curated(curated, fetched)
    if dataset == "cpi":
        combined = combined.drop_duplicates(["series_id", "period_date"], keep="last")
    return combined.reset_index(drop=True)
