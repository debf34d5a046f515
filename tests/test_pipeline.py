"""The daily flow end to end on the embedded default: what lands in the marts."""

from __future__ import annotations

from datetime import date

from flows.datasets import registry
from flows.sources.sample.generator import SPENDERS_WITHOUT_RESULTS
from flows.warehouse import dbt as dbt_runner


def test_every_dataset_loaded_and_validated(warehouse) -> None:
    loads = {load.dataset: load for load in warehouse.summary.loads}
    assert list(loads) == registry.names()  # every registered dataset, in pipeline order
    for load in loads.values():
        assert load.status == "succeeded"
        assert load.rows_loaded > 0
        assert load.expectations_evaluated > 10 and load.expectations_failed == 0
        assert load.landing_path is not None and load.landing_path.exists()
    audit = warehouse.query("select dataset, status, validation_success from audit.loads")
    assert all(status == "succeeded" and ok for _, status, ok in audit)
    assert warehouse.query("select status from audit.runs") == [("succeeded",)]
    # Every rule's outcome is kept in the warehouse, and GX Data Docs render each validation as HTML.
    kept = warehouse.query("select dataset, count(*), bool_and(success) from audit.validations group by 1 order by 1")
    assert [(d, ok) for d, _, ok in kept] == [(d, True) for d in sorted(loads)]
    assert sum(count for _, count, _ in kept) == sum(load.expectations_evaluated for load in loads.values())
    docs = warehouse.path / "data_docs"
    assert (docs / "index.html").exists()
    for load in loads.values():
        assert list(docs.glob(f"validations/{load.dataset}/{load.load_id}/*/{load.load_id}.html")), load.dataset


def test_the_validation_page_opens_offline_and_shows_every_load(warehouse, tmp_path) -> None:
    """GX Data Docs load their styles and scripts from CDNs (offline: an empty list); <home>/validation/index.html
    is ours: no reference to any file, every load's result, failed rules with example values."""
    import json
    import re
    import shutil

    from flows.settings import load_settings
    from flows.validation import page

    page_text = (warehouse.path / "validation" / "index.html").read_text()
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", page_text)  # loads nothing: opens from disk
    assert "cdn" not in page_text.lower()
    for load in warehouse.summary.loads:  # type: ignore[attr-defined]
        assert f'id="{load.load_id}"' in page_text
        assert f"{load.expectations_evaluated}/{load.expectations_evaluated} rules passed" in page_text
    # a failed rule is shown with its count and example values
    home = tmp_path / "home"
    shutil.copytree(warehouse.path / "validation", home / "validation")
    prices = warehouse.summary.loads[0]  # type: ignore[attr-defined]
    result = json.loads((home / "validation" / f"{prices.load_id}.json").read_text())
    rule = next(r for r in result["results"] if r["expectation_config"]["type"] == "expect_column_values_to_be_between")
    rule["result"].update(partial_unexpected_list=[-1.5, "<script>"])
    name = page.rule_name("expect_column_values_to_be_between", rule["expectation_config"]["kwargs"])
    counted = next(o for o in result[page.OUTCOMES_KEY] if o["rule"].startswith(name))
    counted.update(success=False, unexpected_count=2)
    (home / "validation" / f"{prices.load_id}.json").write_text(json.dumps(result))
    written = page.write(load_settings({"GAPWATCH_HOME": str(home)})).read_text()
    section = written.split(f'id="{prices.load_id}"')[1].split("<h2")[0]
    assert "1 of" in section and "rules failed" in section and "<td>2</td>" in section
    assert "-1.5" in section and "&quot;&lt;script&gt;&quot;" in section and "<script>" not in written


def test_sample_rows_are_labelled_everywhere(warehouse) -> None:
    for table in ("raw.prices", "raw.fx_rates", "raw.fundamentals", "raw.sec_filings"):
        assert warehouse.query(f"select distinct source from {table}") == [("sample",)]
    assert warehouse.query("select distinct source from raw.cpi") == [("bls_cpi_package",)]
    assert warehouse.query("select distinct source from raw.policy_events") == [("curated",)]
    for mart in ("relative_performance", "execution_gap", "policy_event_impact", "policy_event_group_impact"):
        labels = warehouse.query(f"select distinct data_source from marts.{mart}", published=True)
        assert labels == [("sample",)], mart


