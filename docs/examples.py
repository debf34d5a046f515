"""The example outputs the documentation shows, produced by a real run so that they cannot drift.

    .venv/bin/python docs/examples.py

runs ``gapwatch run --as-of 2026-11-20`` on the embedded sample in a temporary GAPWATCH_HOME, then
``gapwatch status`` and the example queries against the published file, and writes to
``docs/pages/examples/``:

- ``run_summary.txt``: what the run prints after its progress lines;
- ``status.txt``: ``gapwatch status`` after that run;
- ``progress.txt``: the first and the last progress lines of that run (the datasets' stages interleave);
- ``status_failed.txt``: ``gapwatch status`` after a second run whose events calendar has a row with an
  unknown category (rejected by validation, nothing republished);
- ``<query>.sql`` and ``<query>.txt`` for every query in :data:`QUERIES`: the SQL and its result.

The pages include these files (``--8<-- "examples/status.txt"``). What changes from run to run -- run and load
ids, timestamps, durations, the home's absolute path -- is normalized by :func:`normalize`.
``tests/test_docs.py`` renders the run summary, the status and the query results from the test session's
warehouse (a real run as of the same date) with the functions below and fails when they differ from the
committed files: rerun this script.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent / "pages" / "examples"
AS_OF = "2026-11-20"

# name -> SQL against the published file (marts only); every query orders its rows.
QUERIES: dict[str, str] = {
    "basket_query": """\
select series_id, round(cum_return_usd * 100, 1) as cum_return_pct
from marts.relative_performance
where series_type <> 'security'
qualify trade_date = max(trade_date) over ()
order by series_id""",
    "relative_performance": """\
select series_id, round(100 * cum_return_usd, 1) as cum_pct, round(100 * return_12m_usd, 1) as r12m_pct,
       round(100 * return_ytd_usd, 1) as ytd_pct, round(100 * volatility_252d_ann, 1) as vol_pct,
       round(beta_252d, 2) as beta, round(100 * drawdown_usd, 1) as drawdown_pct,
       round(100 * real_cum_return_usd, 1) as real_pct
from marts.relative_performance
where series_type <> 'security' and trade_date = '2026-11-20'
order by series_id""",
    "execution_gap": """\
select ticker, group_name, round(investment_intensity_pct, 1) as invest_pct,
       round(revenue_growth_yoy_pct, 1) as rev_growth_pct, round(operating_margin_change_pp, 1) as margin_chg_pp,
       round(stock_return_12m_vs_us_ai_leader_pp, 1) as vs_us_ai_pp,
       round(execution_gap, 2) as execution_gap, round(reward_gap, 2) as reward_gap
from marts.execution_gap
where fiscal_period_end = '2026-09-30'
order by execution_gap desc, ticker
limit 6""",
    "policy_event_impact": """\
select ticker, event_trade_date, estimation_days, round(beta, 2) as beta,
       round(car_m1_p1_pct, 2) as car_m1_p1_pct, round(car_m1_p1_t_stat, 2) as t_stat
from marts.policy_event_impact
where event_id = '2022-10-07-bis-advanced-computing-rule' and group_name = 'china_tech'
order by car_m1_p1_pct, ticker""",
    "policy_event_group_impact": """\
select event_id, group_name, car_m1_p1_n as n, round(car_m1_p1_mean_pct, 2) as mean_car_pct,
       round(car_m1_p1_sd_pct, 2) as sd_pct, round(car_m1_p1_t_stat, 2) as t_stat
from marts.policy_event_group_impact
where category = 'export_control'
order by event_date, group_name""",
    "inflation": """\
select month_date, release_date, is_release_date_estimated as estimated,
       headline_yoy_pct_1dp as cpi_yoy, headline_mom_pct_1dp as cpi_mom,
       core_yoy_pct_1dp as core_yoy, core_mom_pct_1dp as core_mom, regime,
       headline_yoy_change_vs_previous_print_pp as yoy_chg_pp
