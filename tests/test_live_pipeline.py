"""`--source live` end to end: real connectors against a loopback server speaking each API's wire format.

Flow -> connectors (Yahoo chart + fundamentals-timeseries, SEC companyfacts, BLS v2,
Federal Register) -> landing -> GX -> DuckDB -> dbt marts -> publish, then replay.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from live_server import DELISTED, PointInTime, serve_recordings
from typer.testing import CliRunner

from conftest import Home
from flows.availability import public_cutoff
from flows.cli import app
from flows.settings import load_settings

pytestmark = pytest.mark.usefixtures("prefect_server")  # these tests run Prefect flows

AS_OF = date(2026, 11, 20)
UNIVERSE = Path(__file__).parent / "fixtures" / "live_universe.yaml"
SECRET_KEY = "bls-registration-key-do-not-leak"
CONTACT = "gapwatch-tests ops@example.org"


def _live_home(path: Path, base_url: str, **extra: str) -> Home:
    return Home(
        path,
        GAPWATCH_SOURCE="live",
        GAPWATCH_UNIVERSE=str(UNIVERSE),
        GAPWATCH_SAMPLE_YEARS="3",
        GAPWATCH_YAHOO_BASE_URL=base_url,
        GAPWATCH_SEC_BASE_URL=base_url,
        GAPWATCH_BLS_BASE_URL=base_url,
        GAPWATCH_FEDREG_BASE_URL=base_url,
        GAPWATCH_SEC_USER_AGENT=CONTACT,
        GAPWATCH_BLS_API_KEY=SECRET_KEY,
        GAPWATCH_HTTP_ATTEMPTS="1",
        GAPWATCH_YAHOO_RPS="0",
        **extra,
    )


def test_live_run_end_to_end_then_replay(tmp_path: Path) -> None:
    settings = load_settings({"GAPWATCH_UNIVERSE": str(UNIVERSE), "GAPWATCH_SAMPLE_YEARS": "3"})
    with serve_recordings(settings, as_of=AS_OF) as (base_url, sources):
        home = _live_home(tmp_path / "home", base_url)
        with home:
            summary = home.run(as_of=AS_OF)
    assert summary.success, "\n".join(summary.errors)
    loads = {load.dataset: load for load in summary.loads}
    assert {d: loads[d].source for d in loads} == {
        "prices": "yahoo", "fx_rates": "yahoo", "fundamentals": "sec_edgar+yahoo",
        "cpi": "bls_api", "policy_events": "curated+federal_register", "sec_filings": "sec_edgar",
    }  # fmt: skip
    # The delisted symbol failed alone; the other seven tickers loaded and the run still succeeded.
    assert loads["prices"].status == "partial"
    assert any(DELISTED in warning and "404" in warning for warning in summary.warnings)
    assert home.query("select count(distinct ticker) from raw.prices") == [(7,)]
    assert home.query(f"select key, http_status from audit.key_failures where key = '{DELISTED}'") == [(DELISTED, 404)]

    # Yahoo bars land on the local trading date; the HK bar stamped 01:30 UTC keeps its HK date.
    assert home.query("select max(trade_date) from raw.prices where ticker = '0700.HK'") == [(AS_OF,)]
    # Prices match what the server rendered (as traded, across NVDA's split).
    expected = sources.prices.set_index(["ticker", "trade_date"])
    for ticker, day, close in home.query(
        "select ticker, trade_date, close from raw.prices where ticker in ('NVDA', 'QQQ')"
    ):
        assert abs(close - expected.loc[(ticker, day), "close"]) < 1e-3
    # SEC facts for the US AI leaders (YTD capex turned back into quarters), Yahoo for the others.
    by_source = dict(home.query("select source, count(distinct ticker) from raw.fundamentals group by source"))
    assert by_source == {"sec_edgar": 2, "yahoo": 2}
    capex = home.query(
        "select capex from raw.fundamentals "
        "where ticker = 'NVDA' and fiscal_period_end = '2026-06-30' and period_months = 3"
    )[0][0]
    fundamentals = sources.fundamentals.set_index(["ticker", "fiscal_period_end"])
    assert abs(capex - fundamentals.loc[("NVDA", date(2026, 6, 30)), "capex"]) < 1
    # Real CPI through the BLS wire format: October 2025 is "-" there and absent here.
    assert home.query("select count(*) from raw.cpi where period_date = '2025-10-01'") == [(0,)]
    assert home.query(
        "select headline_yoy_pct_1dp from marts.inflation where month_date = '2026-04-01'", published=True
    ) == [(3.8,)]
    # Federal Register documents merged with the curated calendar, the page-drift duplicate dropped.
    fedreg = home.query("select event_id from raw.policy_events where source = 'federal_register' order by 1")
    assert fedreg == [("fr-2024-28270",), ("fr-2025-00636",), (PointInTime.FEDREG_LATE,)]
    assert home.query("select count(*) from raw.policy_events where source = 'curated'")[0][0] >= 30
    # The SEC filing index: what the server's submissions documents list, acceptance times converted from
    # EDGAR's New York clock to UTC; every filing from the history's start on (older pages only when needed).
    columns = "cik, accession_number, form, filing_date, accepted_at"
    stored = home.query(f"select {columns} from raw.sec_filings order by all")
    served = [
        (row.cik, row.accession_number, row.form, row.filing_date, row.accepted_at.to_pydatetime())
        for row in sources.filings.itertuples()
    ]
    assert stored and set(stored) <= set(served)
    start = settings.sample.start_date
    assert {row for row in served if row[3] >= start} <= set(stored)
    filers = {ticker for (ticker,) in home.query("select distinct ticker from raw.sec_filings")}
    assert filers == {"NVDA", "MSFT", "BABA"}
    # Marts built from live rows, labelled by their source.
    labels = home.query(
        "select distinct data_source from marts.relative_performance where series_type = 'security'", published=True
    )
    assert labels == [("yahoo",)]

    # Secrets never land: not in landing files, manifests, audit rows or the summary.
    landed = [p for p in (home.path / "landing").rglob("*") if p.is_file()]
    assert landed and all(
        SECRET_KEY.encode() not in p.read_bytes() and b"ops@example.org" not in p.read_bytes() for p in landed
    )
    assert SECRET_KEY not in json.dumps([str(r) for r in home.query("select * from audit.loads")])
    # Every request came with the SEC contact and only to the loopback server.
    assert any(r.startswith("/api/xbrl/companyfacts/CIK0001045810") for r in sources.requests)

    # Replay the prices load from its landing folder: no network (the server is gone), same rows.
    prices_before = home.query("select ticker, trade_date, close, adj_close from raw.prices order by all")
    with home:
        result = CliRunner().invoke(app, ["replay", "--load-id", loads["prices"].load_id])
    assert result.exit_code == 0, result.output
    assert "replay of load" in result.output
    assert home.query("select ticker, trade_date, close, adj_close from raw.prices order by all") == prices_before
    # ... and the filing index from its landed submissions pages.
    with home:
        result = CliRunner().invoke(app, ["replay", "--load-id", loads["sec_filings"].load_id])
    assert result.exit_code == 0, result.output
    assert home.query(f"select {columns} from raw.sec_filings order by all") == stored


def test_too_many_failed_keys_fail_the_run_but_keep_the_good_rows(tmp_path: Path) -> None:
    settings = load_settings({"GAPWATCH_UNIVERSE": str(UNIVERSE), "GAPWATCH_SAMPLE_YEARS": "3"})
    with serve_recordings(settings, as_of=AS_OF) as (base_url, _):
        home = _live_home(tmp_path / "home", base_url, GAPWATCH_MAX_FAILED_KEY_SHARE="0.05")
        with home:
            summary = home.run(as_of=AS_OF)
    assert not summary.success
    message = "\n".join(summary.errors)
    assert "Dataset 'prices'" in message and "1 of 8 keys failed" in message and DELISTED in message
    assert home.query("select count(distinct ticker) from raw.prices") == [(7,)]
    assert not (home.path / "published").exists()


# What a point-in-time backfill may store, per raw table: the rows public by the cut-off, their identity and values.
STORED_AS_OF = {
    "raw.fundamentals": (
        "ticker, fiscal_period_end, period_months, report_date, revenue, capex, available_at",
        "available_at",
    ),
    "raw.cpi": ("series_id, period_date, value, release_date, available_at", "available_at"),
    "raw.policy_events": ("event_id, event_date, available_at", "available_at"),
    "raw.sec_filings": ("cik, accession_number, form, filing_date, accepted_at", "accepted_at"),
}


def test_a_live_backfill_as_of_a_past_date_stores_only_what_was_public_then(tmp_path: Path) -> None:
    """The world (as of AS_OF) holds a restatement, a late reporter, a missing quarter, a Federal Register rule
    and CPI months that became public after D. A backfill as of D succeeds and stores none of them; a later run
    picks them up, and the rows known as of D stay exactly as they were."""
    settings = load_settings({"GAPWATCH_UNIVERSE": str(UNIVERSE), "GAPWATCH_SAMPLE_YEARS": "3"})
    past = PointInTime.AS_OF
    cutoff = public_cutoff(past)  # 2026-07-01 04:00 UTC: the end of 2026-06-30 in New York
    restated_ticker, restated_quarter, restated_on = PointInTime.RESTATED
    late_ticker, late_quarter, _ = PointInTime.LATE
    missing_ticker, missing_quarter = PointInTime.MISSING
    with serve_recordings(settings, as_of=AS_OF) as (base_url, sources):
        # the world does hold what D must not see
        assert restated_on > past and len(sources.restatements) == 1
        assert (sources.fundamentals["report_date"] > past).any()
        home = _live_home(tmp_path / "home", base_url)
        with home:
            summary = home.run(as_of=past, start=settings.sample.start_date)
        assert summary.success, "\n".join(summary.errors)
        assert {load.dataset: load.status for load in summary.loads}["fundamentals"] == "succeeded"

        # nothing stored became public after the cut-off ...
        for table, (_, at_column) in STORED_AS_OF.items():
            later = home.query(f"select count(*) from {table} where {at_column} >= '{cutoff}' or {at_column} is null")
            assert later == [(0,)], table
            assert home.query(f"select count(*) from {table}")[0][0] > 0, table
        # ... the restatement is not known yet: one version of the quarter, the original revenue
        restated = home.query(
            f"select report_date, revenue from raw.fundamentals where ticker = '{restated_ticker}' "
            f"and fiscal_period_end = '{restated_quarter}' and period_months = 3"
        )
        assert len(restated) == 1 and restated[0][0] < past
        original = sources.fundamentals.set_index(["ticker", "fiscal_period_end"]).loc[
            (restated_ticker, restated_quarter), "revenue"
        ]
        assert abs(restated[0][1] - original) < 1
        # the late reporter's quarter is not filed yet; the missing quarter is simply absent
        late = f"select count(*) from raw.fundamentals where ticker = '{late_ticker}' and fiscal_period_end = "
        assert home.query(late + f"'{late_quarter}'") == [(0,)]
        assert home.query(late + f"'{missing_quarter}'") == [(0,)]
        assert home.query("select count(*) from raw.sec_filings where form = '10-Q/A'") == [(0,)]
        assert home.query(f"select count(*) from raw.policy_events where event_id = '{PointInTime.FEDREG_LATE}'") == [
            (0,)
        ]
        # CPI: the months BLS released after D are not stored (the server sends them all)
        assert home.query("select max(period_date) from raw.cpi") == [(date(2026, 5, 1),)]
        # SEC fundamentals are dated by their filings' EDGAR acceptance times
        accepted = home.query(
            "select count(*) from raw.fundamentals as statements join raw.sec_filings as filings "
            "on statements.ticker = filings.ticker and statements.report_date = filings.filing_date "
            "and statements.available_at = filings.accepted_at "
            "where statements.source = 'sec_edgar' and filings.form in ('10-Q', '10-K')"
        )[0][0]
        assert accepted == home.query("select count(*) from raw.fundamentals where source = 'sec_edgar'")[0][0] > 0
        as_of_past = {
            table: home.query(f"select {columns} from {table} order by all")
            for table, (columns, _) in STORED_AS_OF.items()
        }

        with home:
            later_summary = home.run(as_of=AS_OF)
        assert later_summary.success, "\n".join(later_summary.errors)

    # the next run picks them up ...
    versions = home.query(
        f"select report_date, available_at from raw.fundamentals where ticker = '{restated_ticker}' "
        f"and fiscal_period_end = '{restated_quarter}' and period_months = 3 order by report_date"
    )
    assert [day for day, _ in versions][-1] == restated_on
    assert versions[-1][1] == sources.restatements["accepted_at"].iloc[0].to_pydatetime()  # the 10-Q/A's acceptance
    assert home.query(late + f"'{late_quarter}'") == [(1,)]
    assert home.query(late + f"'{missing_quarter}'") == [(0,)]
    assert home.query(f"select count(*) from raw.policy_events where event_id = '{PointInTime.FEDREG_LATE}'") == [(1,)]
    assert home.query("select max(period_date) from raw.cpi")[0][0] > date(2026, 5, 1)
    # ... and the world as of D did not change: the rows public by the cut-off are those stored then
    for table, (columns, at_column) in STORED_AS_OF.items():
        now = home.query(f"select {columns} from {table} where {at_column} < '{cutoff}' order by all")
        assert now == as_of_past[table], table
