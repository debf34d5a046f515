"""The benchmark: the daily pipeline at a grid of sample sizes against the floor of the same work in DuckDB.

``make bench`` (``python tests/benchmark.py``) runs, for every cell (total tickers x years of history) of the
scalable sample, three real ``gapwatch run`` processes on a fresh GAPWATCH_HOME:

  (a) full   a full build from empty, as of FULL_AS_OF
  (b) day    a one-day incremental run on top of it (the next session, INCREMENTAL_AS_OF)
  (c) none   the same day again: nothing new

and measures wall time, CPU time (user + system of the process and everything it waited for) and peak
memory (the largest single process and the sum over the process tree, both sampled every 0.1 s). It then
times **the floor**: the same loads and the same model SQL executed directly in DuckDB, with no Prefect,
no Great Expectations, no dbt - the raw rows each run loaded (exported to Parquet beforehand, not timed)
are inserted into a fresh copy of the warehouse, and the SQL dbt compiled (full build) or ran (the
incremental run's delete+insert statements) is executed in the same order. It prints a table with the
pipeline / floor ratio and where the pipeline's time went (extract, land, validate, load per dataset,
summed; dbt; the rest: process start, Prefect, publish), and writes it as CSV and JSON.

This is a benchmark, not a test: it asserts nothing and prints figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
from prefect_server import running_prefect_server

from flows.datasets import registry
from flows.settings import REPO_ROOT, load_settings
from flows.warehouse import schema
from flows.warehouse.schema import SECURITIES

FULL_AS_OF = date(2026, 11, 19)
INCREMENTAL_AS_OF = date(2026, 11, 20)
DEFAULT_TICKERS = (50, 500)
DEFAULT_YEARS = (1, 5)
LARGE_TICKERS = (50, 500, 5000)
LARGE_YEARS = (1, 5, 20)


@dataclass
class Measurement:
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float  # the largest single process (sampled every 0.1 s)
    peak_tree_rss_mb: float  # all processes of the run together (sampled every 0.1 s)
    exit_code: int
    output_tail: str = ""


@dataclass
class Result:
    tickers: int
    years: int
    run: str  # full | day | none
    price_rows: int
    rows_loaded: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    peak_tree_rss_mb: float
    floor_seconds: float | None
    ratio: float | None
    stages: dict[str, float] = field(default_factory=dict)
    exit_code: int = 0


def _tree_rss_kb(root: int) -> tuple[int, int]:
    """Resident memory of ``root`` and its descendants, from /proc: (their sum, the largest one)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[int(entry.name)] = int(line.split()[1])
    total, largest, stack = 0, 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        largest = max(largest, rss.get(pid, 0))
        stack.extend(children.get(pid, []))
    return total, largest


def measure(command: list[str], *, env: dict[str, str]) -> Measurement:
    """Run ``command`` to completion; wall, CPU and memory of it and everything it started."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_tree = peak_process = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_tree, peak_process
        while not done.is_set():
            total, largest = _tree_rss_kb(process.pid)
            peak_tree, peak_process = max(peak_tree, total), max(peak_process, largest)
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output_chunks: list[str] = []
    reader = threading.Thread(target=lambda: output_chunks.append(process.stdout.read() if process.stdout else ""))
    reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    reader.join()
    output = "".join(output_chunks)
    return Measurement(
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=peak_process / 1024,
        peak_tree_rss_mb=peak_tree / 1024,
        exit_code=process.returncode,
        output_tail="\n".join(output.strip().splitlines()[-15:]),
    )


def _base_tickers() -> int:
    """Securities in the configured universe before the sample scaler adds synthetic ones."""
    return len(load_settings({"GAPWATCH_SAMPLE_TICKERS": "0"}).universe.securities)


def _env(home: Path, *, tickers: int, years: int) -> dict[str, str]:
    env = {
        **os.environ,
        "GAPWATCH_HOME": str(home),
        "GAPWATCH_SAMPLE_TICKERS": str(max(0, tickers - _base_tickers())),
        "GAPWATCH_SAMPLE_YEARS": str(years),
        "GAPWATCH_SOURCE": "sample",
        "DO_NOT_TRACK": "1",
        "GX_ANALYTICS_ENABLED": "False",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return env


def _gapwatch() -> list[str]:
    script = Path(sys.executable).with_name("gapwatch")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from flows.cli import main; main()"]


def _last_run(database: Path) -> tuple[str, dict[str, float], int]:
    """The last run's id, its stage seconds summed over datasets, and the rows it loaded."""
    connection = duckdb.connect(str(database), read_only=True)
    try:
        run_id = connection.execute("select run_id from audit.runs order by started_at desc limit 1").fetchone()[0]
        stages: dict[str, float] = {}
        rows = 0
        for stage_json, loaded in connection.execute(
            "select stage_seconds, rows_loaded from audit.loads where run_id = ?", [run_id]
        ).fetchall():
            rows += loaded or 0
            for stage, seconds in json.loads(stage_json or "{}").items():
                stages[stage] = stages.get(stage, 0.0) + seconds
        return run_id, stages, rows
    finally:
        connection.close()


