"""Scale-out of live extraction: keys fetched in parallel under per-source limits, on threads or on Dask.

A loopback server answering in Yahoo's (and the other APIs') wire format records, per request,
when it arrived and how many requests were in flight. The tests assert on those records -- the
in-flight maximum, the spacing of arrivals, which worker fetched -- and on the results being the
same as a one-at-a-time run, never on wall time.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from live_server import DELISTED, RecordedSources, _handler, serve_recordings

from conftest import Home
from flows.datasets import registry
from flows.datasets.base import ExtractRequest
from flows.ingest import live
from flows.ingest.runners import DaskMapper, mapper_for
from flows.settings import ConfigError, Settings, load_settings
from flows.sources import fetch

AS_OF = date(2026, 11, 20)
UNIVERSE = Path(__file__).parent / "fixtures" / "live_universe.yaml"
CONTACT = "gapwatch-tests ops@example.org"
TOLERANCE = 0.025  # seconds: thread scheduling (GIL) slack between a permit to start and the arrival


def api(path: str) -> str:
    """Which API a request path belongs to (Yahoo serves charts and fundamentals)."""
    return "yahoo" if path.startswith(("/v8/", "/ws/")) else path.split("/")[1]


@dataclass
class Arrival:
    path: str
    at: float  # time.monotonic() when the request arrived
    in_flight: int  # requests to the same API being served at that moment, this one included
    status: int = 200


@dataclass
class Recorder:
    """What the server saw: every arrival, in order; optional delay and 429s."""

    delay: float = 0.0  # seconds each request takes to answer
    throttle_first: str = ""  # a path prefix whose first request gets 429 with Retry-After
    retry_after: int = 1
    arrivals: list[Arrival] = field(default_factory=list)
    throttled_at: float | None = None  # when the 429 was sent
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, path: str) -> Arrival:
        with self._lock:
            self._in_flight[api(path)] = self._in_flight.get(api(path), 0) + 1
            arrival = Arrival(path, time.monotonic(), self._in_flight[api(path)])
            self.arrivals.append(arrival)
            return arrival

    def leave(self, path: str) -> None:
        with self._lock:
            self._in_flight[api(path)] -= 1

    def throttles(self, path: str) -> bool:
        """True once: for the first request to the ``throttle_first`` path."""
        with self._lock:
            if self.throttle_first and path.startswith(self.throttle_first):
                self.throttle_first = ""
                return True
            return False

    def chart_arrivals(self) -> list[Arrival]:
        return [a for a in self.arrivals if a.path.startswith("/v8/finance/chart/")]

    @property
    def max_in_flight(self) -> int:
        return max(a.in_flight for a in self.arrivals)


@contextmanager
def recording_server(settings: Settings, recorder: Recorder) -> Iterator[str]:
    """The loopback server of tests/live_server.py, with every request timed and counted."""
    base = _handler(RecordedSources(settings, as_of=AS_OF))
    rendered: dict[str, bytes] = {}  # GET answers by path: rendered once, so a request costs the server little

    class Handler(base):  # type: ignore[misc, valid-type]
        def _timed(self, answer: Any) -> None:
            arrival = recorder.enter(self.path)
            wire, self.wfile = self.wfile, io.BytesIO()  # the answer is sent only once it left the count
            try:
                time.sleep(recorder.delay)
                if recorder.throttles(self.path):
                    arrival.status = 429
                    self.send_response(429)
                    self.send_header("Retry-After", str(recorder.retry_after))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    recorder.throttled_at = time.monotonic()
                elif self.command == "GET" and self.path in rendered:
                    self.wfile.write(rendered[self.path])
                else:
                    answer(self)
                    if self.command == "GET":
                        rendered[self.path] = self.wfile.getvalue()
            finally:
                recorder.leave(self.path)
                response, self.wfile = self.wfile.getvalue(), wire
                self.wfile.write(response)

        def do_GET(self) -> None:  # noqa: N802
            self._timed(base.do_GET)

        def do_POST(self) -> None:  # noqa: N802
            self._timed(base.do_POST)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


SCALE = {"GAPWATCH_UNIVERSE": str(UNIVERSE), "GAPWATCH_SAMPLE_YEARS": "1", "GAPWATCH_SAMPLE_TICKERS": "8"}


def live_env(base_url: str) -> dict[str, str]:
    return {
        "GAPWATCH_SOURCE": "live",
        "GAPWATCH_UNIVERSE": str(UNIVERSE),
        "GAPWATCH_SAMPLE_YEARS": "3",
        "GAPWATCH_YAHOO_BASE_URL": base_url,
        "GAPWATCH_SEC_BASE_URL": base_url,
        "GAPWATCH_BLS_BASE_URL": base_url,
        "GAPWATCH_FEDREG_BASE_URL": base_url,
        "GAPWATCH_SEC_USER_AGENT": CONTACT,
        "GAPWATCH_HTTP_ATTEMPTS": "1",
        "GAPWATCH_YAHOO_RPS": "0",
    }


def live_settings(base_url: str, **extra: str) -> Settings:
    return load_settings({**live_env(base_url), **SCALE, **extra})


def extract(settings: Settings, folder: Path, dataset: str = "prices", **kwargs: Any) -> live.LiveExtract:
    request = ExtractRequest(settings, AS_OF)
    return live.extract_live(registry.get(dataset), request, folder=folder, **kwargs)


def landed(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def assert_same_result(result: live.LiveExtract, expected: live.LiveExtract) -> None:
    assert result.frame.equals(expected.frame)
    assert result.keys == expected.keys
    assert [(f.key, f.source, f.http_status) for f in result.failures] == [
        (f.key, f.source, f.http_status) for f in expected.failures
    ]
    assert result.folder is not None and expected.folder is not None
    assert landed(result.folder) == landed(expected.folder)  # same files, same manifest, byte for byte


def assert_spaced(arrivals: list[Arrival], *, per_second: float) -> None:
    starts = sorted(a.at for a in arrivals)
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 1.0 / per_second - TOLERANCE, f"two requests {min(gaps):.3f} s apart"


@pytest.fixture(scope="module")
def scale_settings() -> Settings:
    return load_settings(SCALE)


# --- threads -------------------------------------------------------------------------------------------


def test_keys_run_in_parallel_under_the_concurrency_limit_with_the_sequential_result(
    tmp_path: Path, scale_settings: Settings
) -> None:
    recorder = Recorder(delay=0.05)
    with recording_server(scale_settings, recorder) as url:
        sequential = extract(live_settings(url, GAPWATCH_YAHOO_CONCURRENCY="1"), tmp_path / "one")
        assert recorder.max_in_flight == 1
        recorder.arrivals.clear()
        parallel = extract(live_settings(url, GAPWATCH_YAHOO_CONCURRENCY="3"), tmp_path / "three")

    assert len(parallel.keys) == 16 and len(recorder.chart_arrivals()) == 16
    assert recorder.max_in_flight == 3  # never more than the limit, and the limit was used
    assert len({worker for worker in parallel.workers}) == 3
    # responses came back in whatever order; the landing, the manifest, the rows and the failures did not
    assert_same_result(parallel, sequential)
    assert [f.key for f in parallel.failures] == [DELISTED]
    manifest = json.loads((tmp_path / "three" / live.MANIFEST).read_text())
    assert [entry["key"] for entry in manifest["payloads"]] == [k for k in parallel.keys if k != DELISTED]
    assert manifest["payloads"][0]["file"] == "0000-NVDA.json"


def test_the_rate_limit_holds_across_threads(tmp_path: Path, scale_settings: Settings) -> None:
    recorder = Recorder(delay=0.25)
    with recording_server(scale_settings, recorder) as url:
        settings = live_settings(url, GAPWATCH_YAHOO_CONCURRENCY="4", GAPWATCH_YAHOO_RPS="10")
        result = extract(settings, tmp_path / "prices")
    arrivals = recorder.chart_arrivals()
    assert len(arrivals) == 16
    assert_spaced(arrivals, per_second=10)  # four threads, still one start every 100 ms
    assert recorder.max_in_flight > 1  # ... while several requests were being answered at once
    assert len(result.frame) and [f.key for f in result.failures] == [DELISTED]


def test_two_datasets_of_one_source_share_its_limits(tmp_path: Path, scale_settings: Settings) -> None:
    """prices and fundamentals run in concurrent tasks; Yahoo's cap and rate are for both together."""
    recorder = Recorder(delay=0.25)  # answers take longer than the spacing: the cap, not the rate, binds
    with recording_server(scale_settings, recorder) as url:
        settings = live_settings(url, GAPWATCH_YAHOO_CONCURRENCY="2", GAPWATCH_YAHOO_RPS="10")
        results: dict[str, live.LiveExtract] = {}
        threads = [
            threading.Thread(target=lambda d=d: results.update({d: extract(settings, tmp_path / d, d)}))
            for d in ("prices", "fundamentals")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    yahoo = [a for a in recorder.arrivals if api(a.path) == "yahoo"]
    assert {a.path[:4] for a in yahoo} == {"/v8/", "/ws/"}  # both datasets were fetching ...
    assert max(a.in_flight for a in yahoo) == 2  # ... under one cap (SEC requests are not Yahoo's)
    assert_spaced(yahoo, per_second=10)
    assert len(results["prices"].frame) and len(results["fundamentals"].frame)


def test_a_retry_after_holds_back_every_thread_of_the_source(tmp_path: Path, scale_settings: Settings) -> None:
    recorder = Recorder(delay=0.02, throttle_first="/v8/finance/chart/MSFT", retry_after=1)
    with recording_server(scale_settings, recorder) as url:
        settings = live_settings(url, GAPWATCH_YAHOO_CONCURRENCY="4", GAPWATCH_HTTP_ATTEMPTS="2")
        result = extract(settings, tmp_path / "prices")
    assert recorder.throttled_at is not None
    # requests already on their way may land just after the 429; none starts during the next second
    during = [a for a in recorder.arrivals if recorder.throttled_at + 0.05 < a.at < recorder.throttled_at + 1 - 0.05]
    assert during == []
    assert len([a for a in recorder.arrivals if "/MSFT" in a.path]) == 2  # retried once, then served
    assert "MSFT" in set(result.frame["ticker"]) and [f.key for f in result.failures] == [DELISTED]


def test_concurrency_and_runner_settings() -> None:
    settings = load_settings({})
    live_defaults = settings.live
    assert [live_defaults.concurrency(s) for s in ("yahoo", "sec_edgar", "bls", "fred", "federal_register")] == [
        4,
        4,
        1,
        2,
        2,
    ]
    assert live_defaults.task_runner == "threads" and mapper_for(live_defaults) is fetch.map_on_threads
    dask = load_settings({"GAPWATCH_TASK_RUNNER": "dask", "GAPWATCH_DASK_ADDRESS": "tcp://10.0.0.5:8786"}).live
    assert mapper_for(dask) == DaskMapper(address="tcp://10.0.0.5:8786", n_workers=2)
    with pytest.raises(ConfigError, match="GAPWATCH_TASK_RUNNER"):
        load_settings({"GAPWATCH_TASK_RUNNER": "ray"})
    with pytest.raises(ConfigError, match="GAPWATCH_SEC_CONCURRENCY"):
        load_settings({"GAPWATCH_SEC_CONCURRENCY": "0"})


# --- Dask ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[Any]:
    """A real local Dask cluster: a scheduler and two workers with one thread each."""
    import distributed

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster


@pytest.mark.usefixtures("prefect_server")
def test_fetch_tasks_run_on_dask_workers_under_cluster_wide_limits(
    tmp_path: Path, scale_settings: Settings, dask_cluster: Any
) -> None:
    recorder = Recorder(delay=0.02)
    with recording_server(scale_settings, recorder) as url:
        threads = extract(live_settings(url), tmp_path / "threads")
        recorder.arrivals.clear()
        settings = live_settings(
            url,
            GAPWATCH_TASK_RUNNER="dask",
            GAPWATCH_DASK_ADDRESS=dask_cluster.scheduler_address,
            GAPWATCH_YAHOO_CONCURRENCY="1",
            GAPWATCH_YAHOO_RPS="10",
        )
        on_dask = extract(settings, tmp_path / "dask")

    workers = set(dask_cluster.scheduler.workers)
    assert set(on_dask.workers) == workers  # every key was fetched by a `fetch-key` task on one of the two workers
    # two worker threads, but Yahoo's cap of 1 and its rate hold for the cluster as a whole
    assert recorder.max_in_flight == 1
    assert_spaced(recorder.chart_arrivals(), per_second=10)
    assert_same_result(on_dask, threads)


@pytest.mark.usefixtures("prefect_server")
def test_without_an_address_the_fetches_run_on_a_temporary_local_cluster(
    tmp_path: Path, scale_settings: Settings
) -> None:
    from flows.ingest import runners

    recorder = Recorder()
    try:
        with recording_server(scale_settings, recorder) as url:
            result = extract(live_settings(url, GAPWATCH_TASK_RUNNER="dask"), tmp_path / "events", "policy_events")
        cluster = runners._LOCAL_CLUSTERS[2]  # started on first use: GAPWATCH_DASK_WORKERS=2 by default
        assert len(cluster.scheduler.workers) == 2
        assert set(result.workers) <= set(cluster.scheduler.workers)
        assert result.keys == ["curated", "federal_register:industry-and-security-bureau"] and len(result.frame)
    finally:
        runners.close_local_clusters()
    assert runners._LOCAL_CLUSTERS == {}


def thread_runner_rows(home: Path, base_url: str, tables: dict[str, str]) -> dict[str, list[tuple]]:
    """The baseline: every dataset through the same steps (extract, land, validate, load) on the thread runner,
    without Prefect or dbt."""
    from flows.ingest import steps as ingest
    from flows.warehouse.database import Warehouse

    settings = load_settings({**live_env(base_url), "GAPWATCH_HOME": str(home)})
    warehouse = Warehouse(settings)
    try:
        for dataset in tables:
            ingest.ingest(registry.get(dataset), settings=settings, warehouse=warehouse, as_of=AS_OF, run_id="threads")
    finally:
        warehouse.close()
    return {table: Home(home).query(f"{ROWS.format(table=table)} order by {key}") for table, key in tables.items()}


ROWS = "select * exclude (load_id, loaded_at) from raw.{table}"


@pytest.mark.usefixtures("prefect_server")
def test_the_daily_flow_on_dask_loads_what_the_thread_runner_loads(tmp_path: Path, dask_cluster: Any) -> None:
    import distributed

    settings = load_settings({"GAPWATCH_UNIVERSE": str(UNIVERSE), "GAPWATCH_SAMPLE_YEARS": "3"})
    tables = {
        "prices": "ticker, trade_date",
        "fx_rates": "currency, rate_date",
        "fundamentals": "ticker, fiscal_period_end, report_date, source",
        "cpi": "series_id, period_date",
        "policy_events": "event_id",
        "sec_filings": "cik, accession_number",
    }
    with serve_recordings(settings, as_of=AS_OF) as (base_url, _), distributed.Client(dask_cluster) as client:
        expected = thread_runner_rows(tmp_path / "threads", base_url, tables)
        home = Home(
            tmp_path / "dask",
            **live_env(base_url),
            GAPWATCH_TASK_RUNNER="dask",
            GAPWATCH_DASK_ADDRESS=dask_cluster.scheduler_address,
        )
        with distributed.get_task_stream(client) as stream, home:
            summary = home.run(as_of=AS_OF)
    assert summary.success, "\n".join(summary.errors)
    assert any(DELISTED in warning and "404" in warning for warning in summary.warnings)
    # one fetch-key task per key -- 8 tickers, 2 FX pairs, 5 companies (+ the filing index of the 2 SEC
    # companyfacts filers, for acceptance times), 1 BLS request, curated + Federal Register, 3 SEC filers'
    # submissions -- each run by one of the cluster's two workers
    fetches = [task for task in stream.data if task["key"].startswith("fetch_on_worker")]
    assert len(fetches) == 23
    assert {task["worker"] for task in fetches} <= set(dask_cluster.scheduler.workers)
    loaded = {table: home.query(f"{ROWS.format(table=table)} order by {key}") for table, key in tables.items()}
    assert all(loaded.values())
    assert loaded == expected
    assert home.query("select count(*) from marts.relative_performance", published=True)[0][0] > 0
