"""Where the per-key fetches of live extraction run: a thread pool, or Prefect tasks on Dask.

``GAPWATCH_TASK_RUNNER`` picks the mapper :func:`flows.ingest.live.extract_live` uses:

- ``threads`` (default): :func:`flows.sources.fetch.map_on_threads`, one pool per source with
  ``GAPWATCH_<SOURCE>_CONCURRENCY`` threads, limits shared by the whole process.
- ``dask``: :class:`DaskMapper`. Every key becomes a ``fetch-key`` Prefect task submitted to a
  ``prefect_dask.DaskTaskRunner``: on the scheduler at ``GAPWATCH_DASK_ADDRESS``, or, when it is
  empty, on a temporary ``distributed.LocalCluster`` (``GAPWATCH_DASK_WORKERS`` workers) started
  on first use and closed when the process exits. The tasks return the raw bodies; landing and
  parsing stay with the caller, in job order.

On Dask the limits of a source hold for the whole cluster, not one process: the in-flight cap is
a ``distributed.Semaphore`` and the start rate a ``distributed.Lock`` that each start holds for
1/rps before sending (both named after the source, its base URL and the limit). A ``Retry-After`` holds that
lock for the wait, so every worker pauses.

Prefect and Dask are imported only when the Dask mapper is used.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from flows.settings import LiveSettings
from flows.sources.fetch import KeyMapper, SourceClients, fetch_key, map_on_threads
from flows.sources.http import SourceLimits
from flows.sources.jobs import Fetched, KeyJob

FETCH_TASK_NAME = "fetch-key"
LOCAL_CLUSTER_THREADS_PER_WORKER = 4  # the fetches wait on the network, not the CPU


def mapper_for(live: LiveSettings) -> KeyMapper:
    """The mapper ``live.task_runner`` names."""
    if live.task_runner == "dask":
        return DaskMapper(address=live.dask_address or None, n_workers=live.dask_workers)
    return map_on_threads


# --- the Dask task runner --------------------------------------------------------------------------

_LOCAL_CLUSTERS: dict[int, Any] = {}
_LOCAL_LOCK = threading.Lock()


def local_cluster_address(n_workers: int) -> str:
    """The scheduler address of this process's temporary LocalCluster (started on first use).

    One cluster per process, shared by the datasets extracting at the same time, so the
    cluster-wide limits of a source (Yahoo for prices and fundamentals) are one set of limits.
    In-process workers (``processes=False``): the work is I/O and needs no process start-up.
    """
    with _LOCAL_LOCK:
        cluster = _LOCAL_CLUSTERS.get(n_workers)
        if cluster is None:
            import distributed

            # the scheduler and workers live in this process: their INFO lines (clients coming and
            # going, per dataset) would drown the run's own output
            logging.getLogger("distributed").setLevel(logging.WARNING)
            cluster = distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=LOCAL_CLUSTER_THREADS_PER_WORKER,
                processes=False,
                dashboard_address=None,
            )
            _LOCAL_CLUSTERS[n_workers] = cluster
        return str(cluster.scheduler_address)


@atexit.register
def close_local_clusters() -> None:
    """Close the temporary LocalCluster(s) of this process (at exit, or by a test)."""
    with _LOCAL_LOCK:
        for cluster in _LOCAL_CLUSTERS.values():
            cluster.close()
        _LOCAL_CLUSTERS.clear()


def dask_task_runner(*, address: str | None, n_workers: int = 2) -> Any:
    """A ``prefect_dask.DaskTaskRunner`` on the scheduler at ``address``, else on the local temporary cluster."""
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=address or local_cluster_address(n_workers))


@cache
def fetch_task() -> Any:
    """The ``fetch-key`` Prefect task (built on first use, so importing this module needs no Prefect).

    No Prefect retries: the HTTP client already retries with backoff and ``Retry-After``, and a
    key that still fails is a KeyFailure, not a failed task. Results stay in memory (the bodies go
    back to the caller, which lands them).
    """
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    return task(fetch_on_worker, name=FETCH_TASK_NAME, cache_policy=NO_CACHE, persist_result=False, retries=0)


@dataclass(frozen=True)
class DaskMapper:
    """Fetch every key as a ``fetch-key`` Prefect task on Dask; yield (index, result) as tasks complete."""

    address: str | None = None
    n_workers: int = 2

    def __call__(self, jobs: Sequence[KeyJob], live: LiveSettings) -> Iterator[tuple[int, Fetched]]:
        import distributed

        if not jobs:
            return
        with dask_task_runner(address=self.address, n_workers=self.n_workers) as runner:
            with _outside_the_calling_task():
                futures = [runner.submit(fetch_task(), parameters={"job": job, "live": live}) for job in jobs]
            index = {future.wrapped_future.key: n for n, future in enumerate(futures)}
            wrapped = [future.wrapped_future for future in futures]
            for done in distributed.as_completed(wrapped, loop=runner.client.loop):
                position = index[done.key]
                yield position, futures[position].result()


@contextmanager
def _outside_the_calling_task() -> Iterator[None]:
    """Submit as children of the flow run, not of the task calling us (the daily flow's ``extract``), and
    without the flow run's parameters.

    A task submitted to Dask carries the serialized Prefect context: a task run's context holds that
    task's parameters, a flow run's context the flow's -- for ``extract`` and the ingest tasks the run
    context with the open DuckDB warehouse, which cannot be pickled and must not leave this process anyway.
    The fetch task needs neither.
    """
    from prefect.context import FlowRunContext, TaskRunContext

    flow_run = FlowRunContext.get()
    task_token = TaskRunContext.__var__.set(None)  # type: ignore[arg-type]
    flow_token = (
        FlowRunContext.__var__.set(flow_run.model_copy(update={"parameters": {}})) if flow_run is not None else None
    )
    try:
        yield
    finally:
        if flow_token is not None:
            FlowRunContext.__var__.reset(flow_token)
        TaskRunContext.__var__.reset(task_token)


# --- on the workers --------------------------------------------------------------------------------

_WORKER_STATE: dict[tuple[str, LiveSettings], SourceClients] = {}
_WORKER_LIMITS: dict[tuple[str, str], SourceLimits] = {}
_WORKER_LOCK = threading.Lock()


def fetch_on_worker(job: KeyJob, live: LiveSettings) -> Fetched:
    """Fetch one key on a Dask worker under its source's cluster-wide limits; record the worker's address."""
    import distributed

    address = distributed.get_worker().address
    with _WORKER_LOCK:
        clients = _WORKER_STATE.get((address, live))
        if clients is None:
            clients = _WORKER_STATE[(address, live)] = SourceClients(live, limits=cluster_limits)
    fetched = fetch_key(job, clients)
    fetched.worker = address
    return fetched


def cluster_limits(source: str, base_url: str, *, requests_per_second: float, max_in_flight: int) -> SourceLimits:
    """Limits of ``source`` that hold across every worker of the cluster this worker belongs to."""
    import distributed

    worker = distributed.get_worker().address
    digest = hashlib.sha1(f"{base_url.rstrip('/')}|{requests_per_second}|{max_in_flight}".encode()).hexdigest()[:12]
    name = f"gapwatch-{source}-{digest}"
    with _WORKER_LOCK:  # one set of distributed objects per worker (each keeps a lease-refresh callback)
        limits = _WORKER_LIMITS.get((worker, name))
        if limits is None:
            limits = SourceLimits(
                ClusterRateLimiter(f"{name}-starts", requests_per_second),
                gate=distributed.Semaphore(max_leases=max_in_flight, name=f"{name}-in-flight"),
                max_in_flight=max_in_flight,
                shared=True,
            )
            _WORKER_LIMITS[(worker, name)] = limits
        return limits


class ClusterRateLimiter:
    """Starts at most ``per_second`` per second across the cluster: a start holds a named
    ``distributed.Lock`` for 1/per_second, so the next start anywhere comes no sooner."""

    def __init__(self, name: str, per_second: float) -> None:
        import distributed

        self.name = name
        self.per_second = per_second
        self._lock = distributed.Lock(name)

    def wait(self) -> None:
        with self._lock:  # also waits out a hold (Retry-After) another worker is serving
            if self.per_second > 0:
                time.sleep(1.0 / self.per_second)

    def hold(self, seconds: float) -> None:
        with self._lock:
            time.sleep(seconds)
