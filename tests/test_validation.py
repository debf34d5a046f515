"""GX validation of bad batches: a clear error naming dataset, rule, load id and example rows; nothing loaded."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from conftest import AS_OF, Home
from flows.datasets import registry
from flows.datasets.base import Batch, Dataset
from flows.ingest import steps as ingest
from flows.settings import ConfigError, load_settings
from flows.validation.gx import DatasetValidationError, validate_frame
from flows.warehouse.database import Warehouse

GOOD_ROW = {
    "ticker": "0700.HK", "trade_date": date(2026, 11, 19), "open": 400.0, "high": 405.0, "low": 398.0,
    "close": 401.0, "adj_close": 401.0, "volume": 1000, "dividend": 0.0, "split_ratio": 1.0,
    "currency": "HKD", "exchange": "XHKG", "source": "sample",
}  # fmt: skip


def _batch(*changes: dict) -> pd.DataFrame:  # type: ignore[type-arg]
    return pd.DataFrame([{**GOOD_ROW, **change} for change in changes])


@pytest.mark.parametrize(
    ("rows", "rule", "shown"),
    [
        (_batch({}, {"high": 390.0}), "expect_column_pair_values_a_to_be_greater_than_b(column_A=high", "high=390.0"),
        (_batch({"close": -1.0}), "expect_column_values_to_be_between(column=close", "close=-1.0"),
        (_batch({}, {}), "expect_compound_columns_to_be_unique", "ticker=0700.HK"),
        (_batch({"trade_date": date(2025, 1, 29)}), "gx_on_exchange_calendar", "trade_date=2025-01-29"),
        (_batch({"trade_date": date(2026, 11, 23)}), "gx_not_after_as_of", "trade_date=2026-11-23"),
        (_batch({"ticker": "'; drop table raw.prices; --"}), "column=ticker", "drop table"),
        (_batch({"currency": "USD"}), "gx_currency_matches_listing", "currency=USD"),
        (_batch({}).drop(columns=["adj_close"]), "expect_column_to_exist(column=adj_close)", "schema drift"),
    ],
    ids=[
        "high<low",
        "non-positive",
        "duplicate-key",
        "hkex-holiday",
        "future",
        "sql-ish-ticker",
        "currency",
        "missing-column",
    ],
)
def test_bad_price_rows_are_named(rows: pd.DataFrame, rule: str, shown: str) -> None:
    settings = load_settings({})
    report = validate_frame(registry.get("prices"), rows, settings=settings, as_of=AS_OF)
    assert not report.success
    described = "\n".join(failure.describe() for failure in report.failures)
    assert rule in described and shown in described


def test_good_rows_pass() -> None:
    report = validate_frame(registry.get("prices"), _batch({}), settings=load_settings({}), as_of=AS_OF)
    # 39 GX expectations in expectations/prices.json plus the unique-column-names schema rule
    assert report.success and report.evaluated == 40


def test_repeated_column_names_reject_the_batch_naming_them() -> None:
    rows = _batch({}).rename(columns={"open": "high"})
    report = validate_frame(registry.get("prices"), rows, settings=load_settings({}), as_of=AS_OF)
    assert not report.success
    [schema] = [failure for failure in report.blocking if "column_names_to_be_unique" in failure.rule]
    assert schema.examples == [{"repeated_column": "high"}] and "repeated: high" in schema.describe()
    # the renamed column is reported as missing too
    assert any("column=open" in failure.rule for failure in report.failures)


def test_an_int_beyond_int64_is_a_type_error_not_a_crash() -> None:
    rows = _batch({"volume": 10**400})
    report = validate_frame(registry.get("prices"), rows, settings=load_settings({}), as_of=AS_OF)
    described = "\n".join(failure.describe() for failure in report.blocking)
    assert not report.success and "gx_types_ok" in described and "(401 chars)" in described


def test_an_int_beyond_int64_in_a_text_column_is_named_not_a_crash() -> None:
    """A draw of the property test: 2**70 as the currency of a row with no ticker made the listing check
    compare an Arrow string column with it (OverflowError)."""
    rows = _batch({"ticker": None, "currency": 2**70}, {}, {"trade_date": date(2026, 11, 18)})
    report = validate_frame(registry.get("prices"), rows, settings=load_settings({}), as_of=AS_OF)
    described = "\n".join(failure.describe() for failure in report.failures)
    assert not report.success and "gx_currency_matches_listing" in described


def test_ingest_of_a_bad_batch_raises_and_loads_nothing(tmp_path: Path, warehouse: Home) -> None:
    shutil.copytree(warehouse.path, tmp_path / "home")
    settings = load_settings({"GAPWATCH_HOME": str(tmp_path / "home")})
    store = Warehouse(settings)
    try:
        count_before = store.cursor().execute("select count(*) from raw.prices").fetchone()[0]
        bad = _batch({}, {"ticker": "NVDA", "currency": "HKD", "exchange": "XNAS"})

        def extract_bad(dataset: Dataset, **_: object) -> Batch:
            return Batch(dataset.name, "sample", bad, None, AS_OF)

        with pytest.raises(ingest.IngestFailed) as caught:
            ingest.ingest(
                registry.get("prices"), settings=settings, warehouse=store, as_of=AS_OF, run_id="test",
                steps=ingest.Steps(extract=extract_bad),
            )  # fmt: skip
        rejected = caught.value.__cause__
        assert isinstance(rejected, DatasetValidationError) and caught.value.result.load_id == rejected.load_id
        message = str(caught.value)
        load_id = rejected.load_id
        assert f"Validation failed for dataset 'prices' (load {load_id}" in message
        assert "gx_currency_matches_listing" in message and "currency=HKD" in message and "ticker=NVDA" in message
        assert "Nothing from this batch was loaded" in message
        assert store.cursor().execute("select count(*) from raw.prices").fetchone()[0] == count_before
        landing = rejected.landing_path
        assert landing is not None and landing.exists() and len(pd.read_parquet(landing)) == 2
        assert store.cursor().execute(
            "select status, validation_success from audit.loads where load_id = ?", [load_id]
        ).fetchall() == [("failed", False)]
        # The rule outcomes are kept: the currency rule failed for this load (the rows' made-up prices
        # also trip the warning-level jump rule against the stored closes).
        failed_rules = (
            store.cursor()
            .execute(
                "select list(rule order by rule) from audit.validations where load_id = ? and not success", [load_id]
            )
            .fetchone()[0]
        )
        assert any("gx_currency_matches_listing" in rule for rule in failed_rules)
        assert all("gx_currency_matches_listing" in r or "gx_no_unexplained_jump" in r for r in failed_rules)
        assert (settings.paths.home / "validation" / f"{load_id}.json").exists()
    finally:
        store.close()


def test_policy_event_rules() -> None:
    settings = load_settings({})
    frame = pd.DataFrame(
        [
            {"event_id": "ok-event", "event_date": date(2025, 1, 2), "category": "diplomacy", "region": "US-CN",
             "title": "t", "source_url": "https://example.org/x", "source": "curated"},
            {"event_id": "../../etc/passwd", "event_date": date(2025, 1, 2), "category": "diplomacy", "region": "Mars",
             "title": "t", "source_url": "javascript:alert(1)", "source": "curated"},
        ]
    )  # fmt: skip
    report = validate_frame(registry.get("policy_events"), frame, settings=settings, as_of=AS_OF)
    described = "\n".join(failure.describe() for failure in report.failures)
    assert "column=region" in described and "Mars" in described
    assert "column=source_url" in described and "column=event_id" in described and "../../etc/passwd" in described


def test_cpi_rules() -> None:
    frame = pd.DataFrame(
        [
            {"series_id": "CUUR0000SA0", "period_date": date(2026, 4, 1), "value": 333.02,
             "release_date": date(2026, 5, 12), "is_release_date_estimated": False, "source": "bls_cpi_package"},
            {"series_id": "CUUR0000SA0", "period_date": date(2026, 5, 15), "value": 0.0,
             "release_date": date(2026, 6, 15), "is_release_date_estimated": True, "source": "bls_cpi_package"},
        ]
    )  # fmt: skip
    report = validate_frame(registry.get("cpi"), frame, settings=load_settings({}), as_of=AS_OF)
    described = "\n".join(failure.describe() for failure in report.failures)
    assert "gx_is_month_start" in described and "column=value" in described


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("securities:\n  - {ticker: A, name: A, group: unicorns, exchange: XNYS, currency: USD}\n", "group 'unicorns'"),
        ("securities:\n  - {ticker: A, name: A, group: benchmark, exchange: XLON, currency: GBP}\n", "exchange 'XLON'"),
        (
            "securities:\n  - {ticker: A, name: A, group: us_ai_leader, exchange: XNYS, currency: USD, benchmark: Q}\n",
            "benchmark 'Q' of A is not in the universe",
        ),
        ("securities:\n  - {ticker: A, group: benchmark, exchange: XNYS, currency: USD}\n", "missing name"),
        ("securities: [", "not valid YAML"),
    ],
)
def test_universe_errors_are_clear(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "universe.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings({"GAPWATCH_UNIVERSE": str(path)})


def test_settings_paths_and_fx_pairs(tmp_path: Path) -> None:
    settings = load_settings({"GAPWATCH_HOME": str(tmp_path)})
    assert settings.paths.database == tmp_path / "gapwatch.duckdb"
    assert settings.paths.published_database == tmp_path / "published" / "gapwatch.duckdb"
    assert settings.universe.fx_currencies == ["CNY", "HKD", "TWD"]
    groups = {s.group for s in settings.universe.securities}
    assert groups == {"china_tech", "us_ai_leader", "benchmark"}
    assert len(settings.universe.in_group("china_tech")) >= 8 and len(settings.universe.in_group("us_ai_leader")) >= 8
    with pytest.raises(ConfigError, match="GAPWATCH_SAMPLE_YEARS must be an integer"):
        load_settings({"GAPWATCH_SAMPLE_YEARS": "five"})


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"", "EmptyDataError"),
        (b'event_id,event_date,category\n"unterminated,2025-01-02,diplomacy\n', "ParserError"),
        (b"\xff\xfe\x00garbage", "UnicodeDecodeError"),
    ],
    ids=["empty", "truncated-quote", "not-text"],
)
def test_a_malformed_payload_is_landed_and_named(tmp_path: Path, warehouse: Home, payload: bytes, problem: str) -> None:
    shutil.copytree(warehouse.path, tmp_path / "home")
    events = tmp_path / "events.csv"
    events.write_bytes(payload)
    settings = load_settings({"GAPWATCH_HOME": str(tmp_path / "home"), "GAPWATCH_POLICY_EVENTS_FILE": str(events)})
    store = Warehouse(settings)
    try:
        before = store.cursor().execute("select count(*) from raw.policy_events").fetchone()
        with pytest.raises(ingest.IngestFailed) as caught:
            ingest.ingest(registry.get("policy_events"), settings=settings, warehouse=store, as_of=AS_OF, run_id="t")
        assert isinstance(caught.value.__cause__, ingest.PayloadError)
        message = str(caught.value)
        load_id = caught.value.result.load_id
        assert "policy_events" in message and load_id in message and problem in message
        assert store.cursor().execute("select count(*) from raw.policy_events").fetchone() == before
        landed = list((settings.paths.landing / "policy_events").rglob(f"{load_id}.csv"))
        assert len(landed) == 1 and landed[0].read_bytes() == payload
    finally:
        store.close()


def test_an_extraction_that_finds_nothing_loads_nothing_and_passes(tmp_path: Path) -> None:
    """A window before the history (CPI as of 2019: the cpi package reader returns no rows and no columns) is
    nothing to load, not schema drift: the batch gets the table's columns, passes its suite, loads 0 rows."""
    settings = load_settings({"GAPWATCH_HOME": str(tmp_path / "home")})
    store = Warehouse(settings)
    try:
        result = ingest.ingest(registry.get("cpi"), settings=settings, warehouse=store, as_of=date(1990, 1, 31),
                               run_id="t")  # fmt: skip
        assert (result.status, result.rows_extracted, result.rows_loaded) == ("succeeded", 0, 0)
        assert result.validation_success and result.expectations_failed == 0 and result.expectations_evaluated > 10
        assert store.cursor().execute("select count(*) from raw.cpi").fetchone() == (0,)
    finally:
        store.close()