def _dbt_seconds(home: Path, *, since: float) -> float | None:
    """Elapsed seconds of the dbt invocation that finished after ``since`` (epoch seconds), if any."""
    results = home / "dbt_target" / "run_results.json"
    if not results.exists() or results.stat().st_mtime < since:
        return None
    return float(json.loads(results.read_text()).get("elapsed_time") or 0.0)


def _export_loaded_rows(database: Path, run_id: str, folder: Path) -> dict[str, Path]:
    """Write the raw rows ``run_id`` loaded (each table's rows with that run's load ids) to Parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(database), read_only=True)
    exported = {}
    try:
        loads = "select load_id from audit.loads where run_id = ?"
        tables = [(SECURITIES, "true", []), *((d.table, f"load_id in ({loads})", [run_id]) for d in registry.DATASETS)]
        for table, where, params in tables:
            path = folder / f"{table.name}.parquet"
            connection.execute(f"copy (select * from {table.name} where {where}) to '{path}' (format parquet)", params)
            exported[table.name] = path
    finally:
        connection.close()
    return exported


def _model_nodes(manifest: dict) -> list[dict]:
    """Model nodes in dependency order."""
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    ordered: list[dict] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        if uid in seen or uid not in models:
            return
        seen.add(uid)
        for parent in models[uid]["depends_on"]["nodes"]:
            visit(parent)
        ordered.append(models[uid])

    for uid in sorted(models):
        visit(uid)
    return ordered


def floor_seconds(*, base: Path | None, rows: dict[str, Path], target: Path, workdir: Path, full: bool) -> float:
    """Time the same loads and model SQL directly in DuckDB on a copy of ``base`` (or an empty warehouse)."""
    # named like the warehouse: dbt's SQL names the catalog "gapwatch"
    database = workdir / "floor" / "gapwatch.duckdb"
    database.parent.mkdir(parents=True, exist_ok=True)
    database.unlink(missing_ok=True)
    if base is not None:
        shutil.copy(base, database)
    manifest = json.loads((target / "manifest.json").read_text())
    statements: list[str] = []
    for node in _model_nodes(manifest):
        relation = f'"{node["schema"]}"."{node["alias"] or node["name"]}"'
        materialized = node["config"]["materialized"]
        if full:
            compiled = (target / "compiled" / node["package_name"] / node["original_file_path"]).read_text()
            kind = "view" if materialized == "view" else "table"
            statements.append(f"create schema if not exists {node['schema']}")
            statements.append(f"create or replace {kind} {relation} as {compiled}")
        elif materialized == "incremental":
            # dbt-duckdb stages the new rows in a temp table, then runs the delete+insert in this file
            executed = (target / "run" / node["package_name"] / node["original_file_path"]).read_text()
            staged = re.search(r'"(\w+__dbt_tmp\w*)"', executed)
            compiled = (target / "compiled" / node["package_name"] / node["original_file_path"]).read_text()
            if staged:
                statements.append(f'create or replace temp table "{staged.group(1)}" as {compiled}')
            statements.append(executed)
        elif materialized == "table":
            compiled = (target / "compiled" / node["package_name"] / node["original_file_path"]).read_text()
            statements.append(f"create or replace table {relation} as {compiled}")
    # the same resources as the dbt process (dbt_project/profiles.yml)
    config = {
        "threads": int(os.environ.get("GAPWATCH_DUCKDB_THREADS", "2")),
        "memory_limit": os.environ.get("GAPWATCH_DBT_MEMORY_LIMIT", "4GB"),
        "preserve_insertion_order": False,
    }
    connection = duckdb.connect(str(database), config=config)
    try:
        if base is None:
            schema.ensure(connection)
        started = time.perf_counter()
        keys_of = {table.name: table.keys for table in (SECURITIES, *(d.table for d in registry.DATASETS))}
        for table, path in rows.items():
            keys = " and ".join(f"stored.{key} = incoming.{key}" for key in keys_of[table])
            connection.execute(f"create or replace temp table incoming as select * from read_parquet('{path}')")
            if base is not None:
                connection.execute(f"delete from {table} as stored using incoming where {keys}")
            connection.execute(f"insert into {table} by name select * from incoming")
        for statement in statements:
            connection.execute(statement)
        return time.perf_counter() - started
    finally:
        connection.close()
        database.unlink(missing_ok=True)


def _price_rows(database: Path) -> int:
    connection = duckdb.connect(str(database), read_only=True)
    try:
        return int(connection.execute("select count(*) from raw.prices").fetchone()[0])
    finally:
        connection.close()


def bench_cell(
    tickers: int, years: int, *, root: Path, with_floor: bool, keep_after_full: Path | None = None
) -> list[Result]:
    """The cell's full, one-day and nothing-new runs; with ``keep_after_full``, a copy of its GAPWATCH_HOME as
    the full build left it (for :func:`daily_targets`)."""
    home = root / f"t{tickers}_y{years}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = _env(home, tickers=tickers, years=years)
    database = home / "gapwatch.duckdb"
    results: list[Result] = []
    snapshot = root / f"t{tickers}_y{years}.after_full.duckdb"
    for run, as_of in (("full", FULL_AS_OF), ("day", INCREMENTAL_AS_OF), ("none", INCREMENTAL_AS_OF)):
        since = time.time()
        measurement = measure([*_gapwatch(), "run", "--as-of", as_of.isoformat(), "--quiet"], env=env)
        if measurement.exit_code != 0:
            print(f"  {run}: exit {measurement.exit_code}\n{measurement.output_tail}", file=sys.stderr)
        run_id, stages, rows_loaded = _last_run(database)
        dbt = _dbt_seconds(home, since=since)
        if dbt is not None:
            stages["dbt"] = dbt
        stages["other"] = max(0.0, measurement.wall_seconds - sum(stages.values()))
        floor = None
        if with_floor and measurement.exit_code == 0 and run in ("full", "day"):
            exported = _export_loaded_rows(database, run_id, root / "floor_rows" / run)
            floor = floor_seconds(
                base=None if run == "full" else snapshot,
                rows=exported,
                target=home / "dbt_target",
                workdir=root,
                full=run == "full",
            )
        elif with_floor and measurement.exit_code == 0:
            floor = 0.0
        if run == "full":
            shutil.copy(database, snapshot)
            if keep_after_full is not None:
                shutil.rmtree(keep_after_full, ignore_errors=True)
                shutil.copytree(home, keep_after_full)
        results.append(
            Result(
                tickers=tickers,
                years=years,
                run=run,
                price_rows=_price_rows(database),
                rows_loaded=rows_loaded,
                wall_seconds=round(measurement.wall_seconds, 2),
                cpu_seconds=round(measurement.cpu_seconds, 2),
                peak_rss_mb=round(measurement.peak_rss_mb),
                peak_tree_rss_mb=round(measurement.peak_tree_rss_mb),
                floor_seconds=None if floor is None else round(floor, 2),
                ratio=None if not floor else round(measurement.wall_seconds / floor, 1),
                stages={stage: round(seconds, 2) for stage, seconds in stages.items()},
                exit_code=measurement.exit_code,
            )
        )
        print(_row(results[-1]), flush=True)
    snapshot.unlink(missing_ok=True)
    return results


HEADER = (
    f"{'tickers':>7} {'years':>5} {'run':<5} {'price rows':>11} {'loaded':>9} {'wall s':>7} {'cpu s':>7} "
    f"{'rss MB':>7} {'tree MB':>7} {'floor s':>7} {'ratio':>6}  stages (s)"
)


def _row(result: Result) -> str:
    floor = "-" if result.floor_seconds is None else f"{result.floor_seconds:.2f}"
    ratio = "-" if result.ratio is None else f"{result.ratio:.1f}"
    stages = " ".join(f"{stage} {seconds:.1f}" for stage, seconds in result.stages.items())
    return (
        f"{result.tickers:>7} {result.years:>5} {result.run:<5} {result.price_rows:>11,} {result.rows_loaded:>9,} "
        f"{result.wall_seconds:>7.1f} {result.cpu_seconds:>7.1f} {result.peak_rss_mb:>7.0f} "
        f"{result.peak_tree_rss_mb:>7.0f} {floor:>7} {ratio:>6}  {stages}"
    )


def startup_costs(root: Path) -> dict[str, float]:
    """What a run costs before any work: the process start, and a temporary Prefect server vs a running one.

    Measured on the smallest cell's warehouse with nothing new (the pipeline does almost nothing else).
    """
    home = next(iter(sorted(root.glob("t*_y*"))), None)
    if home is None:
        return {}
    tickers, years = (int(part[1:]) for part in home.name.split("_"))
    env = _env(home, tickers=tickers, years=years)
    costs = {"process start (gapwatch --help)": measure([*_gapwatch(), "--help"], env=env).wall_seconds}
    arguments = [*_gapwatch(), "run", "--as-of", INCREMENTAL_AS_OF.isoformat(), "--quiet"]
    env.pop("PREFECT_API_URL", None)
    costs["nothing new, temporary Prefect server"] = measure(arguments, env=env).wall_seconds
    with running_prefect_server(root) as url:
        measure(arguments, env={**env, "PREFECT_API_URL": url})  # first contact: the server's own warm-up
        costs["nothing new, running Prefect server"] = measure(
            arguments, env={**env, "PREFECT_API_URL": url}
        ).wall_seconds
    return {name: round(seconds, 2) for name, seconds in costs.items()}


# The daily-run targets (issue 16): wall seconds, median of alternating runs, with a running Prefect server
# (`gapwatch serve`, production) and with the temporary one a bare `gapwatch run` starts.
DAILY_TARGETS = {
    ("day", "running"): 12.0,
    ("day", "temporary"): 20.0,
    ("none", "running"): 6.0,
    ("none", "temporary"): 14.0,
}


def daily_targets(after_full: Path, *, tickers: int, years: int, root: Path, repeats: int = 3) -> list[dict]:
    """The one-day run (as of INCREMENTAL_AS_OF) and the nothing-new run after it, ``repeats`` times,
    alternating a running Prefect server and a temporary one, each repetition on a fresh copy of the home
    the full build left (``after_full``). Returns one row per (run, server): runs, median, target, verdict."""
    arguments = [*_gapwatch(), "run", "--as-of", INCREMENTAL_AS_OF.isoformat(), "--quiet"]
    walls: dict[tuple[str, str], list[float]] = {key: [] for key in DAILY_TARGETS}
    failed: set[tuple[str, str]] = set()
    # the cell's own home, where its full build ran: a home does not move between runs, and dbt keeps its parsed
    # project only for the same profile (the database path); a copy elsewhere would re-parse it on every run
    work = root / f"t{tickers}_y{years}"
    with running_prefect_server(root) as url:
        for _ in range(repeats):
            for server in ("running", "temporary"):
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(after_full, work)
                env = _env(work, tickers=tickers, years=years)
                if server == "running":
                    env["PREFECT_API_URL"] = url
                else:
                    env.pop("PREFECT_API_URL", None)
                for run in ("day", "none"):
                    measurement = measure(arguments, env=env)
                    if measurement.exit_code != 0:
                        failed.add((run, server))
                        print(f"  {run}/{server}: exit {measurement.exit_code}\n{measurement.output_tail}",
                              file=sys.stderr)  # fmt: skip
                    walls[(run, server)].append(round(measurement.wall_seconds, 2))
    rows = []
    for (run, server), target in DAILY_TARGETS.items():
        median = statistics.median(walls[(run, server)])
        ok = (run, server) not in failed  # a failed run's time says nothing about the target
        rows.append({"run": run, "server": server, "runs": walls[(run, server)], "median": median,
                     "target": target, "failed": not ok, "reached": ok and median <= target})  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/benchmark.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickers", type=lambda text: tuple(int(v) for v in text.split(",")), default=None)
    parser.add_argument("--years", type=lambda text: tuple(int(v) for v in text.split(",")), default=None)
    parser.add_argument("--large", action="store_true", help="the whole grid: 50/500/5000 tickers x 1/5/20 years")
    parser.add_argument("--no-floor", action="store_true", help="skip timing the floor")
    parser.add_argument("--no-startup", action="store_true", help="skip measuring start-up costs")
    parser.add_argument(
        "--daily",
        metavar="TICKERSxYEARS",
        default=None,
        help="after that cell's full build, the one-day and nothing-new runs 3 times each, alternating a running "
        "and a temporary Prefect server, against the daily targets (e.g. --daily 500x20)",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "warehouse" / "bench")
    args = parser.parse_args(argv)
    tickers = args.tickers or (LARGE_TICKERS if args.large else DEFAULT_TICKERS)
    years = args.years or (LARGE_YEARS if args.large else DEFAULT_YEARS)
    daily_cell = tuple(int(part) for part in args.daily.lower().split("x")) if args.daily else None
    if daily_cell and (daily_cell[0] not in tickers or daily_cell[1] not in years):
        print(f"--daily {args.daily}: that cell is not in the grid (--tickers, --years)", file=sys.stderr)
        return 2
    root = args.out / "cells"
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"gapwatch benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores); sample data; full build as of {FULL_AS_OF}, one-day run as of "
        f"{INCREMENTAL_AS_OF}; rss = largest process, tree = all processes of the run\n"
    )
    print(HEADER, flush=True)
    results: list[Result] = []
    after_full = root / "daily_after_full"
    for cell_years in years:
        for cell_tickers in tickers:
            keep = after_full if daily_cell == (cell_tickers, cell_years) else None
            results.extend(
                bench_cell(cell_tickers, cell_years, root=root, with_floor=not args.no_floor, keep_after_full=keep)
            )
    daily: list[dict] = []
    if daily_cell:
        daily = daily_targets(after_full, tickers=daily_cell[0], years=daily_cell[1], root=root)
        shutil.rmtree(after_full, ignore_errors=True)
        print(f"\ndaily targets at {daily_cell[0]} tickers x {daily_cell[1]} years (wall s, alternating runs):")
        for row in daily:
            verdict = "FAILED" if row["failed"] else "reached" if row["reached"] else "NOT reached"
            runs = ", ".join(f"{wall:.1f}" for wall in row["runs"])
            print(f"  {row['run']:<4} {row['server']:<9} median {row['median']:>6.1f}  target <= {row['target']:>4.0f}"
                  f"  {verdict:<11}  runs: {runs}")  # fmt: skip
    costs = {} if args.no_startup else startup_costs(root)
    if costs:
        print("\nstart-up costs (wall s):")
        for name, seconds in costs.items():
            print(f"  {name:<42} {seconds:>6.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(
        json.dumps({"results": [asdict(result) for result in results], "startup": costs, "daily": daily}, indent=1)
    )
    with (args.out / "results.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*list(asdict(results[0]))[:-2], "stages", "exit_code"] if results else [])
        for result in results:
            values = asdict(result)
            stages = values.pop("stages")
            exit_code = values.pop("exit_code")
            writer.writerow([*values.values(), json.dumps(stages), exit_code])
    print(f"\nresults: {args.out / 'results.csv'} and {args.out / 'results.json'}")
    return 0 if all(result.exit_code == 0 for result in results) and not any(row["failed"] for row in daily) else 1


if __name__ == "__main__":
    raise SystemExit(main())
