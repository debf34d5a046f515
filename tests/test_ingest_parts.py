"""A large extraction is ingested in parts (groups of tickers): each part is extracted, landed and validated
alone, every part's report is combined and recorded once, and the validated parts are loaded from Parquet in one
transaction. It must load exactly what a whole ingest loads, reject the whole load when any part fails a
critical rule, and hold back a warning rule's rows at their positions in the whole load."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from conftest import AS_OF, Home, table_rows
from flows.datasets import registry
from flows.datasets.base import Batch, Dataset, key_groups
from flows.ingest import steps as ingest
from flows.settings import Settings, load_settings
from flows.validation.gx import DatasetValidationError
from flows.warehouse.database import Warehouse

PRICES = registry.get("prices")
VALUES = "ticker, trade_date, open, high, low, close, adj_close, volume, dividend, split_ratio, currency, exchange"


def _settings(home: Path, **extra: str) -> Settings:
    # one year of the embedded universe: ~5,600 rows, in parts of at most 1,000 rows (the smallest allowed)
    return load_settings({"GAPWATCH_HOME": str(home), "GAPWATCH_SAMPLE_YEARS": "1", **extra})


@pytest.fixture
def parted(tmp_path: Path) -> Iterator[tuple[Settings, Warehouse]]:
    settings = _settings(tmp_path / "parted", GAPWATCH_INGEST_CHUNK_ROWS="1000")
    store = Warehouse(settings)
    try:
        yield settings, store
    finally:
        store.close()


def _ingest(settings: Settings, store: Warehouse, steps: ingest.Steps | None = None) -> ingest.LoadResult:
    return ingest.ingest(
        PRICES, settings=settings, warehouse=store, as_of=AS_OF, run_id="parts", steps=steps or ingest.Steps()
    )


def _rows(store: Warehouse, sql: str) -> list[tuple]:
    return store.cursor().execute(sql).fetchall()


def _corrupting(changes: dict[int, tuple[dict[str, object], slice]]) -> ingest.Steps:
    """The real extract, with each part's change (part number -> (column values, rows)) written into its rows."""

    def extract(dataset: Dataset, **kwargs: object) -> Batch:
        batch = ingest.extract(dataset, **kwargs)  # type: ignore[arg-type]
        part = kwargs.get("part")
        if isinstance(part, ingest.Part) and part.number in changes:
            change, rows = changes[part.number]
            frame = batch.frame.reset_index(drop=True)
            for column, value in change.items():
                frame.loc[frame.index[rows], column] = value
            batch.frame = frame
        return batch

    return ingest.Steps(extract=extract)


def test_key_groups_cut_the_estimate_into_parts_of_at_most_the_limit() -> None:
    estimate = {"A": 400, "B": 400, "C": 300, "D": 1500, "E": 10}
    assert key_groups(estimate, rows_per_part=1000) == [("A", "B"), ("C",), ("D",), ("E",)]
    assert key_groups(estimate, rows_per_part=10_000) == [("A", "B", "C", "D", "E")]
    assert key_groups({}, rows_per_part=1000) == []