def test_prices_follow_the_exchange_calendars(warehouse) -> None:
    # 2025-01-29 is Lunar New Year (HKEX closed, NYSE open); 2025-07-04 the reverse.
    rows = dict(
        warehouse.query(
            "select trade_date, list(distinct exchange order by exchange) from raw.prices "
            "where trade_date in ('2025-01-29', '2025-07-04') group by trade_date"
        )
    )
    assert rows[date(2025, 1, 29)] == ["XNAS", "XNYS"]
    assert rows[date(2025, 7, 4)] == ["XHKG"]
    assert warehouse.query("select max(trade_date) from raw.prices")[0][0] == date(2026, 11, 20)
    assert warehouse.query("select count(*) from raw.prices where dayofweek(trade_date) in (0, 6)")[0][0] == 0


def test_adjustments_are_exercised(warehouse) -> None:
    split = warehouse.query(
        "select ticker, trade_date, split_ratio from raw.prices where split_ratio <> 1 order by ticker"
    )
    assert ("NVDA", date(2024, 6, 10), 10.0) in split
    # Across the split the traded close drops ~10x but the total return (adj_close) does not.
    jump = warehouse.query(
        """
        select close / lag(close) over w, adj_close / lag(adj_close) over w
        from raw.prices where ticker = 'NVDA' and trade_date between '2024-06-07' and '2024-06-10'
        window w as (order by trade_date) qualify trade_date = '2024-06-10'
        """
    )[0]
    assert jump[0] < 0.15 and 0.8 < jump[1] < 1.2
    assert warehouse.query("select count(*) from raw.prices where dividend > 0")[0][0] > 20


def test_relative_performance_shows_the_china_lag(warehouse) -> None:
    rows = dict(
        warehouse.query(
            """
            select series_id, arg_max(cum_return_usd, trade_date)
            from marts.relative_performance where series_type <> 'security' group by series_id
            """,
            published=True,
        )
    )
    china, us_ai = rows["basket:china_tech"], rows["basket:us_ai_leader"]
    assert china < us_ai
    assert abs(rows["spread:china_tech_minus_us_ai_leader"] - (china - us_ai)) < 1e-9
    # Every security and both baskets reach the as-of date's market (HK and US both traded on AS_OF).
    last = warehouse.query("select max(trade_date) from marts.relative_performance", published=True)[0][0]
    assert last == date(2026, 11, 20)


def test_execution_gap_flags_spenders_without_results(warehouse) -> None:
    latest = warehouse.query(
        """
        select ticker, execution_gap from marts.execution_gap
        where execution_gap is not null
          and calendar_quarter_end = (
              select max(calendar_quarter_end) from marts.execution_gap where execution_gap is not null
          )
        order by execution_gap desc
        """,
        published=True,
    )
    assert len(latest) >= 15
    top = {ticker for ticker, _ in latest[: len(SPENDERS_WITHOUT_RESULTS) + 1]}
    assert SPENDERS_WITHOUT_RESULTS <= top, latest


def test_inflation_matches_the_published_cpi(warehouse) -> None:
    april = warehouse.query(
        "select headline_nsa_index, headline_yoy_pct_1dp, regime from marts.inflation where month_date = '2026-04-01'",
        published=True,
    )
    assert april == [(333.02, 3.8, "above_3pct")]


def test_cpi_gap_stays_a_gap(warehouse) -> None:
    assert warehouse.query("select count(*) from raw.cpi where period_date = '2025-10-01'") == [(0,)]
    october = warehouse.query(
        "select is_published, headline_nsa_index, headline_yoy_pct, headline_mom_pct from marts.inflation "
        "where month_date = '2025-10-01'",
        published=True,
    )
    assert october == [(False, None, None, None)]
    november = warehouse.query(
        "select headline_nsa_index, headline_yoy_pct is not null, headline_mom_pct from marts.inflation "
        "where month_date = '2025-11-01'",
        published=True,
    )
    assert november == [(324.122, True, None)]
    # CPI is used only once released: as of 2026-11-20 the last month is the last one in the package.
    assert warehouse.query("select max(period_date) from raw.cpi")[0][0] == date(2026, 8, 1)


