"""What a dataset is: the types every ``flows/datasets/<name>.py`` module fills in.

A :class:`Dataset` declares, in one place, everything the pipeline needs to
know about one raw dataset:

- its **table** (``raw.<name>``: columns with DuckDB types, natural key, the
  date column that bounds a batch) -- the warehouse creates it from this;
- its **family** (the ingest task it runs in: prices and FX travel together);
- its **cursor** (the key column of its high-water marks, and which ``source``
  values count in each mode);
- its **sample extract** (the embedded default) and its **live plan** (which
  registered fetcher and parser serve each key, see ``flows.sources.registry``),
  plus an optional **combine** step over the parsed keys and a **prepare** step
  applied to every extraction, replays included;
- its **derived checks** (boolean ``gx_*`` columns its GX suite
  ``expectations/<name>.json`` asserts), with an optional look-up of stored
  history they need;
- its **freshness rule**.

The registry (``flows.datasets.registry``) lists the datasets; nothing outside
``flows/datasets/`` branches on a dataset's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from flows import availability
from flows.availability import LocalTime

if TYPE_CHECKING:
    import duckdb

    from flows.settings import Settings
    from flows.sources.jobs import KeyFailure, KeyJob

LOAD_COLUMNS = ("load_id", "loaded_at")  # describe a load, not the data: added to every raw table
NUMERIC_TYPES = frozenset({"double", "bigint", "integer"})


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a DuckDB type: varchar, date, timestamp, double, bigint, integer, boolean
    nullable: bool = True
    comment: str = ""
    default: str | None = None  # a SQL literal
    backfill: str | None = None  # SQL over the row's columns: fills the column when it is added to an old table

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


@dataclass(frozen=True)
class Table:
    """A raw table: its data columns in order (``load_id`` and ``loaded_at`` are added by the warehouse)."""

    name: str  # schema-qualified, e.g. raw.prices
    columns: tuple[Column, ...]
    keys: tuple[str, ...]  # the natural key: one stored row per key
    date_column: str  # the date that bounds a batch (high-water marks, "rows dated within the batch")
    comment: str = ""

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def numeric_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.is_numeric]

    @property
    def date_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.type == "date"]

    @property
    def timestamp_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.type == "timestamp"]

    def create_sql(self) -> str:
        """``create table if not exists`` with the data columns, then ``load_id`` and ``loaded_at``."""
        definitions = ",\n    ".join(
            f"{column.name} {column.type}"
            + ("" if column.nullable else " not null")
            + (f" default {column.default}" if column.default is not None else "")
            for column in (*self.columns, *LOAD_COLUMN_DEFINITIONS)
        )
        return f"create table if not exists {self.name} (\n    {definitions}\n)"

    def add_column_sql(self, column: Column) -> list[str]:
        """Adds ``column`` to a table an older version created without it (no ``not null``: old rows lack it),
        then fills the old rows where the column declares how (``backfill``)."""
        default = f" default {column.default}" if column.default is not None else ""
        statements = [f"alter table {self.name} add column if not exists {column.name} {column.type}{default}"]
        if column.backfill is not None:
            statements.append(f"update {self.name} set {column.name} = {column.backfill} where {column.name} is null")
        return statements


def available_at_column(rule: LocalTime, comment: str) -> Column:
    """A dataset's ``available_at`` (UTC): given by the source or derived by ``rule`` -- also for the rows of a
    warehouse created before the column existed (see :mod:`flows.availability`)."""
    return Column(
        availability.COLUMN, "timestamp", comment=f"when it became public, UTC: {comment}", backfill=rule.sql()
    )


LOAD_COLUMN_DEFINITIONS = (
    Column("load_id", "varchar", nullable=False, comment="the load that last wrote the row"),
    Column("loaded_at", "timestamp", nullable=False, comment="when that load wrote it (UTC)"),
)


@dataclass(frozen=True)
class Cursor:
    """Where a dataset's high-water marks come from: the key column, and the ``source`` values that count."""

    key: str
    sample: tuple[str, ...] = ("sample",)  # empty: the sample extract reads from a fixed start, no cursor
    live: tuple[str, ...] = ()

    def sources(self, mode: str) -> tuple[str, ...]:
        return self.live if mode == "live" else self.sample