def test_a_parted_ingest_loads_and_records_what_a_whole_ingest_does(
    tmp_path: Path, parted: tuple[Settings, Warehouse]
) -> None:
    settings, store = parted
    whole_settings = _settings(tmp_path / "whole")
    whole_store = Warehouse(whole_settings)
    try:
        plan = ingest.plan_parts(
            PRICES, settings=settings, warehouse=store, as_of=AS_OF, load_id="plan", start=None
        )  # fmt: skip
        assert len(plan) >= 5 and [part.number for part in plan] == list(range(1, len(plan) + 1))
        assert sorted(ticker for part in plan for ticker in part.keys) == sorted(settings.universe.tickers)
        assert not ingest.plan_parts(
            PRICES, settings=whole_settings, warehouse=whole_store, as_of=AS_OF, load_id="plan", start=None
        )  # fmt: skip

        result, whole = _ingest(settings, store), _ingest(whole_settings, whole_store)
        assert result.status == whole.status == "succeeded"
        assert result.rows_loaded == result.rows_extracted == whole.rows_loaded > 5000
        digest = f"select count(*), sum(hash({VALUES})) from raw.prices"
        assert _rows(store, digest) == _rows(whole_store, digest)
        outcomes = "select rule, severity, success, unexpected_count from audit.validations order by rule"
        assert _rows(store, outcomes) == _rows(whole_store, outcomes)
        assert result.expectations_evaluated == whole.expectations_evaluated and result.validation_success

        # every part is landed beside the others, and together they are the load's rows
        assert result.landing_path.name == f"{result.load_id}.parts"
        landed = sorted(result.landing_path.glob("part-*.parquet"))
        assert len(landed) == len(plan)
        assert sum(len(pd.read_parquet(path)) for path in landed) == result.rows_loaded
        # the validation page's JSON holds the combined result: every rule, counted over all parts
        document = (settings.paths.home / "validation" / f"{result.load_id}.json").read_text()
        assert '"evaluated_expectations": 39' in document and f'"element_count": {result.rows_loaded}' in document

        # a replay re-reads the parts as one batch
        replayed = ingest.replay_extractor(result.load_id)(PRICES, settings=settings, as_of=AS_OF)
        assert len(replayed.frame) == result.rows_loaded

        # the same window again: every part is stored value for value, nothing re-validated or loaded
        again = _ingest(settings, store)
        assert again.unchanged and again.rows_loaded == 0 and again.expectations_evaluated == 0
    finally:
        whole_store.close()


def test_a_part_failing_a_critical_rule_rejects_the_whole_load(parted: tuple[Settings, Warehouse]) -> None:
    settings, store = parted
    steps = _corrupting({3: ({"currency": "EUR"}, slice(0, 1))})  # part 3's first row: a currency not its listing's
    with pytest.raises(ingest.IngestFailed) as caught:
        _ingest(settings, store, steps)
    rejected = caught.value.__cause__
    assert isinstance(rejected, DatasetValidationError)
    message = str(caught.value)
    assert "column=gx_currency_matches_listing" in message and "ticker: 1 row(s)" in message
    assert "currency=EUR" in message and ".parts" in message
    assert "Nothing from this batch was loaded" in message
    # not even the parts that passed were loaded
    assert _rows(store, "select count(*) from raw.prices") == [(0,)]
    # the rejected row is quarantined at its position in the whole load: after the rows of parts 1 and 2
    landed = sorted(rejected.landing_path.glob("part-*.parquet"))
    before = sum(len(pd.read_parquet(path)) for path in landed[:2])
    quarantined = _rows(store, "select row_number, status, record_json from audit.quarantine")
    assert [(row, status) for row, status, _ in quarantined] == [(before, "rejected")]
    assert '"currency": "EUR"' in quarantined[0][2]
    failed = _rows(
        store, "select unexpected_count from audit.validations where not success and rule like '%currency_matches%'"
    )
    assert failed == [(1,)]


def test_warning_rows_held_before_a_part_fails_a_critical_rule_are_rejected_with_the_load(
    parted: tuple[Settings, Warehouse],
) -> None:
    """Part 2 has a warning row (held back), part 4 a critical one: the load is rejected, so part 2's row is
    rejected too -- never 'quarantined', which `gapwatch quarantine release` could load from a rejected load."""
    settings, store = parted
    steps = _corrupting({2: ({"open": -1.0}, slice(3, 4)), 4: ({"currency": "EUR"}, slice(0, 1))})
    with pytest.raises(ingest.IngestFailed) as caught:
        _ingest(settings, store, steps)
    assert caught.value.result.rows_loaded == 0 and caught.value.result.rows_quarantined == 0
    assert _rows(store, "select status, count(*) from audit.quarantine group by status") == [("rejected", 2)]
    assert _rows(store, "select count(*) from raw.prices") == [(0,)]