def test_policy_event_impact_covers_events_in_history(warehouse) -> None:
    # From October 2022 an event has a market-model CAR for every security and window exactly when its
    # estimation window (trading days -250 .. -30, without other events' windows) keeps 120+ days.
    rows = warehouse.query(
        """
        select count(distinct event_id), count(*) filter (where estimation_days >= 120), count(beta),
            count(car_m1_p1_pct), count(car_m5_p5_pct), count(*) filter (where estimation_days < 120 and beta is null)
        from marts.policy_event_impact where event_date >= '2022-10-01'
        """,
        published=True,
    )[0]
    assert rows[0] >= 25 and rows[1] == rows[2] == rows[3] == rows[4] and rows[1] > 0.7 * (rows[1] + rows[5])
    assert warehouse.query(
        "select count(*) from marts.policy_event_impact where event_date >= '2022-10-01' "
        "and (estimation_days >= 120) <> (beta is not null)",
        published=True,
    ) == [(0,)]
    # The spring-2022 events are in the mart, but too close to the start of the prices for an estimate.
    early = warehouse.query(
        "select max(estimation_days), count(car_m1_p1_pct) from marts.policy_event_impact "
        "where event_id = '2022-03-16-fomc-first-hike'",
        published=True,
    )[0]
    assert early[0] < 120 and early[1] == 0
    # The Lima meeting (Saturday 2024-11-16) maps to Monday 2024-11-18 in both markets.
    mapped = warehouse.query(
        "select distinct event_trade_date from marts.policy_event_impact where event_id = '2024-11-16-biden-xi-lima'",
        published=True,
    )
    assert mapped == [(date(2024, 11, 18),)]
    # Events before the price history starts are not in the marts.
    for mart in ("policy_event_impact", "policy_event_group_impact"):
        assert warehouse.query(
            f"select count(*) from marts.{mart} where event_id = '2021-04-10-samr-fines-alibaba'",
            published=True,
        ) == [(0,)], mart


def test_published_copy_holds_exactly_the_marts(warehouse) -> None:
    tables = warehouse.query(
        "select table_schema, table_name from information_schema.tables order by all", published=True
    )
    assert tables == [
        ("gapwatch_publish", "stamp"),
        ("marts", "execution_gap"),
        ("marts", "inflation"),
        ("marts", "policy_event_group_impact"),
        ("marts", "policy_event_impact"),
        ("marts", "relative_performance"),
        ("marts", "signal_evaluation"),
    ]
    for _, name in tables[1:]:
        working = warehouse.query(f"select count(*) from marts.{name}")[0][0]
        published = warehouse.query(f"select count(*) from marts.{name}", published=True)[0][0]
        assert working == published == warehouse.summary.mart_rows[name]


def test_marts_are_also_published_as_parquet_with_a_views_database(warehouse) -> None:
    import duckdb

    published = warehouse.path / "published"
    versions = sorted((published / "parquet").iterdir())
    assert len(versions) == 1
    years = sorted(p.name for p in (versions[0] / "relative_performance").iterdir())
    assert years[0] == "year=2022" and years[-1] == "year=2026"
    connection = duckdb.connect(str(published / "marts_parquet.duckdb"), read_only=True)
    try:
        for name, rows in warehouse.summary.mart_rows.items():
            assert connection.execute(f"select count(*) from marts.{name}").fetchone()[0] == rows, name
        april = connection.execute(
            "select headline_yoy_pct_1dp from marts.inflation where month_date = '2026-04-01'"
        ).fetchone()
        assert april == (3.8,)
    finally:
        connection.close()


def test_published_marts_carry_their_descriptions_as_comments(warehouse) -> None:
    """BI tools (Superset, Metabase, DBeaver) show DuckDB table and column comments: each is the model's
    description from the dbt project (persist_docs), in the warehouse, the published file and the Parquet views."""
    import json

    import duckdb

    nodes = json.loads((warehouse.path / "dbt_target" / "manifest.json").read_text())["nodes"]
    models = {n["name"]: n for n in nodes.values() if n["resource_type"] == "model" and n["schema"] == "marts"}
    assert sorted(models) == sorted(warehouse.summary.mart_rows)
    published = warehouse.path / "published"
    for path, kind in (
        (warehouse.path / "gapwatch.duckdb", "tables"),
        (published / "gapwatch.duckdb", "tables"),
        (published / "marts_parquet.duckdb", "views"),
    ):
        connection = duckdb.connect(str(path), read_only=True)
        try:
            name_column = "table_name" if kind == "tables" else "view_name"
            tables = dict(
                connection.execute(
                    f"select {name_column}, comment from duckdb_{kind}() where schema_name = 'marts'"
                ).fetchall()
            )
            columns = connection.execute(
                "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'"
            ).fetchall()
        finally:
            connection.close()
        assert tables == {name: model["description"] for name, model in models.items()}, path
        for table, column, comment in columns:
            if column == "year" and kind == "views":  # the Parquet partition column, not a model column
                continue
            described = models[table]["columns"][column]["description"]
            assert described and comment == described, (path, table, column)


