"""The registry: every dataset gapwatch ingests, in pipeline order.

Adding a dataset is a module in this folder (see ``flows.datasets.base``), its
GX suite ``expectations/<name>.json``, its dbt staging model, and one line
here. The pipeline, validation, quarantine, freshness, status and the benchmark
iterate this list; none of them names a dataset.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING

from flows.datasets import cpi, fundamentals, fx_rates, policy_events, prices, sec_filings
from flows.datasets.base import Dataset, Freshness

if TYPE_CHECKING:
    import duckdb

    from flows.settings import Settings

DATASETS: tuple[Dataset, ...] = (
    prices.DATASET,
    fx_rates.DATASET,
    fundamentals.DATASET,
    cpi.DATASET,
    policy_events.DATASET,
    sec_filings.DATASET,
)

_BY_NAME = {dataset.name: dataset for dataset in DATASETS}


def names() -> list[str]:
    return [dataset.name for dataset in DATASETS]


def get(name: str) -> Dataset:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"Unknown dataset {name!r}; the datasets are {', '.join(names())}.") from None


def families() -> dict[str, tuple[Dataset, ...]]:
    """Ingest tasks: family -> its datasets, in pipeline order."""
    grouped: dict[str, list[Dataset]] = {}
    for dataset in DATASETS:
        grouped.setdefault(dataset.family, []).append(dataset)
    return {family: tuple(members) for family, members in grouped.items()}


# '<dataset>-<UTC timestamp>-<6 hex>', as flows.warehouse.audit.new_load_id writes them
LOAD_ID = re.compile(r"(?P<dataset>[a-z][a-z0-9_]*)-\d{8}T\d{6}-[0-9a-f]{6}")


def dataset_of_load(load_id: str) -> Dataset:
    """The dataset a load id belongs to. A load id names landing files, so anything but the exact format
    (a path, a glob, quotes) is refused here, before it reaches a file name or a query."""
    match = LOAD_ID.fullmatch(load_id)
    if match is None or match["dataset"] not in _BY_NAME:
        raise ValueError(
            f"{load_id!r} is not a gapwatch load id: expected <dataset>-<YYYYMMDDTHHMMSS>-<6 hex digits> with "
            f"dataset one of {', '.join(names())}, e.g. prices-20261120T233000-1a2b3c "
            "(`gapwatch status` and `gapwatch quarantine list` show the load ids)."
        )
    return _BY_NAME[match["dataset"]]


def freshness(connection: duckdb.DuckDBPyConnection, settings: Settings, *, as_of: date) -> list[Freshness]:
    """Every dataset's freshness rule, checked as of ``as_of`` (a table the warehouse does not hold yet -- a
    dataset newer than the last run -- is empty)."""
    held = _held_tables(connection)
    return [_freshness_of(dataset, connection, held, settings, as_of=as_of) for dataset in DATASETS]


def _held_tables(connection: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        name
        for (name,) in connection.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
        ).fetchall()
    }


def _freshness_of(
    dataset: Dataset, connection: duckdb.DuckDBPyConnection, held: set[str], settings: Settings, *, as_of: date
) -> Freshness:
    if dataset.table.name in held and "raw.securities" in held:
        return dataset.freshness.check(
            connection, name=dataset.name, table=dataset.table, settings=settings, as_of=as_of
        )
    return Freshness(dataset.name, None, None)


def price_rows(connection: duckdb.DuckDBPyConnection) -> int:
    """How many rows the warehouse's prices table holds (0 before the first load): the size of a whole build."""
    if prices.DATASET.table.name not in _held_tables(connection):
        return 0
    return connection.execute(f"select count(*) from {prices.DATASET.table.name}").fetchone()[0]


def visible_from() -> dict[str, list[str]]:
    """Per raw table (without schema), the columns whose latest date is when a row can first be used: its own
    date and the column saying when it became public (``Dataset.known_at_column``)."""
    return {
        dataset.table.name.split(".", 1)[1]: list(dict.fromkeys([dataset.table.date_column, dataset.known_at_column]))
        for dataset in DATASETS
    }


def session_due(connection: duckdb.DuckDBPyConnection, settings: Settings, *, as_of: date) -> bool:
    """The warehouse's prices are not fresh as of ``as_of``: a new session is due, so a run will most likely load
    and validate rows and build the marts. Only a timing hint -- what starts early (GX's worker, dbt's parse) --
    never a decision: a run loads, validates and builds by what it finds, as always."""
    verdict = _freshness_of(prices.DATASET, connection, _held_tables(connection), settings, as_of=as_of)
    return verdict.status != "fresh"