def test_a_warning_rule_holds_back_its_rows_and_the_rest_of_every_part_is_loaded(
    parted: tuple[Settings, Warehouse],
) -> None:
    settings, store = parted
    steps = _corrupting({2: ({"open": -1.0}, slice(5, 7))})  # rows 5 and 6 of part 2: a negative open (warning)
    result = _ingest(settings, store, steps)
    assert result.status == "succeeded" and result.rows_quarantined == 2
    assert result.rows_loaded == result.rows_extracted - 2
    landed = sorted(result.landing_path.glob("part-*.parquet"))
    whole = pd.concat([pd.read_parquet(path) for path in landed]).reset_index(drop=True)
    first = len(pd.read_parquet(landed[0]))
    held = _rows(store, "select row_number, status from audit.quarantine order by row_number")
    assert held == [(first + 5, "quarantined"), (first + 6, "quarantined")]
    held_keys = {(row.ticker, row.trade_date) for row in whole.iloc[[first + 5, first + 6]].itertuples()}
    stored = set(_rows(store, "select ticker, trade_date from raw.prices where open < 0"))
    assert not stored and all(whole.loc[[first + 5, first + 6], "open"] == -1.0)
    assert not held_keys & set(_rows(store, "select ticker, trade_date from raw.prices"))
    assert _rows(store, "select count(*) from raw.prices") == [(result.rows_loaded,)]
    assert not (settings.paths.home / "staging" / result.load_id).exists()  # the kept rows' files are gone


def test_a_batch_kept_after_its_part_is_done_holds_no_rows(parted: tuple[Settings, Warehouse]) -> None:
    """Prefect keeps every task's result until the flow run ends, the extracted batches included; the ingest
    empties each one when its part is done, so the run holds one part's rows at a time, not all of them."""
    settings, store = parted
    kept: list[Batch] = []

    def extract(dataset: Dataset, **kwargs: object) -> Batch:
        kept.append(ingest.extract(dataset, **kwargs))  # type: ignore[arg-type]
        return kept[-1]

    gc.collect()
    before = pa.total_allocated_bytes()
    result = _ingest(settings, store, ingest.Steps(extract=extract))
    gc.collect()
    assert len(kept) > 5 and all(batch.frame.empty for batch in kept) and result.rows_loaded > 5000
    # pandas keeps text columns in Arrow: an empty slice of a batch would still hold all of them (~44 bytes a row)
    assert pa.total_allocated_bytes() - before < 10_000


def test_an_extract_that_ignores_its_part_is_refused(parted: tuple[Settings, Warehouse]) -> None:
    settings, store = parted

    def extract(dataset: Dataset, **kwargs: object) -> Batch:
        return ingest.extract(dataset, **{**kwargs, "part": None})  # type: ignore[arg-type]

    with pytest.raises(ingest.IngestFailed, match=r"outside the part .* must honour ExtractRequest.keys"):
        _ingest(settings, store, ingest.Steps(extract=extract))
    assert _rows(store, "select count(*) from raw.prices") == [(0,)]


def test_a_parted_daily_run_builds_the_marts_of_a_whole_one(tmp_path: Path, warehouse: Home) -> None:
    """The real daily flow (Prefect, GX, dbt, publish) with prices in parts of 5,000 rows against the session
    warehouse, built whole: the same raw prices and the same marts."""
    home = Home(tmp_path / "parted-run", GAPWATCH_INGEST_CHUNK_ROWS="5000")
    with home:
        summary = home.run()
    assert summary.success, "\n".join(summary.errors)
    prices = next(load for load in summary.loads if load.dataset == "prices")
    assert len(list(prices.landing_path.glob("part-*.parquet"))) >= 5
    database, session = home.path / "gapwatch.duckdb", warehouse.path / "gapwatch.duckdb"
    assert table_rows(database, "raw.prices") == table_rows(session, "raw.prices")
    marts = [name for (name,) in warehouse.query("select table_name from duckdb_tables() where schema_name = 'marts'")]
    assert len(marts) >= 6
    for mart in marts:
        assert table_rows(database, f"marts.{mart}") == table_rows(session, f"marts.{mart}"), mart


def test_parts_are_the_same_rows_in_whatever_group_they_come() -> None:
    settings = load_settings({"GAPWATCH_SAMPLE_YEARS": "1"})
    request = ingest.ExtractRequest(settings, date(2026, 11, 20))
    whole = PRICES.extract_sample(request).frame
    tickers = settings.universe.tickers
    parts = [PRICES.extract_sample(replace(request, keys=tuple(tickers[i::3]))).frame for i in range(3)]
    key = ["ticker", "trade_date"]
    pd.testing.assert_frame_equal(
        whole.sort_values(key).reset_index(drop=True),
        pd.concat(parts).sort_values(key).reset_index(drop=True),
    )
