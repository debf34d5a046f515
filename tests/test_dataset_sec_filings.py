"""The sixth dataset, the SEC filing index, through the real pipeline: what the session run loaded, how it
lines up with the fundamentals it dates, and a live run without an SEC contact (no keys, nothing loaded).

The source itself (client, parser, recorded payloads, sample generator) is tested in
test_source_sec_submissions.py; the live wire format end to end in test_live_pipeline.py.
"""

from __future__ import annotations

from pathlib import Path

from conftest import AS_OF, Home
from flows.datasets import registry
from flows.datasets.base import ExtractRequest
from flows.ingest import steps as ingest
from flows.settings import load_settings
from flows.warehouse.database import Warehouse


def test_the_session_run_loaded_the_filing_index_as_sample_data(warehouse: Home) -> None:
    [load] = [load for load in warehouse.summary.loads if load.dataset == "sec_filings"]  # type: ignore[attr-defined]
    assert (load.status, load.source, load.expectations_failed) == ("succeeded", "sample", 0)
    assert load.rows_loaded == warehouse.query("select count(*) from raw.sec_filings")[0][0] > 0
    assert warehouse.query("select distinct source from raw.sec_filings") == [("sample",)]
    assert warehouse.query("select count(*) from staging.stg_raw__sec_filings")[0][0] == load.rows_loaded
    # only companies with a CIK file with the SEC: the Hong Kong listings and the benchmarks do not
    filers = {ticker for (ticker,) in warehouse.query("select ticker from raw.securities where cik is not null")}
    assert {ticker for (ticker,) in warehouse.query("select distinct ticker from raw.sec_filings")} == filers - {
        ticker for (ticker,) in warehouse.query("select ticker from raw.securities where group_name = 'benchmark'")
    }


def test_every_sample_report_of_a_filer_has_exactly_one_periodic_filing_that_day(warehouse: Home) -> None:
    unmatched = warehouse.query(
        """
        select fundamentals.ticker, fundamentals.report_date, count(filings.accession_number)
        from (select distinct ticker, report_date from raw.fundamentals) as fundamentals
        join raw.securities as securities on securities.ticker = fundamentals.ticker and securities.cik is not null
        left join raw.sec_filings as filings
            on filings.ticker = fundamentals.ticker
            and filings.filing_date = fundamentals.report_date
            and filings.form in ('10-Q', '10-K', '6-K', '20-F')
        group by all
        having count(filings.accession_number) <> 1
        """
    )
    assert unmatched == []


def test_acceptance_times_are_stored_in_utc_after_the_close_or_before_the_open_in_new_york(warehouse: Home) -> None:
    hours = warehouse.query(
        "select distinct hour(timezone('America/New_York', timezone('UTC', accepted_at))) from raw.sec_filings"
    )
    assert hours and all(hour in {6, 7, 8, 16, 17} for (hour,) in hours)
    # and the UTC hours are not those New York hours: the conversion happened
    assert {hour for (hour,) in warehouse.query("select distinct hour(accepted_at) from raw.sec_filings")} - {
        6,
        7,
        8,
        16,
        17,
    }


def test_live_without_an_sec_contact_has_no_keys_and_loads_nothing(tmp_path: Path) -> None:
    settings = load_settings({"GAPWATCH_HOME": str(tmp_path / "home"), "GAPWATCH_SOURCE": "live"})
    dataset = registry.get("sec_filings")
    assert dataset.plan_live(ExtractRequest(settings, AS_OF)).jobs == []
    store = Warehouse(settings)
    try:
        result = ingest.ingest(dataset, settings=settings, warehouse=store, as_of=AS_OF, run_id="t")
    finally:
        store.close()
    assert (result.status, result.keys, result.rows_extracted, result.rows_loaded) == ("succeeded", 0, 0, 0)
    assert result.validation_success