def test_every_suggested_query_command_runs_in_the_installed_environment(warehouse) -> None:
    """The run summary's `query:` line and every DuckDB CLI command in README.md and docs/pages run as printed
    (the DuckDB CLI is a dependency, .venv/bin/duckdb), against the session's published file."""
    import re
    import shlex
    import subprocess
    from pathlib import Path

    from flows.ops.summary import render_summary

    repo = Path(__file__).resolve().parents[1]
    (line,) = [line for line in render_summary(warehouse.summary).splitlines() if line.startswith("query: ")]
    commands = [line.removeprefix("query: ")]
    documented = re.compile(r"`(\.venv/bin/duckdb -readonly [^`]+)`")
    for page in [repo / "README.md", *sorted((repo / "docs" / "pages").glob("*.md"))]:
        commands += [
            match.replace("warehouse/", f"{warehouse.path}/", 1) + ' "select count(*) from marts.inflation"'
            for match in documented.findall(page.read_text())
        ]
    assert len(commands) >= 4  # the summary's, README's, getting started's, Serving BI's
    for command in commands:
        done = subprocess.run(shlex.split(command), cwd=repo, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and not done.stderr, (command, done.stderr)
        assert done.stdout.strip(), command


def test_a_whole_build_runs_one_model_at_a_time_only_on_a_large_warehouse(warehouse) -> None:
    """A build of every model (a first build, a full refresh) of a warehouse of ONE_MODEL_FROM_PRICE_ROWS price
    rows or more runs one model at a time, so each big model has DuckDB's threads and memory limit to itself; a
    small one, like the session warehouse's first build, keeps the profile's threads (flows/warehouse/dbt.py)."""
    rows = warehouse.query("select count(*) from raw.prices")[0][0]
    assert 0 < rows < dbt_runner.ONE_MODEL_FROM_PRICE_ROWS
    command = warehouse.summary.dbt.command
    assert command[1] == "build" and "--full-refresh" not in command
    assert "--threads" not in command  # the first build of the embedded sample

    def threads(**options: object) -> str | None:
        arguments = dbt_runner.build_arguments(**options)  # type: ignore[arg-type]
        return arguments[arguments.index("--threads") + 1] if "--threads" in arguments else None

    large = dbt_runner.ONE_MODEL_FROM_PRICE_ROWS
    assert threads(whole=True, price_rows=large) == str(dbt_runner.WHOLE_BUILD_THREADS) == "1"
    assert threads(full_refresh=True, price_rows=large) == "1"
    assert threads(whole=True, price_rows=large - 1) is None
    assert threads(price_rows=10 * large) is None  # an incremental build of a large warehouse
    assert "--full-refresh" in dbt_runner.build_arguments(full_refresh=True)
    assert dbt_runner.build_arguments()[-2:] == ["--exclude", "test_type:unit"]
    assert "test_type:unit" not in dbt_runner.build_arguments(unit_tests=True)


def test_each_family_is_ingested_by_one_task_holding_its_step_tasks(warehouse) -> None:
    """No ingest subflows: each family is an ``ingest-<family>`` task run of the daily flow run (a subflow cost
    eight API writes, which a SQLite-backed Prefect server answers concurrently with 2 s retries)."""
    import asyncio
    import time
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterParentFlowRunId

    flow_run_id = UUID(warehouse.summary.flow_run_id)

    async def read() -> tuple[list, list]:
        async with get_client() as client:
            children = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id]))
            )
            tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return children, tasks

    families = {f"ingest-{family}" for family in registry.families()}
    deadline = time.monotonic() + 30  # task runs reach the API through events, a moment after they ran
    while True:
        children, tasks = asyncio.run(read())
        names = [task.name.rsplit("-", 1)[0] for task in tasks]  # Prefect appends "-<3 hex>" to a run's name
        if families <= set(names) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert children == []
    assert sorted(name for name in names if name.startswith("ingest-")) == sorted(families)
    assert {"extract", "land", "validate", "load", "dbt-build", "publish", "report"} <= set(names)
    assert all(task.state.is_completed() for task in tasks if task.name.startswith("ingest-"))
