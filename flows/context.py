"""One run of the pipeline as one object, passed explicitly to every task of ``flows.daily``."""

from __future__ import annotations

import threading
import uuid
from datetime import date

from flows.ingest.steps import Steps
from flows.ops.summary import RunSummary
from flows.settings import Settings
from flows.warehouse.audit import LoadResult
from flows.warehouse.database import Warehouse, utcnow
from flows.warehouse.dbt import PreparedBuild
from flows.warehouse.lock import RunLock


def new_run_id() -> str:
    return f"{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


class RunContext:
    """The settings, identity, dates, summary, lock, steps and (while it is open) warehouse of one run.

    Deliberately not a dataclass: Prefect records flow parameters through FastAPI's
    ``jsonable_encoder``, which would deep-copy a dataclass -- the open DuckDB connection
    included. An object with ``__slots__`` cannot be encoded and is recorded as
    ``<RunContext>``; it is still passed to the tasks as it is.
    """

    __slots__ = (
        "settings", "run_id", "as_of", "start", "summary", "lock", "steps", "warehouse", "loads", "dbt", "_dbt_lock"
    )  # fmt: skip

    def __init__(
        self,
        settings: Settings,
        *,
        as_of: date,
        run_id: str | None = None,
        start: date | None = None,
        replay_of: str | None = None,
        wait_seconds: float = 0.0,
        steps: Steps | None = None,
    ) -> None:
        self.settings = settings
        self.run_id = run_id or new_run_id()
        self.as_of = as_of
        self.start = start  # a backfill: every dataset re-extracts [start, as_of]
        self.summary = RunSummary(
            run_id=self.run_id,
            as_of=as_of,
            source="replay" if replay_of else settings.source,
            home=settings.paths.home,
            replay_of=replay_of,
        )
        self.lock = RunLock(settings.paths.lock_file, wait_seconds=wait_seconds)
        self.steps = steps or Steps()
        self.warehouse: Warehouse | None = None  # open between taking the lock and the end of the run
        # every load the ingest tasks finished, as they finish (not through Prefect's state data, which a
        # state read back from the API does not carry)
        self.loads: list[LoadResult] = []
        # dbt started ahead (flows.warehouse.dbt.PreparedBuild) when a new session is due or a load brought rows
        self.dbt: PreparedBuild | None = None
        self._dbt_lock = threading.Lock()

    def open_warehouse(self) -> Warehouse:
        """(Re)open the warehouse file; dbt needs it closed while it builds (see ``close_warehouse``)."""
        self.close_warehouse()
        self.warehouse = Warehouse(self.settings)
        return self.warehouse

    def close_warehouse(self) -> None:
        if self.warehouse is not None:
            self.warehouse.close()
            self.warehouse = None

    def prepare_dbt(self) -> None:
        """Start dbt ahead (it imports and parses while the other datasets still load); once per run."""
        with self._dbt_lock:
            if self.dbt is None:
                self.dbt = PreparedBuild(self.settings)

    def take_dbt(self) -> PreparedBuild | None:
        """The prepared dbt, handed over to the build (None if none was started)."""
        with self._dbt_lock:
            prepared, self.dbt = self.dbt, None
            return prepared

    def cancel_dbt(self) -> None:
        """End a prepared dbt the run did not use (nothing to build, a failed load, a crash)."""
        prepared = self.take_dbt()
        if prepared is not None:
            prepared.cancel()

    def require_warehouse(self) -> Warehouse:
        if self.warehouse is None:
            raise RuntimeError(f"Run {self.run_id}: the warehouse is not open (the run has not taken its lock).")
        return self.warehouse