from marts.inflation
where month_date >= '2025-08-01'
order by month_date""",
}

_ID = re.compile(r"\b\d{8}T\d{6}-[0-9a-f]{6}\b")  # run ids; load ids are '<dataset>-' + the same
_TIMESTAMP = re.compile(r"\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?")
_DURATION = re.compile(r"\btook (?:\d+ min \d{2} s|\d+\.\d s)")
_STEP_DURATION = re.compile(r"\((?:\d+ min \d{2} s|\d+\.\d s)\)$", re.MULTILINE)  # progress: '... (0.4 s)'
BAD_EVENT = "2026-01-05-bogus-event,2026-01-05,rumour,US,Not a known category,https://example.org/\n"


def normalize(text: str, *, home: Path) -> str:
    """``text`` without what changes between runs: the home's absolute path becomes ``warehouse``, run and load
    ids ``YYYYMMDDTHHMMSS-xxxxxx``, timestamps ``YYYY-MM-DD HH:MM:SS``, durations ``took N.N s``."""
    for path in sorted({str(home), str(home.resolve())}, key=len, reverse=True):
        text = text.replace(path, "warehouse")
    text = _ID.sub("YYYYMMDDTHHMMSS-xxxxxx", text)
    text = _TIMESTAMP.sub("YYYY-MM-DD HH:MM:SS", text)
    text = _DURATION.sub("took N.N s", text)
    text = _STEP_DURATION.sub("(N.N s)", text)
    return text.rstrip("\n") + "\n"


def summary_of(cli_output: str) -> str:
    """The run summary in what ``gapwatch run`` printed: the text after the progress lines."""
    start = cli_output.rfind("\ngapwatch run ")
    if start < 0:
        raise ValueError(f"No run summary in the output of gapwatch run:\n{cli_output[-2000:]}")
    return cli_output[start + 1 :]


def progress_of(cli_output: str, *, head: int = 6, tail: int = 6) -> str:
    """The first and last progress lines of what ``gapwatch run`` printed (plain lines: stdout is a pipe)."""
    lines = cli_output[: cli_output.rfind("\ngapwatch run ")].rstrip("\n").splitlines()
    return "\n".join([*lines[:head], "...", *lines[-tail:]]) if len(lines) > head + tail else "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def format_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A query result as aligned text: text left-aligned, numbers right-aligned, NULL for a missing value."""
    cells = [[_cell(value) for value in row] for row in rows]
    for i in range(len(columns)):  # a column of rounded floats shows its digits: 1.50, not 1.5
        floats = [row[i] for row in rows if isinstance(row[i], float)]
        digits = max((len(repr(value).partition(".")[2]) for value in floats), default=0)
        if floats and "e" not in "".join(map(repr, floats)):
            for row, out in zip(rows, cells, strict=True):
                if isinstance(row[i], float):
                    out[i] = f"{row[i]:.{digits}f}"
    numeric = [
        all(isinstance(row[i], int | float) and not isinstance(row[i], bool) for row in rows if row[i] is not None)
        for i in range(len(columns))
    ]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(list(columns)), *(line(row) for row in cells)]) + "\n"


def query(published: Path, sql: str) -> str:
    import duckdb

    connection = duckdb.connect(str(published), read_only=True)
    try:
        result = connection.execute(sql)
        columns = [column[0] for column in result.description]
        return format_rows(columns, result.fetchall())
    finally:
        connection.close()


def render(*, home: Path, summary: str, status: str) -> dict[str, str]:
    """Every example file's content, from a home after a run as of AS_OF, its summary and its status text."""
    files = {
        "run_summary.txt": normalize(summary, home=home),
        "status.txt": normalize(status, home=home),
    }
    published = home / "published" / "gapwatch.duckdb"
    for name, sql in QUERIES.items():
        files[f"{name}.sql"] = sql + ";\n"
        files[f"{name}.txt"] = query(published, sql)
    return files


def _gapwatch(arguments: list[str], *, env: dict[str, str], expect: int = 0) -> str:
    executable = Path(sys.executable).with_name("gapwatch")
    result = subprocess.run([str(executable), *arguments], env=env, capture_output=True, text=True)
    if result.returncode != expect:
        command = " ".join(["gapwatch", *arguments])
        raise SystemExit(f"{command} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="gapwatch-examples-") as tmp:
        home = Path(tmp) / "warehouse"
        env = {**os.environ, "GAPWATCH_HOME": str(home), "GAPWATCH_SOURCE": "sample"}
        env.pop("PREFECT_API_URL", None)  # a temporary Prefect server, as on a fresh checkout
        output = _gapwatch(["run", "--as-of", AS_OF], env=env)
        status = _gapwatch(["status"], env=env)
        files = render(home=home, summary=summary_of(output), status=status)
        files["progress.txt"] = normalize(progress_of(output), home=home)
        # a second run with a bad events calendar: rejected by validation, the published marts kept
        curated = Path(__file__).resolve().parents[1] / "flows" / "sources" / "curated" / "policy_events.csv"
        bad = Path(tmp) / "policy_events_bad.csv"
        bad.write_text(curated.read_text() + BAD_EVENT)
        _gapwatch(["run", "--as-of", AS_OF, "--quiet"], env={**env, "GAPWATCH_POLICY_EVENTS_FILE": str(bad)}, expect=1)
        files["status_failed.txt"] = normalize(_gapwatch(["status"], env=env), home=home)
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (EXAMPLES / name).write_text(text)
        print(EXAMPLES / name)


if __name__ == "__main__":
    main()
