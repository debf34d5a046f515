"""Nothing is spliced into SQL: every value reaches DuckDB as a bound parameter, or through one quoting helper.

The helpers (flows/warehouse/sql.py in Python, dbt_project/macros/sql_literal.sql in dbt) are fed hostile
strings -- quotes, semicolons, ``--``, backslashes, unicode -- and must round-trip through DuckDB; the places
that write values into SQL text (publish: paths, mart and column names; the dbt macro writing the universe's
group benchmarks) are driven with such values; and the whole pipeline runs in a home whose path holds a quote,
spaces and non-ASCII, on a universe whose benchmark and one company ticker hold a quote.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import jinja2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import AS_OF, Home
from flows.settings import load_settings
from flows.warehouse import dbt as dbt_runner
from flows.warehouse.sql import quote_identifier, quote_literal

REPO = Path(__file__).resolve().parents[1]
MACROS = REPO / "dbt_project" / "macros" / "sql_literal.sql"
UNIVERSE = REPO / "flows" / "config" / "universe.yaml"

# What an adversary writes into a value that reaches SQL, mixed into arbitrary unicode (NUL cannot be held
# by a DuckDB string and is refused by the helpers; surrogates are not text).
HOSTILE = [
    "'", "''", '"', ";", "--", "/*", "*/", "\\", "\\'", "' or '1'='1", "'); drop table raw.prices; --",
    "é", "ß", "漢", "🚀", " ", "\n", "\t", "$1", "?", "%s", "{{", "}}", "=", "*", "[", "]",
]  # fmt: skip
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30)
HOSTILE_TEXT = st.lists(st.one_of(st.sampled_from(HOSTILE), TEXT), max_size=6).map("".join)
# A file-name component: no '/', no NUL, never '.' or '..' (the prefix), short enough for any file system.
# ("?" is refused in GAPWATCH_HOME by the settings: DuckDB reads what follows it in a path as options.)
PATH_PART = st.lists(
    st.one_of(st.sampled_from([h for h in HOSTILE if not {"/", "\n", "?"} & set(h)]), st.text(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\0?"), max_size=8
    )),
    max_size=5,
).map(lambda parts: "h " + "".join(parts)[:40])  # fmt: skip


@pytest.fixture
def memory() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    yield connection
    connection.close()


# --- the Python helpers -----------------------------------------------------------------------------------


@given(value=HOSTILE_TEXT)
@example(value="Q'QQ")
@example(value="x' or '1'='1")
@example(value="it''s \\' -- ; drop table x")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_quote_literal_round_trips_through_duckdb(memory: duckdb.DuckDBPyConnection, value: str) -> None:
    assert memory.execute(f"select {quote_literal(value)}").fetchall() == [(value,)]
    # as a statement's only literal, it can never end the statement or open another
    query = f"select count(*) from (select {quote_literal(value)} as v) where v = ?"
    assert memory.execute(query, [value]).fetchall() == [(1,)]


@given(name=HOSTILE_TEXT.filter(bool))
@example(name='my "table"; drop table x; --')
@example(name="Q'QQ")
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_quote_identifier_creates_and_reads_a_table(memory: duckdb.DuckDBPyConnection, name: str) -> None:
    table = quote_identifier(name)
    memory.execute(f"create or replace table {table} ({quote_identifier(name + '_c')} varchar)")
    memory.execute(f"insert into {table} values (?)", [name])
    assert memory.execute(f"select {quote_identifier(name + '_c')} from {table}").fetchall() == [(name,)]
    assert memory.execute("select table_name from duckdb_tables() where table_name = ?", [name]).fetchall() == [(name,)]
    memory.execute(f"drop table {table}")


def test_the_helpers_refuse_what_sql_cannot_hold() -> None:
    with pytest.raises(ValueError, match="NUL"):
        quote_literal("a\0b")
    for name in ["", "a\0b"]:
        with pytest.raises(ValueError, match="identifier"):
            quote_identifier(name)


# --- publish: paths, mart names and values written into attach / copy / read_parquet / create view ---------


# a mart name is also a folder of the Parquet copy: no '/', no control character (dbt names models [a-z0-9_])
MART_NAME = HOSTILE_TEXT.filter(
    lambda s: (
        s.strip()
        and s not in {".", ".."}
        and len(s) < 40
        and not any(c == "/" or not c.isprintable() and c != " " for c in s)
    )
)


@given(folder=PATH_PART, mart=MART_NAME, value=HOSTILE_TEXT)
@example(folder="h q'uote é dir a=b [x]*", mart="execution'gap", value="Q'QQ")
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_publish_takes_hostile_paths_and_names(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture, folder: str, mart: str, value: str
) -> None:
    """The attach of the staging copy, the COPY to Parquet, the views over read_parquet and the incremental
    publish (which reads the views' own SQL back) all take a home whose path holds anything a file name can
    (quotes, ``=``, glob characters) and a mart whose name holds anything an identifier can."""
    from flows.warehouse.database import Warehouse
    from flows.warehouse.publish import publish

    home = tmp_path_factory.mktemp("publish") / folder
    warehouse = Warehouse(load_settings({"GAPWATCH_HOME": str(home)}))
    manifest = warehouse.settings.paths.dbt_target / "manifest.json"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    config = {"materialized": "incremental", "unique_key": ["n"], "meta": {"publish": {"parquet_partition_by": "d"}}}
    node = {"resource_type": "model", "schema": "marts", "name": mart, "alias": mart, "config": config}
    manifest.write_text(json.dumps({"nodes": {"model.gapwatch.x": node}}))
    table = f"marts.{quote_identifier(mart)}"
    rows = [(value, 1, "2024-03-01", "2026-01-01"), (value + "'", 2, "2025-03-01", "2026-01-01"),
            (value, 3, "2025-06-01", "2026-01-01"), (value, 4, "2024-06-01", "2026-01-01")]  # fmt: skip
    caplog.clear()
    try:
        cursor = warehouse.cursor()
        cursor.execute("create schema if not exists marts")
        cursor.execute(f"create table {table} (ticker varchar, n integer, d date, inputs_loaded_through timestamp)")
        cursor.executemany(f"insert into {table} values (?, ?, ?, ?)", rows)
        publish(warehouse)
        # one row rebuilt since: the second publish refreshes it by key and rewrites only its year's Parquet
        rebuilt = [value + ";", "2026-02-01"]
        cursor.execute(f"update {table} set ticker = ?, inputs_loaded_through = ? where n = 3", rebuilt)
        publish(warehouse)
        expected = cursor.execute(f"select * from {table} order by n").fetchall()
    finally:
        warehouse.close()
    assert not [record.message for record in caplog.records if record.levelname == "WARNING"]
    for database in ["gapwatch.duckdb", "marts_parquet.duckdb"]:
        connection = duckdb.connect(str(home / "published" / database), read_only=True)
        try:
            columns = "*" if database == "gapwatch.duckdb" else "* exclude (year)"  # Parquet adds the partition
            published = connection.execute(f"select {columns} from {table} order by n").fetchall()
        finally:
            connection.close()
        assert published == expected, database


# --- dbt: the sql_literal macro and the group benchmarks written from the universe ---------------------------


def _dbt_macros() -> object:
    environment = jinja2.Environment(extensions=["jinja2.ext.do"])
    return environment.from_string(MACROS.read_text()).module


@given(value=HOSTILE_TEXT)
@example(value="Q'QQ")
@example(value="QQQ' end, (select 1); --")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_dbt_sql_literal_macro_round_trips_through_duckdb(memory: duckdb.DuckDBPyConnection, value: str) -> None:
    literal = str(_dbt_macros().sql_literal(value))  # type: ignore[attr-defined]
    assert memory.execute(f"select {literal}").fetchall() == [(value,)]


def test_no_dbt_model_or_macro_pastes_a_value_between_quotes() -> None:
    """Every value written into SQL by Jinja goes through sql_literal (or is a checked number)."""
    pasted = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for folder in ["models", "macros"]
        for path in sorted((REPO / "dbt_project" / folder).rglob("*.sql"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"'\{\{(?!.*isoformat\(\))", line) and path != MACROS
    ]
    assert pasted == []


def test_group_benchmark_ticker_takes_hostile_groups_and_tickers(
    tmp_path: Path, memory: duckdb.DuckDBPyConnection
) -> None:
    """`dbt compile --inline` of the macro with hostile --vars: the SQL it writes maps each group to its
    ticker, verbatim (today: `when 'us_ai_leader' then 'Q'QQ'`, a syntax error, or SQL of the var's choosing)."""
    benchmarks = {
        "us_ai_leader": "Q'QQ",
        "china_tech": "KWEB' end, (select 42) as injected, case 'x' when 'x' then 'y",
        "g'; drop table raw.prices; --": "T\\'ick -- é",
        '漢字 "group"': "🚀'",
    }
    settings_ = load_settings({"GAPWATCH_HOME": str(tmp_path / "h'ome é")})
    settings_.paths.dbt_target.mkdir(parents=True, exist_ok=True)
    result = dbt_runner.run_dbt(
        settings_, "compile", "--quiet", "--output", "json", "--inline", "{{ group_benchmark_ticker('grp') }}",
        "--vars", dbt_runner.vars_argument({"group_benchmarks": benchmarks}),
    )  # fmt: skip
    assert result.success, result.output_tail
    expression = json.loads(result.output_tail[result.output_tail.index("{") :])["compiled"]
    for group, ticker in [*benchmarks.items(), ("unknown", None)]:
        rows = memory.execute(f"select {expression} from (select ? as grp)", [group]).fetchall()
        assert rows == [(ticker,)], expression


# --- load ids from the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["replay", "--load-id", "prices-…/../../"],
        ["replay", "--load-id", "prices-*"],
        ["replay", "--load-id", "prices-20261120T233000-1a2b3c/../../x"],
        ["quarantine", "show", "--load-id", "x' or '1'='1"],
        ["quarantine", "show", "--load-id", "prices-20261120T233000-1a2b3c' or '1'='1"],
        ["quarantine", "release", "--load-id", "prices-..%2f..%2f"],
    ],
)
def test_a_malformed_load_id_is_refused_in_one_line(tmp_path: Path, args: list[str]) -> None:
    from flows.cli import app

    with Home(tmp_path / "home"):
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output  # a runtime fault (issue 14): one line, exit 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is not a gapwatch load id" in lines[0] and "<YYYYMMDDTHHMMSS>" in lines[0], lines
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "home" / "gapwatch.duckdb").exists()  # refused before anything was opened