@dataclass(frozen=True)
class ExtractRequest:
    """What one extraction is asked for."""

    settings: Settings
    as_of: date
    start: date | None = None  # a backfill: extract [start, as_of], whatever is stored
    cursors: Mapping[str, date] = field(default_factory=dict)  # high-water mark per key (empty on a backfill)
    load_id: str = ""
    keys: tuple[str, ...] | None = None  # one part of a chunked extraction: only these keys (None: every key)

    def selected(self, keys: Iterable[str]) -> list[str]:
        """``keys`` restricted to this request's part (all of them when the extraction is not chunked)."""
        if self.keys is None:
            return list(keys)
        wanted = set(self.keys)
        return [key for key in keys if key in wanted]

    def window_starts(self, keys: Iterable[str], *, default: date, lookback_days: int | None = None) -> dict[str, date]:
        """Where each key's extraction starts: its high-water mark minus the look-back, else ``default``.

        On a backfill every key starts at ``start``.
        """
        if self.start is not None:
            return dict.fromkeys(keys, self.start)
        lookback = timedelta(days=self.settings.lookback_days if lookback_days is None else lookback_days)
        return {key: max(default, self.cursors[key] - lookback) if key in self.cursors else default for key in keys}

    def first_start(self, *, default: date, lookback_days: int) -> date:
        """One start for the whole dataset: the earliest high-water mark minus the look-back, else ``default``."""
        if self.start is not None:
            return self.start
        cursor = min(self.cursors.values(), default=None)
        return max(default, cursor - timedelta(days=lookback_days)) if cursor else default


def key_groups(estimates: Mapping[str, int], *, rows_per_part: int) -> list[tuple[str, ...]]:
    """``estimates`` (rows an extraction expects per key) cut into consecutive groups of keys of at most
    ``rows_per_part`` rows each (a key larger than that is a group of its own). One group when all fit."""
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    rows = 0
    for key, expected in estimates.items():
        if current and rows + expected > rows_per_part:
            groups.append(tuple(current))
            current, rows = [], 0
        current.append(key)
        rows += expected
    if current:
        groups.append(tuple(current))
    return groups


@dataclass
class Batch:
    """What one extraction produced, before anything is written to the warehouse."""

    dataset: str
    source: str
    frame: pd.DataFrame
    window_start: date | None
    window_end: date
    payload: bytes | None = None  # the raw payload as received, when the source has one
    payload_suffix: str = ".parquet"
    landed: Path | None = None  # set when the extractor already landed its payloads (live sources)
    parse_error: str | None = None  # the raw payload could not be parsed at all (it is still landed)
    keys: list[str] = field(default_factory=list)
    failures: list[KeyFailure] = field(default_factory=list)


@dataclass(frozen=True)
class LivePlan:
    """The requests one live extraction needs, in the order they are landed and parsed."""

    source: str  # the label recorded as the load's source, e.g. 'yahoo' or 'sec_edgar+yahoo'
    jobs: list[KeyJob]


@dataclass(frozen=True)
class CheckContext:
    """What derived checks may use besides the batch."""

    settings: Settings
    as_of: date
    history: Any = None  # what the dataset's history look-up returned (e.g. last stored closes)


DerivedChecks = Callable[[pd.DataFrame, CheckContext], dict[str, Any]]
HistoryLookup = Callable[["duckdb.DuckDBPyConnection", pd.DataFrame], Any]


def no_checks(frame: pd.DataFrame, context: CheckContext) -> dict[str, Any]:
    return {}


