"""Row-level quarantine: warning rules hold rows back and load the rest; critical rules reject the
batch but keep its failing rows; an operator can release rows after a fix."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from conftest import AS_OF, Home
from flows.cli import app
from flows.datasets import registry
from flows.datasets.base import Batch, Dataset
from flows.ingest import steps as ingest
from flows.settings import DEFAULT_UNIVERSE, load_settings
from flows.validation.gx import DatasetValidationError, validate_frame
from flows.warehouse.database import Warehouse

ROW = {
    "ticker": "NVDA", "trade_date": date(2026, 11, 19), "open": 180.0, "high": 182.0, "low": 179.0,
    "close": 181.0, "adj_close": 181.0, "volume": 1000, "dividend": 0.0, "split_ratio": 1.0,
    "currency": "USD", "exchange": "XNAS", "source": "sample",
}  # fmt: skip


def _rows(*changes: dict) -> pd.DataFrame:  # type: ignore[type-arg]
    return pd.DataFrame([{**ROW, **change} for change in changes])


def test_a_one_day_jump_without_a_split_is_suspect() -> None:
    settings = load_settings({})
    jump = _rows({"trade_date": date(2026, 11, 18), "close": 100.0}, {"close": 200.0, "high": 201.0})
    report = validate_frame(registry.get("prices"), jump, settings=settings, as_of=AS_OF)
    failures = {failure.rule.split("(")[0]: failure for failure in report.failures}
    assert list(failures) == ["expect_column_values_to_be_in_set"]
    assert "gx_no_unexplained_jump" in report.failures[0].rule and report.failures[0].rows == [1]
    assert report.blocking == []  # a warning rule: the row is held back, not the batch
    split = _rows({"trade_date": date(2026, 11, 18), "close": 200.0}, {"close": 100.0, "split_ratio": 2.0})
    assert validate_frame(registry.get("prices"), split, settings=settings, as_of=AS_OF).success
    # The first row of the batch is compared with the last stored close.
    stored = validate_frame(registry.get("prices"), _rows({"close": 30.0, "low": 29.0}), settings=settings, as_of=AS_OF,
                            history={"NVDA": 181.0})  # fmt: skip
    assert not stored.success and stored.failures[0].rows == [0]


def _copy(warehouse: Home, target: Path) -> Path:
    shutil.copytree(warehouse.path, target, ignore=shutil.ignore_patterns("gapwatch.lock"))
    return target


def test_warning_rules_quarantine_rows_and_load_the_rest(tmp_path: Path, warehouse: Home) -> None:
    settings = load_settings({"GAPWATCH_HOME": str(_copy(warehouse, tmp_path / "home"))})
    store = Warehouse(settings)
    try:
        last = dict(
            store.cursor().execute("select ticker, arg_max(close, trade_date) from raw.prices group by 1").fetchall()
        )
        near = {
            ticker: {
                "ticker": ticker,
                "close": price,
                "adj_close": price,
                "open": price,
                "high": price * 1.01,
                "low": price * 0.99,
            }  # fmt: skip
            for ticker, price in last.items()
        }
        batch = _rows(near["NVDA"], {**near["MSFT"], "high": 1.0, "low": 2.0}, {**near["AMD"], "close": -5.0})

        def extract(dataset: Dataset, **_: object) -> Batch:
            return Batch(dataset.name, "sample", batch, None, AS_OF)

        result = ingest.ingest(
            registry.get("prices"),
            settings=settings,
            warehouse=store,
            as_of=AS_OF,
            run_id="t",
            steps=ingest.Steps(extract=extract),
        )
        assert result.status == "succeeded" and result.rows_quarantined == 2
        held = (
            store.cursor()
            .execute(
                "select row_number, status, rules, record_json->>'ticker' from audit.quarantine "
                "where load_id = ? order by row_number",
                [result.load_id],
            )
            .fetchall()
        )
        assert [(number, status, ticker) for number, status, _, ticker in held] == [
            (1, "quarantined", "MSFT"),
            (2, "quarantined", "AMD"),
        ]
        assert any("column_A=high" in rule for rule in held[0][2])
        assert any("column=close" in rule for rule in held[1][2])
        loaded = (
            store.cursor()
            .execute("select ticker, close from raw.prices where load_id = ? order by ticker", [result.load_id])
            .fetchall()
        )
        assert loaded == [("NVDA", last["NVDA"])]
    finally:
        store.close()


def test_rejected_rows_are_released_after_the_universe_is_fixed(tmp_path: Path, warehouse: Home) -> None:
    home_path = _copy(warehouse, tmp_path / "home")
    settings = load_settings({"GAPWATCH_HOME": str(home_path)})
    store = Warehouse(settings)
    newco = {"ticker": "NEWCO", "close": 50.0, "open": 50.0, "high": 51.0, "low": 49.0, "adj_close": 50.0}
    try:
        close = (
            store.cursor()
            .execute("select arg_max(close, trade_date) from raw.prices where ticker = 'NVDA'")
            .fetchone()[0]
        )
        nvda = {"close": close, "adj_close": close, "open": close, "high": close * 1.01, "low": close * 0.99}

        def extract(dataset: Dataset, **_: object) -> Batch:
            return Batch(dataset.name, "sample", _rows(nvda, newco), None, AS_OF)

        with pytest.raises(ingest.IngestFailed) as caught:
            ingest.ingest(
                registry.get("prices"), settings=settings, warehouse=store, as_of=AS_OF, run_id="t",
                steps=ingest.Steps(extract=extract),
            )  # fmt: skip
        rejected = caught.value.__cause__
        assert isinstance(rejected, DatasetValidationError) and str(caught.value) == str(rejected)
        load_id = rejected.load_id
        assert caught.value.result.load_id == load_id and caught.value.result.status == "failed"
        assert "NEWCO" in str(rejected) and f"quarantine show --load-id {load_id}" in str(rejected)
        assert store.cursor().execute("select count(*) from raw.prices where ticker = 'NEWCO'").fetchone() == (0,)
    finally:
        store.close()

    # Inspect, then fix the universe and release.
    fixed = yaml.safe_load(DEFAULT_UNIVERSE.read_text())
    fixed["securities"].append(
        {
            "ticker": "NEWCO",
            "name": "Newly listed (test)",
            "group": "us_ai_leader",
            "exchange": "XNAS",
            "currency": "USD",
        }
    )
    universe = tmp_path / "universe.yaml"
    universe.write_text(yaml.safe_dump(fixed))
    runner = CliRunner()
    with Home(home_path, GAPWATCH_UNIVERSE=str(universe)) as home:
        listed = runner.invoke(app, ["quarantine", "list"])
        assert listed.exit_code == 0 and load_id in listed.output and "rejected" in listed.output
        shown = runner.invoke(app, ["quarantine", "show", "--load-id", load_id])
        assert '"ticker": "NEWCO"' in shown.output and "expect_column_values_to_be_in_set(column=ticker" in shown.output
        released = runner.invoke(app, ["quarantine", "release", "--load-id", load_id])
        assert released.exit_code == 0, released.output
        assert "released 1 row(s)" in released.output and "marts published" in released.output
        assert home.query("select close from raw.prices where ticker = 'NEWCO'") == [(50.0,)]
        assert home.query("select count(*) from marts.relative_performance where ticker = 'NEWCO'", published=True) == [
            (1,)
        ]
        assert home.query(f"select status from audit.quarantine where load_id = '{load_id}'") == [("released",)]


def test_freshness_flags_a_missing_session_but_not_a_holiday(tmp_path: Path, warehouse: Home) -> None:
    import duckdb

    settings = load_settings({"GAPWATCH_HOME": str(_copy(warehouse, tmp_path / "home"))})
    connection = duckdb.connect(str(settings.paths.database))
    try:
        # 2025-12-25 closes both markets, 2025-12-26 (Boxing Day) only HKEX: neither is a gap.
        rows = {row.dataset: row for row in registry.freshness(connection, settings, as_of=date(2025, 12, 31))}
        assert rows["prices"].missing == [] and rows["prices"].status == "fresh"
        assert rows["prices"].expected == date(2025, 12, 31)
        assert rows["cpi"].expected == date(2025, 11, 1)  # November 2025 CPI counts as released on 2025-12-15
        connection.execute("delete from raw.prices where ticker = 'NVDA' and trade_date = '2025-12-29'")
        rows = {row.dataset: row for row in registry.freshness(connection, settings, as_of=date(2025, 12, 31))}
        assert rows["prices"].missing == ["NVDA 2025-12-29"] and rows["prices"].status == "stale"
    finally:
        connection.close()


def test_show_tells_an_unknown_load_from_a_load_with_nothing_held(warehouse) -> None:
    """A well-formed load id that is not in audit.loads is an error naming the warehouse; a real load whose rows
    all passed is not."""

    unknown = "prices-20261120T233000-1a2b3c"
    known = warehouse.summary.loads[0].load_id
    with warehouse:
        missing = CliRunner().invoke(app, ["quarantine", "show", "--load-id", unknown])
        empty = CliRunner().invoke(app, ["quarantine", "show", "--load-id", known])
    assert missing.exit_code == 1
    assert f"No load {unknown} in this warehouse" in missing.output and "gapwatch quarantine list" in missing.output
    assert empty.exit_code == 0 and f"Load {known} has no quarantined rows" in empty.output
