"""Fetching the keys of a live plan: jobs as plain data, one client per source, a thread-pool mapper.

A :class:`~flows.sources.jobs.KeyJob` names what to fetch (a registered fetcher
and its arguments) and how to read it (a registered parser); it is plain,
picklable data, so it can be fetched in this process or on a Dask worker
(``flows.ingest.runners``). A
*mapper* fetches a list of jobs and yields ``(job index, Fetched)`` as each
completes, in any order; :func:`map_on_threads` is the default: one thread
pool per source, sized by its ``GAPWATCH_<SOURCE>_CONCURRENCY``. Every client
of a source shares one rate limit and in-flight cap
(:func:`flows.sources.http.shared_limits`).

This module knows HTTP clients and the registry, never the landing zone or DuckDB.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

from flows.settings import LiveSettings
from flows.sources import registry
from flows.sources.http import HttpClient, RetryPolicy, SourceError, SourceLimits, shared_limits
from flows.sources.jobs import Fetched, KeyFailure, KeyJob


def default_client(source: str, live: LiveSettings) -> HttpClient:
    """An HttpClient for ``source`` from its settings: base URL, rate, timeout, retries, secrets redacted."""
    settings = live.source(source)
    return HttpClient(
        source,
        settings.base_url,
        timeout_seconds=live.http_timeout_seconds,
        retry=RetryPolicy(attempts=live.http_attempts),
        requests_per_second=settings.requests_per_second,
        secrets=live.secrets,
    )


LimitsFactory = Callable[..., SourceLimits]  # (source, base_url, *, requests_per_second, max_in_flight)


class SourceClients:
    """One :class:`HttpClient` per source, built on first use by the source's registered factory (thread-safe).

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
                client = registry.client_factory(source)(self.live)
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

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def fetch_key(job: KeyJob, clients: SourceClients) -> Fetched:
    """Fetch one key; a SourceError (after the client's retries) becomes its KeyFailure."""
    worker = threading.current_thread().name
    try:
        client = None if job.source == registry.LOCAL else clients.get(job.source)
        fetched = registry.fetcher(job.fetch)(client, job.args, clients.live)
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
