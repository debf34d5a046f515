"""Live extraction: call the connectors key by key, land every payload, parse it.

For each key (ticker, FX pair, CIK, CPI series, Federal Register page) the
raw response body is written to the landing zone *before* it is parsed, with
a ``manifest.json`` naming the parser of each file. ``replay`` re-parses a
landed load without the network.

One key failing (HTTP error after retries, error envelope, unparseable
payload) does not lose the others: it becomes a ``KeyFailure`` and the rest
are parsed and loaded. The caller decides, by the configured threshold,
whether the dataset as a whole failed.

The fetches run concurrently: :func:`plan` turns a dataset into
:class:`KeyJob` s (plain, picklable data), a *mapper* fetches them -- by
default :func:`map_on_threads`, one thread pool per source sized by its
``GAPWATCH_<SOURCE>_CONCURRENCY``; with ``GAPWATCH_TASK_RUNNER=dask`` the
Prefect/Dask mapper of :mod:`flows.runners` -- and yields each result as it
completes. Landing and parsing then happen here, one thread, in job order,
so the landing files, the manifest, the frame's rows and the failures come
out the same whatever order the responses arrived in. Every client of a
source shares one rate limit and in-flight cap (:func:`flows.sources.http.shared_limits`).

This module knows HTTP connectors and the landing zone, never DuckDB or Prefect.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from flows import progress
from flows.settings import LiveSettings, Settings
from flows.sources.curated import reader as curated_reader
from flows.sources.http import HttpClient, RetryPolicy, SourceError, SourceLimits, shared_limits

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
    workers: list[str] = field(default_factory=list)  # per key: the thread or Dask worker that fetched it


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


# --- clients: one per source, limits shared by every client of the source ----------------------------

LimitsFactory = Callable[..., SourceLimits]  # (source, base_url, *, requests_per_second, max_in_flight)


class SourceClients:
    """One :class:`HttpClient` per source, built on first use from the live settings (thread-safe).

    Each client's rate limit and in-flight cap come from ``limits`` -- by default the
    process-wide :func:`shared_limits`, so they hold across every thread and every dataset.
    """

    def __init__(self, live: LiveSettings, *, limits: LimitsFactory = shared_limits) -> None:
        self.live = live
        self.limits = limits
        self._clients: dict[str, HttpClient] = {}
        self._lock = threading.Lock()

    def get(self, source: str) -> HttpClient:
        with self._lock:
            client = self._clients.get(source)
            if client is None:
                client = self._build(source)
                client.use_limits(
                    self.limits(
                        source,
                        client.base_url,
                        requests_per_second=client.limiter.per_second,
                        max_in_flight=self.live.concurrency(source),
                    )
                )
                self._clients[source] = client
            return client

    def _build(self, source: str) -> HttpClient:
        live = self.live
        if source == "sec_edgar":
            from flows.sources.sec_edgar import client as sec

            return sec.make_sec_client(
                live.sec_base_url,
                user_agent=live.sec_user_agent,
                timeout_seconds=live.http_timeout_seconds,
                retry=RetryPolicy(attempts=live.http_attempts),
            )
        base_urls = {
            "yahoo": live.yahoo_base_url,
            "bls": live.bls_base_url,
            "fred": live.fred_base_url,
            "federal_register": live.fedreg_base_url,
        }
        if source not in base_urls:
            raise ValueError(f"No HTTP client for source {source!r}; expected one of {', '.join(base_urls)}.")
        return HttpClient(
            source,
            base_urls[source],
            timeout_seconds=live.http_timeout_seconds,
            retry=RetryPolicy(attempts=live.http_attempts),
            requests_per_second=live.yahoo_requests_per_second if source == "yahoo" else 0.0,
            secrets=live.secrets,
        )

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


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


LOCAL = "local"  # the source of jobs that need no network (the curated calendar)


@dataclass(frozen=True)
class KeyJob:
    """The request(s) of one key, as plain data: it can be fetched in another thread, process or machine."""

    key: str
    parser: str
    meta: dict[str, Any]
    source: str  # whose client and limits it uses: yahoo | sec_edgar | bls | fred | federal_register | local
    call: str  # the connector function (see _fetch)
    args: dict[str, Any]
    suffix: str = ".json"


@dataclass
class Fetched:
    """What fetching one key gave: its bodies as (label, body) -- label '' for a single body -- or a failure."""

    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    failure: KeyFailure | None = None
    worker: str = ""  # where it ran: a thread name, or a Dask worker's address


def _fetch(job: KeyJob, clients: SourceClients) -> bytes | list[Any]:
    args = job.args
    if job.call == "payload":
        return args["payload"]
    client = clients.get(job.source)
    if job.call == "yahoo_chart":
        from flows.sources.yahoo import client as yahoo

        return yahoo.fetch_chart(client, args["symbol"], start=args["start"], end=args["end"])
    if job.call == "yahoo_timeseries":
        from flows.sources.yahoo import client as yahoo

        return yahoo.fetch_timeseries(client, args["symbol"], start=args["start"], end=args["end"])
    if job.call == "sec_companyfacts":
        from flows.sources.sec_edgar import client as sec

        return sec.fetch_companyfacts(client, args["cik"])
    if job.call == "fred_csv":
        from flows.sources.fred import client as fred

        return fred.fetch_csv(client, args["fred_id"], start=args["start"], end=args["end"])
    if job.call == "bls_series":
        from flows.sources.bls import client as bls

        return bls.fetch_series(
            client,
            args["series"],
            start_year=args["start_year"],
            end_year=args["end_year"],
            registration_key=clients.live.bls_api_key or None,
        )
    if job.call == "fedreg_documents":
        from flows.sources.federal_register import client as fedreg

        return fedreg.fetch_documents(
            client, agency=args["agency"], term=args["term"], start=args["start"], end=args["end"]
        )
    raise ValueError(f"Unknown fetch call {job.call!r} for key {job.key}.")


def fetch_key(job: KeyJob, clients: SourceClients) -> Fetched:
    """Fetch one key; a SourceError (after the client's retries) becomes its KeyFailure."""
    worker = threading.current_thread().name
    try:
        fetched = _fetch(job, clients)
    except SourceError as exc:
        return Fetched(failure=KeyFailure(job.key, exc.source, str(exc), exc.status), worker=worker)
    # one body, or several: (label, body) chunks (BLS year ranges) or pages (Federal Register)
    if isinstance(fetched, list):
        bodies = [item if isinstance(item, tuple) else (f"page{n}", item) for n, item in enumerate(fetched, 1)]
    else:
        bodies = [("", fetched)]
    return Fetched(bodies=bodies, worker=worker)


# A mapper fetches every job and yields (job index, result) as each completes, in any order.
KeyMapper = Callable[[Sequence[KeyJob], LiveSettings], Iterator[tuple[int, Fetched]]]


def map_on_threads(jobs: Sequence[KeyJob], live: LiveSettings) -> Iterator[tuple[int, Fetched]]:
    """The default mapper: one thread pool per source, as many threads as the source's concurrency."""
    clients = SourceClients(live)
    pools: dict[str, ThreadPoolExecutor] = {}
    futures: dict[Future[Fetched], int] = {}
    try:
        for index, job in enumerate(jobs):
            pool = pools.get(job.source)
            if pool is None:
                pool = pools[job.source] = ThreadPoolExecutor(
                    max_workers=live.concurrency(job.source), thread_name_prefix=f"gapwatch-{job.source}"
                )
            futures[pool.submit(fetch_key, job, clients)] = index
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        for pool in pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        clients.close()


def _start(cursor: date | None, *, start: date | None, lookback: timedelta, default: date) -> date:
    if start is not None:
        return start
    return max(default, cursor - lookback) if cursor else default


def plan(
    dataset: str, *, settings: Settings, cursors: dict[str, date], as_of: date, start: date | None
) -> tuple[str, list[KeyJob]]:
    """The requests one dataset needs: (source label, jobs), in the order they are landed and parsed."""
    live = settings.live
    lookback = timedelta(days=settings.lookback_days)
    history_start = settings.sample.start_date
    window = {"end": as_of.isoformat()}
    if dataset == "prices":
        jobs = []
        for security in settings.universe.securities:
            begin = _start(cursors.get(security.ticker), start=start, lookback=lookback, default=history_start)
            jobs.append(
                KeyJob(
                    security.ticker,
                    "yahoo_chart",
                    {"ticker": security.ticker, "start": begin.isoformat(), **window},
                    "yahoo",
                    "yahoo_chart",
                    {"symbol": security.ticker, "start": begin, "end": as_of},
                )
            )
        return "yahoo", jobs
    if dataset == "fx_rates":
        jobs = []
        for currency in settings.universe.fx_currencies:
            symbol = f"{currency}USD=X"
            begin = _start(cursors.get(currency), start=start, lookback=lookback, default=history_start)
            jobs.append(
                KeyJob(
                    symbol,
                    "yahoo_fx",
                    {"currency": currency, "start": begin.isoformat(), **window},
                    "yahoo",
                    "yahoo_chart",
                    {"symbol": symbol, "start": begin, "end": as_of},
                )
            )
        return "yahoo", jobs
    if dataset == "fundamentals":
        jobs = []
        for security in [s for s in settings.universe.securities if s.group != "benchmark"]:
            if security.cik and security.group == "us_ai_leader" and live.sec_user_agent:
                jobs.append(
                    KeyJob(
                        security.ticker,
                        "sec_companyfacts",
                        {"ticker": security.ticker, "cik": security.cik},
                        "sec_edgar",
                        "sec_companyfacts",
                        {"cik": security.cik},
                    )
                )
            else:
                begin = _start(
                    cursors.get(security.ticker), start=start, lookback=timedelta(days=400), default=history_start
                )
                jobs.append(
                    KeyJob(
                        security.ticker,
                        "yahoo_timeseries",
                        {"ticker": security.ticker, "start": begin.isoformat(), **window},
                        "yahoo",
                        "yahoo_timeseries",
                        {"symbol": security.ticker, "start": begin, "end": as_of},
                    )
                )
        return "sec_edgar+yahoo", jobs
    if dataset == "cpi":
        first = _start(
            min(cursors.values(), default=None), start=start, lookback=timedelta(days=400), default=history_start
        )
        if live.cpi_source == "fred":
            from flows.sources.fred.client import FRED_TO_BLS

            jobs = [
                KeyJob(
                    fred_id,
                    "fred_csv",
                    {"fred_id": fred_id, "start": first.isoformat(), **window},
                    "fred",
                    "fred_csv",
                    {"fred_id": fred_id, "start": first, "end": as_of},
                    suffix=".csv",
                )
                for fred_id in FRED_TO_BLS
            ]
            return "fred", jobs
        series = ["CUUR0000SA0", "CUSR0000SA0", "CUUR0000SA0L1E", "CUSR0000SA0L1E"]
        job = KeyJob(
            "+".join(series),
            "bls_series",
            {"series": series, "start_year": first.year, "end_year": as_of.year},
            "bls",
            "bls_series",
            {"series": series, "start_year": first.year, "end_year": as_of.year},
        )
        return "bls_api", [job]
    if dataset == "policy_events":
        first = _start(
            min(cursors.values(), default=None), start=start, lookback=timedelta(days=30), default=history_start
        )
        curated = curated_reader.read_payload(settings.policy_events_file)
        jobs = [
            KeyJob(
                "curated", "curated_csv", {"until": as_of.isoformat()}, LOCAL, "payload", {"payload": curated}, ".csv"
            ),
            KeyJob(
                f"federal_register:{live.fedreg_agency}",
                "fedreg_documents",
                {"agency": live.fedreg_agency, "term": live.fedreg_term, "start": first.isoformat()},
                "federal_register",
                "fedreg_documents",
                {"agency": live.fedreg_agency, "term": live.fedreg_term or None, "start": first, "end": as_of},
            ),
        ]
        return "curated+federal_register", jobs
    raise ValueError(f"Unknown dataset {dataset!r}.")


def default_mapper(live: LiveSettings) -> KeyMapper:
    """The mapper GAPWATCH_TASK_RUNNER names (threads, or Dask through Prefect: see flows.runners)."""
    from flows import runners

    return runners.mapper_for(live)


def extract_live(
    dataset: str,
    *,
    settings: Settings,
    cursors: dict[str, date],
    as_of: date,
    start: date | None,
    folder: Path,
    mapper: KeyMapper | None = None,
) -> LiveExtract:
    """Fetch (concurrently), land and parse every key of ``dataset``; collect per-key failures.

    Results are landed and parsed in job order as soon as every earlier job is done, so the
    outcome does not depend on which response came back first. Progress counts completed keys.
    """
    source, jobs = plan(dataset, settings=settings, cursors=cursors, as_of=as_of, start=start)
    writer = PayloadWriter(folder, dataset=dataset, as_of=as_of)
    failures: list[KeyFailure] = []
    frames: list[pd.DataFrame] = []
    workers = [""] * len(jobs)
    done: dict[int, Fetched] = {}
    landed = 0
    outcomes = (mapper or default_mapper(settings.live))(jobs, settings.live)
    try:
        for index, fetched in progress.track(outcomes, f"{dataset}.keys", total=len(jobs)):
            done[index] = fetched
            while landed in done:  # land and parse in job order
                job, fetched = jobs[landed], done.pop(landed)
                workers[landed] = fetched.worker
                _land_and_parse(job, fetched, writer=writer, settings=settings, frames=frames, failures=failures)
                landed += 1
        if landed != len(jobs):
            raise RuntimeError(f"The fetches of {dataset} returned {landed} of {len(jobs)} keys.")
    finally:
        close = getattr(outcomes, "close", None)
        if close is not None:
            close()  # stops the fetches still running if landing failed
        writer.save(failures)
    return LiveExtract(_combine(dataset, frames), source, [job.key for job in jobs], failures, folder, workers)


def _land_and_parse(
    job: KeyJob,
    fetched: Fetched,
    *,
    writer: PayloadWriter,
    settings: Settings,
    frames: list[pd.DataFrame],
    failures: list[KeyFailure],
) -> None:
    if fetched.failure is not None:
        failures.append(fetched.failure)
        return
    for label, body in fetched.bodies:
        writer.write(
            job.key + (f"-{label}" if label else ""), body, parser=job.parser, meta=job.meta, suffix=job.suffix
        )
        try:
            frames.append(_parse(job.parser, body, job.meta, settings))
        except SourceError as exc:
            failures.append(KeyFailure(job.key, exc.source, str(exc), exc.status))


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