def test_a_home_path_duckdb_cannot_open_is_a_configuration_error(tmp_path: Path) -> None:
    from flows.settings import ConfigError

    with pytest.raises(ConfigError, match=r"GAPWATCH_HOME must be a directory path without '\?'"):
        load_settings({"GAPWATCH_HOME": str(tmp_path / "what?")})


def test_every_load_id_the_pipeline_writes_is_well_formed() -> None:
    from flows.datasets import registry
    from flows.warehouse.audit import new_load_id

    for name in registry.names():
        assert registry.dataset_of_load(new_load_id(name)).name == name


# --- the whole pipeline -----------------------------------------------------------------------------------


def _hostile_universe(path: Path) -> Path:
    """The embedded universe with the us_ai_leader benchmark QQQ renamed Q'QQ everywhere, and NVDA NV'DA."""
    text = UNIVERSE.read_text()
    text = re.sub(r"\bQQQ\b", "Q'QQ", text).replace("{ticker: NVDA,", '{ticker: "NV\'DA",')
    assert text.count("Q'QQ") >= 2 and "NV'DA" in text
    path.write_text(text)
    return path


@pytest.mark.usefixtures("prefect_server")
def test_the_pipeline_runs_in_a_hostile_home_on_hostile_tickers(tmp_path: Path) -> None:
    from flows.cli import app
    from flows.warehouse import audit

    universe = _hostile_universe(tmp_path / "universe.yaml")
    home = Home(tmp_path / "gap q'uote ü 漢 dir", GAPWATCH_UNIVERSE=str(universe))
    with home:
        summary = home.run(AS_OF)
        assert summary.success, "\n".join(summary.errors)
        again = home.run(AS_OF)  # the incremental publish reads back the paths it wrote
        assert again.success, "\n".join(again.errors)
        status = CliRunner().invoke(app, ["status", "--json"])
        assert status.exit_code == 0, status.output
        shown = CliRunner().invoke(app, ["quarantine", "show", "--load-id", summary.loads[0].load_id])
        assert shown.exit_code == 0 and "has no quarantined rows" in shown.output  # bound, found nothing
    published = json.loads(status.output)["published"]["marts"]
    assert published["relative_performance"] > 0
    for database in ["gapwatch.duckdb", "marts_parquet.duckdb"]:
        connection = duckdb.connect(str(home.path / "published" / database), read_only=True)
        try:
            benchmarks = connection.execute(
                "select distinct group_name, series_type, benchmark_ticker from marts.relative_performance "
                "where group_name = ? and series_type = 'basket'",
                ["us_ai_leader"],
            ).fetchall()
            company = connection.execute(
                "select count(*), count(excess_cum_return_usd) from marts.relative_performance where ticker = ?",
                ["NV'DA"],
            ).fetchone()
            gaps = connection.execute("select count(*) from marts.execution_gap where ticker = ?", ["NV'DA"]).fetchone()
        finally:
            connection.close()
        assert benchmarks == [("us_ai_leader", "basket", "Q'QQ")], database
        assert company[0] > 0 and company[0] == company[1], database
        assert gaps[0] > 0, database
    assert (home.path / "report" / "index.html").exists()
    connection = duckdb.connect(str(home.path / "gapwatch.duckdb"), read_only=True)
    try:  # a hostile load id reaches the audit queries as a bound value: it finds nothing, breaks nothing
        for load_id in ["x' or '1'='1", "'; drop table audit.loads; --"]:
            assert audit.quarantined_rows(connection, load_id=load_id) == []
            assert not audit.load_exists(connection, load_id)
        assert connection.execute("select count(*) from audit.loads").fetchone()[0] > 0
    finally:
        connection.close()
    shutil.rmtree(home.path, ignore_errors=True)