@dataclass
class Freshness:
    """What a dataset holds against its freshness rule, checked as of a date.

    The rule is one date: ``stale_from``, the first day on which data ending at ``latest`` is stale (the next
    session, weekday or CPI release after it; the day after a curated calendar's stated coverage). It is
    computed once, by the dataset's rule; ``gapwatch status``, the run summary and ``dbt source freshness``
    (through audit.dataset_freshness) all read it. ``expected`` is what the rule expected by ``as_of``, shown.
    """

    dataset: str
    latest: date | None
    expected: date | None
    missing: list[str] = field(default_factory=list)
    stale_from: date | None = None  # None: never stale by date alone (irregular data)
    as_of: date | None = None
    note: str = ""  # what to do about it (e.g. extend the curated calendar)

    @property
    def status(self) -> str:
        if self.latest is None:
            return "empty"
        if self.missing or (self.stale_from is not None and self.as_of is not None and self.as_of >= self.stale_from):
            return "stale"
        return "fresh"

    def describe(self) -> str:
        text = f"{self.dataset:<15}{self.status:<7} latest {self.latest}  expected {self.expected or '-'}"
        if self.missing:
            shown = ", ".join(self.missing[:6]) + (
                f" and {len(self.missing) - 6} more" if len(self.missing) > 6 else ""
            )
            text += f"  missing: {shown}"
        if self.note:
            text += f"  ({self.note})"
        return text


class FreshnessRule(Protocol):
    """A dataset's freshness rule: what it holds, what it should hold by the as-of date (flows.datasets.freshness)."""

    def check(
        self, connection: duckdb.DuckDBPyConnection, *, name: str, table: Table, settings: Settings, as_of: date
    ) -> Freshness: ...


@dataclass(frozen=True)
class Dataset:
    name: str
    family: str  # the ingest task (ingest-<family>) it runs in
    description: str
    table: Table
    extract_sample: Callable[[ExtractRequest], Batch]
    plan_live: Callable[[ExtractRequest], LivePlan]
    freshness: FreshnessRule
    cursor: Cursor | None = None
    derive_checks: DerivedChecks = no_checks
    history: HistoryLookup | None = None  # stored rows the derived checks compare the batch with
    combine: Callable[[pd.DataFrame], pd.DataFrame] | None = None  # after the parsed keys are concatenated
    prepare: Callable[[pd.DataFrame, Settings, date], pd.DataFrame] | None = None  # every extraction, replays too
    payload_parser: str | None = None  # parser of a single landed payload file (e.g. the curated CSV)
    availability: LocalTime | None = None  # derives available_at where the source gave no time
    known_at: str | None = None  # the timestamp column saying when a row became public, if not available_at
    # Rows a sample extraction will bring per key (``cursor.key`` values): a dataset that declares it is
    # extracted, landed and validated in parts of GAPWATCH_INGEST_CHUNK_ROWS rows (groups of keys), and its
    # sample extract honours ``ExtractRequest.keys``.
    estimate_rows: Callable[[ExtractRequest], dict[str, int]] | None = None

    @property
    def known_at_column(self) -> str:
        """The column that says when a stored row became knowable: ``known_at`` if declared, else
        ``available_at`` when the table has it (a UTC timestamp), else the table's date column (prices, FX:
        a row dated D is known by the end of D)."""
        if self.known_at is not None:
            return self.known_at
        names = self.table.column_names
        return availability.COLUMN if availability.COLUMN in names else self.table.date_column

    @property
    def suite_file(self) -> str:
        return f"{self.name}.json"

    def prepared(self, batch: Batch, *, settings: Settings, as_of: date) -> Batch:
        """``batch`` after the dataset's prepare step (a no-op for most datasets).

        An extraction that found nothing -- no rows and no columns (no keys to fetch, a window before the
        history) -- becomes an empty frame with the table's columns: nothing to load, not schema drift.
        """
        if self.prepare is not None:
            batch.frame = self.prepare(batch.frame, settings, as_of)
        if self.availability is not None and not batch.frame.columns.empty:
            batch.frame = self.availability.fill(batch.frame)
        if batch.frame.empty and batch.frame.columns.empty:
            batch.frame = pd.DataFrame(columns=self.table.column_names)
        return batch
