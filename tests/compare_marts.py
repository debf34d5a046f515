"""Compare the marts (and the intermediate relations both sides have) of two builds, value for value.

A refactoring of the dbt project must not change the data. This script builds the pipeline twice -- a git
revision in a temporary ``git worktree`` and the working tree (or a second revision) -- with the same venv,
on the embedded sample, in two scenarios:

  seq    an incremental sequence: one run per ``--as-of`` date, in order, on one warehouse
  fresh  one run as of the last ``--as-of`` date on an empty warehouse (a full build)

and compares the same scenario of both sides: column names, order and types, row counts, and the rows
themselves in both directions (``except all``), every DOUBLE compared through its shortest round-trip
text, so equal means bit for bit (-0.0 is not 0.0). Lineage that differs between any two runs by
construction is normalised first: a ``load_id`` token becomes ``<dataset>#<n>`` (the n-th load of that
dataset in ``audit.loads``), and ``inputs_loaded_through`` and ``loaded_at`` become ``run#<n>``, the run
whose load wrote that raw ``loaded_at`` -- so the pattern of which build wrote which row is compared too.

    python tests/compare_marts.py --before-rev main                   # main vs the working tree
    python tests/compare_marts.py --before-rev $(git merge-base main HEAD)   # the branch point instead
    python tests/compare_marts.py --before-rev HEAD~3 --after-rev HEAD
    python tests/compare_marts.py --before-rev main --export-dir /tmp/ref   # keep both builds as Parquet
    python tests/compare_marts.py --before /tmp/ref/before --after /path/to/gapwatch.duckdb

``--before`` / ``--after`` take a warehouse file (``gapwatch.duckdb``), a GAPWATCH_HOME holding one, a side
kept by ``--keep`` (``<workdir>/before``: one GAPWATCH_HOME per scenario) or a side written by ``--export-dir``
(``<dir>/before``: one folder per scenario). Prints per relation the row counts and
the rows found on one side only (with a few examples); exits 0 when everything matches, 1 on any
difference, 2 when a build fails. Run it with the project's venv (``.venv/bin/python``): both builds
import their own ``flows`` package (``python -m flows.cli`` with the checkout as working directory).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_AS_OF = ("2026-06-30", "2026-11-20")
SCHEMAS = ("marts", "intermediate")  # marts must match as a set; intermediate: the relations both sides have
LOAD_ID = "load_id"
STAMPS = ("inputs_loaded_through", "loaded_at")  # raw loaded_at values, labelled by run
FLOATS = {"DOUBLE", "FLOAT", "REAL"}
EXAMPLES = 3
STOP_SECONDS = 15  # an interrupted run gets this long to stop before it is killed
EXAMPLE_POOL = 500  # rows fetched per side to pair each example with its most similar counterpart
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "GX_ANALYTICS_ENABLED": "False",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}


class BuildError(RuntimeError):
    pass


# --- building --------------------------------------------------------------------------------------------


def _git(*arguments: str, cwd: Path = REPO_ROOT) -> str:
    completed = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise BuildError(f"git {' '.join(arguments)} failed: {completed.stderr.strip()}")
    return completed.stdout.strip()


def run_pipeline(checkout: Path, home: Path, as_of: str, *, source: str | None) -> None:
    """One ``gapwatch run`` of ``checkout``'s code (its own flows package and dbt project) on ``home``."""
    command = [sys.executable, "-m", "flows.cli", "run", "--as-of", as_of, "--quiet"]
    if source:
        command += ["--source", source]
    env = {
        **os.environ,
        **TELEMETRY_OFF,
        "GAPWATCH_HOME": str(home),
        "PYTHONPATH": str(checkout),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": os.environ.get(
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"
        ),
    }
    # its own process group: an interrupted comparison stops the run and what it started (Prefect's server)
    process = subprocess.Popen(
        command, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = process.communicate()
    except BaseException:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:  # a flow run can outlive SIGTERM
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        raise
    if process.returncode != 0:
        tail = "\n".join((output or "").strip().splitlines()[-30:])
        raise BuildError(f"gapwatch run --as-of {as_of} of {checkout} on {home} failed:\n{tail}")


def build_scenarios(checkout: Path, root: Path, as_ofs: list[str], *, source: str | None) -> dict[str, Path]:
    """seq: every as-of in order on one home; fresh: the last as-of on an empty home. Their warehouse files."""
    scenarios = {"seq": (root / "seq", as_ofs), "fresh": (root / "fresh", as_ofs[-1:])}
    if len(as_ofs) == 1:
        del scenarios["fresh"]  # the same build twice
    for name, (home, dates) in scenarios.items():
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        for as_of in dates:
            print(f"  {root.name}/{name}: gapwatch run --as-of {as_of}", flush=True)
            run_pipeline(checkout, home, as_of, source=source)
    return {name: home / "gapwatch.duckdb" for name, (home, _) in scenarios.items()}


@dataclass
class Checkout:
    path: Path
    label: str
    worktree: bool = False


def checkout_for(rev: str | None, workdir: Path, side: str) -> Checkout:
    """The working tree (rev None) or a detached temporary worktree of ``rev``."""
    if rev is None:
        dirty = " (with uncommitted changes)" if _git("status", "--porcelain") else ""
        return Checkout(REPO_ROOT, f"working tree at {_git('rev-parse', '--short', 'HEAD')}{dirty}")
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
    path = workdir / f"src-{side}"
    _git("worktree", "add", "--detach", str(path), commit)
    return Checkout(path, f"{rev} ({commit[:10]})", worktree=True)


def remove_checkout(checkout: Checkout) -> None:
    if checkout.worktree:
        _git("worktree", "remove", "--force", str(checkout.path))


# --- reading one side into canonical tables -------------------------------------------------------------


@dataclass
class Relation:
    schema: str
    name: str
    columns: list[tuple[str, str]]  # (name, type) in order
    table: str  # the canonical copy in the comparison database

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def _canonical_expression(column: str, column_type: str, *, labels: bool) -> str:
    quoted = f'"{column}"'
    if column == LOAD_ID and labels:
        return (
            f"array_to_string(list_transform(string_split({quoted}, ','), "
            f"token -> coalesce(load_labels[token], token)), ',') as {quoted}"
        )
    if column in STAMPS and labels:
        return f"coalesce(stamp_labels[{quoted}], 'unlabelled ' || cast({quoted} as varchar)) as {quoted}"
    if column_type in FLOATS or column_type.startswith(("HUGEINT", "UHUGEINT")):
        return f"cast({quoted} as varchar) as {quoted}"  # shortest round-trip text: bit for bit
    return quoted


def _lineage_labels(connection: duckdb.DuckDBPyConnection, catalog: str) -> tuple[str, str]:
    """SQL map literals: load_id -> '<dataset>#<n>' (the n-th load of that dataset) and a raw loaded_at ->
    'run#<n>' (the n-th run, whose load wrote it). Datasets load concurrently, so which one finishes last in a
    run -- and so which loaded_at a stamp like inputs_loaded_through (the newest of its inputs) picks -- varies
    from run to run; the run does not."""
    loads = connection.execute(
        f"select load_id, dataset || '#' || lpad(cast(row_number() over "
        f"(partition by dataset order by started_at, load_id) as varchar), 4, '0'), "
        f"'run#' || lpad(cast(dense_rank() over (order by run_started_at, run_id) as varchar), 4, '0') "
        f"from (select *, min(started_at) over (partition by run_id) as run_started_at from {catalog}.audit.loads)"
    ).fetchall()
    labels = {load_id: label for load_id, label, _ in loads}
    runs = {load_id: run for load_id, _, run in loads}
    raw_tables = [
        name
        for (name,) in connection.execute(
            "select distinct table_name from information_schema.columns where table_catalog = ? "
            "and table_schema = 'raw' and column_name = 'loaded_at' and table_name in (select table_name from "
            "information_schema.columns where table_catalog = ? and table_schema = 'raw' and column_name = 'load_id')",
            [catalog, catalog],
        ).fetchall()
    ]
    stamps: dict[object, str] = {}
    if raw_tables:
        union = " union ".join(f"select distinct loaded_at, load_id from {catalog}.raw.{name}" for name in raw_tables)
        for loaded_at, load_id in connection.execute(f"select * from ({union}) order by 1, 2").fetchall():
            stamps.setdefault(loaded_at, runs.get(load_id, load_id))
    connection.execute("create or replace temp table load_label_rows (token varchar, label varchar)")
    connection.executemany("insert into load_label_rows values (?, ?)", list(labels.items()) or [])
    connection.execute("create or replace temp table stamp_label_rows (stamp timestamp, label varchar)")
    connection.executemany("insert into stamp_label_rows values (?, ?)", list(stamps.items()) or [])
    return (
        "(select coalesce(map(list(token), list(label)), map()) from load_label_rows)",
        "(select coalesce(map(list(stamp), list(label)), map()) from stamp_label_rows)",
    )


def load_warehouse(connection: duckdb.DuckDBPyConnection, database: Path, prefix: str) -> dict[str, Relation]:
    """Canonical copies of a warehouse file's relations in SCHEMAS (lineage labelled, floats as text).

    Attached as ``gapwatch`` (one side at a time): dbt's views name their database by it."""
    catalog = "gapwatch"  # the name dbt's views use for their own database
    connection.execute(f"attach '{database}' as {catalog} (read_only)")
    try:
        load_map, stamp_map = _lineage_labels(connection, catalog)
        relations: dict[str, Relation] = {}
        names = connection.execute(
            "select table_schema, table_name from information_schema.tables where table_catalog = ? "
            f"and table_schema in ({', '.join(repr(schema) for schema in SCHEMAS)}) order by 1, 2",
            [catalog],
        ).fetchall()
        for schema, name in names:
            columns = [
                (column, column_type)
                for column, column_type in connection.execute(
                    "select column_name, data_type from information_schema.columns where table_catalog = ? "
                    "and table_schema = ? and table_name = ? order by ordinal_position",
                    [catalog, schema, name],
                ).fetchall()
            ]
            table = f"{prefix}__{schema}__{name}"
            select = ", ".join(_canonical_expression(column, kind, labels=True) for column, kind in columns)
            connection.execute(
                f'create or replace table "{table}" as '
                f"with labels as (select {load_map} as load_labels, {stamp_map} as stamp_labels) "
                f'select {select} from {catalog}.{schema}."{name}", labels'
            )
            relations[f"{schema}.{name}"] = Relation(schema, name, columns, table)
        return relations
    finally:
        connection.execute(f"detach {catalog}")


def load_export(connection: duckdb.DuckDBPyConnection, folder: Path, prefix: str) -> dict[str, Relation]:
    """The relations of one scenario folder written by export()."""
    manifest = json.loads((folder / "relations.json").read_text())
    relations = {}
    for qualified, columns in manifest.items():
        schema, name = qualified.split(".", 1)
        table = f"{prefix}__{schema}__{name}"
        parquet = folder / f"{qualified}.parquet"
        connection.execute(f"create or replace table \"{table}\" as select * from read_parquet('{parquet}')")
        relations[qualified] = Relation(schema, name, [tuple(column) for column in columns], table)
    return relations


def export(connection: duckdb.DuckDBPyConnection, relations: dict[str, Relation], folder: Path) -> None:
    """Write the canonical copies as Parquet plus relations.json (names and original types)."""
    folder.mkdir(parents=True, exist_ok=True)
    for qualified, relation in relations.items():
        connection.execute(f"""copy "{relation.table}" to '{folder / f"{qualified}.parquet"}' (format parquet)""")
    (folder / "relations.json").write_text(
        json.dumps({qualified: relation.columns for qualified, relation in relations.items()}, indent=1)
    )


def scenarios_at(path: Path) -> dict[str, Path]:
    """What a --before/--after path holds: scenario name -> warehouse file or export folder."""
    if path.is_file():
        return {"warehouse": path}
    if (path / "gapwatch.duckdb").is_file():
        return {"warehouse": path / "gapwatch.duckdb"}
    if (path / "relations.json").is_file():
        return {"warehouse": path}
    found = {}
    for child in sorted(path.iterdir()) if path.is_dir() else []:
        if (child / "relations.json").is_file():
            found[child.name] = child  # an --export-dir side
        elif (child / "gapwatch.duckdb").is_file():
            found[child.name] = child / "gapwatch.duckdb"  # a side built with --keep
    if not found:
        raise SystemExit(
            f"{path}: not a warehouse file, a GAPWATCH_HOME, a side kept by --keep or a folder written by --export-dir."
        )
    return found


def load_side(connection: duckdb.DuckDBPyConnection, location: Path, prefix: str) -> dict[str, Relation]:
    if location.is_dir():
        return load_export(connection, location, prefix)
    return load_warehouse(connection, location, prefix)


# --- comparing ------------------------------------------------------------------------------------------


def compare_relation(
    connection: duckdb.DuckDBPyConnection, before: Relation, after: Relation
) -> tuple[list[str], dict[str, int]]:
    """Differences (lines to print) and the counts of one relation present on both sides."""
    problems = []
    if before.columns != after.columns:
        problems.append(f"columns differ:\n      before {before.columns}\n      after  {after.columns}")
    common = [column for column, _ in before.columns if column in dict(after.columns)]
    select = ", ".join(f'"{column}"' for column in common)
    counts = {
        "before": connection.execute(f'select count(*) from "{before.table}"').fetchone()[0],
        "after": connection.execute(f'select count(*) from "{after.table}"').fetchone()[0],
    }
    only: dict[str, list[tuple]] = {}
    for side, left, right in (("before", before, after), ("after", after, before)):
        difference = f'select {select} from "{left.table}" except all select {select} from "{right.table}"'
        counts[f"only {side}"] = connection.execute(f"select count(*) from ({difference})").fetchone()[0]
        only[side] = connection.execute(f"{difference} limit {EXAMPLE_POOL}").fetchall()
    if only["before"] or only["after"]:
        problems.append(
            f"{counts['only before']:,} row(s) only before, {counts['only after']:,} only after, e.g.:\n"
            + "\n".join(_examples(common, only["before"], only["after"]))
        )
    return problems, counts


def _similarity(row: tuple, other: tuple) -> int:
    """How alike two rows are: equal columns count, the leading ones (keys, as a rule) the most."""
    return sum((len(row) - index) * len(row) + 1 for index, (a, b) in enumerate(zip(row, other, strict=True)) if a == b)


def _examples(columns: list[str], before_rows: list[tuple], after_rows: list[tuple]) -> list[str]:
    """A few rows found on one side only, each next to the most similar row of the other side: the columns
    they share, then those that differ (before -> after)."""
    lines = []
    for row in before_rows[:EXAMPLES] or after_rows[:EXAMPLES]:
        other_side = after_rows if before_rows else before_rows
        match = max(other_side, key=lambda other: _similarity(row, other), default=None)
        if match is None:
            lines.append(f"      {'before' if before_rows else 'after'} only: {dict(zip(columns, row, strict=True))}")
            continue
        pairs = (
            list(zip(columns, row, match, strict=True)) if before_rows else list(zip(columns, match, row, strict=True))
        )
        same = {name: left for name, left, right in pairs if left == right}
        changed = [f"{name}: {left!r} -> {right!r}" for name, left, right in pairs if left != right]
        lines.append(f"      {dict(list(same.items())[:4])}: " + "; ".join(changed))
    return lines


def compare_scenario(
    connection: duckdb.DuckDBPyConnection, before: dict[str, Relation], after: dict[str, Relation]
) -> int:
    """Print the comparison of one scenario; the number of relations that differ."""
    differing = 0
    print(f"  {'relation':<46}{'before':>10}{'after':>10}{'only before':>13}{'only after':>12}  result")
    for qualified in sorted(set(before) | set(after)):
        left, right = before.get(qualified), after.get(qualified)
        if left is None or right is None:
            present = "after" if left is None else "before"
            is_mart = qualified.startswith("marts.")
            differing += is_mart
            note = "DIFFERENT: missing mart" if is_mart else "not compared"
            print(f"  {qualified:<46}{'-' if left is None else '':>10}{'-' if right is None else '':>10}"
                  f"{'':>25}  only {present} ({note})")  # fmt: skip
            continue
        problems, counts = compare_relation(connection, left, right)
        differing += bool(problems)
        print(
            f"  {qualified:<46}{counts['before']:>10,}{counts['after']:>10,}{counts['only before']:>13,}"
            f"{counts['only after']:>12,}  {'DIFFERENT' if problems else 'identical'}"
        )
        for problem in problems:
            print(f"    {problem}")
    return differing


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so the finally blocks remove the temporary worktree and stop the runs


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser = argparse.ArgumentParser(
        prog="compare_marts.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    before = parser.add_mutually_exclusive_group(required=True)
    before.add_argument("--before-rev", help="git revision to build as the reference (in a temporary worktree)")
    before.add_argument("--before", type=Path, help="an existing build: warehouse file, GAPWATCH_HOME or export")
    after = parser.add_mutually_exclusive_group()
    after.add_argument("--after-rev", help="git revision to compare against (default: the working tree)")
    after.add_argument("--after", type=Path, help="an existing build: warehouse file, GAPWATCH_HOME or export")
    parser.add_argument(
        "--as-of", action="append", help=f"run date, repeatable, in order (default: {' then '.join(DEFAULT_AS_OF)})"
    )
    parser.add_argument("--source", choices=("sample", "live"), help="gapwatch run --source (default: its own)")
    parser.add_argument("--workdir", type=Path, help="where builds go (default: a temporary folder, removed)")
    parser.add_argument("--export-dir", type=Path, help="also write both sides' canonical rows as Parquet here")
    parser.add_argument("--keep", action="store_true", help="keep the builds (<workdir>/before, <workdir>/after)")
    arguments = parser.parse_args(argv)
    as_ofs = arguments.as_of or list(DEFAULT_AS_OF)
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="compare_marts."))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        try:
            sides, labels = build_sides(arguments, workdir, as_ofs)
        except BuildError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        differing = compare_sides(sides, labels, workdir, as_ofs, export_dir=arguments.export_dir)
    finally:
        if arguments.keep:
            print(f"\nbuilds kept in {workdir}")
        elif not arguments.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nresult: {'identical' if not differing else f'{differing} relation(s) differ'}")
    return 1 if differing else 0


def build_sides(
    arguments: argparse.Namespace, workdir: Path, as_ofs: list[str]
) -> tuple[dict[str, dict[str, Path]], dict[str, str]]:
    """Each side's scenarios (scenario -> warehouse or export) and label: given paths, or builds of a revision
    (in a temporary worktree, removed afterwards, also when interrupted) or of the working tree."""
    sides: dict[str, dict[str, Path]] = {}
    labels: dict[str, str] = {}
    checkouts: list[Checkout] = []
    try:
        for side, rev, path in (
            ("before", arguments.before_rev, arguments.before),
            ("after", arguments.after_rev, arguments.after),
        ):
            if path is not None:
                sides[side], labels[side] = scenarios_at(path), str(path)
                continue
            checkout = checkout_for(rev, workdir, side)
            checkouts.append(checkout)
            labels[side] = checkout.label
            print(f"building {side}: {checkout.label}", flush=True)
            sides[side] = build_scenarios(checkout.path, workdir / side, as_ofs, source=arguments.source)
    finally:
        for checkout in checkouts:
            remove_checkout(checkout)
    return sides, labels


def compare_sides(
    sides: dict[str, dict[str, Path]],
    labels: dict[str, str],
    workdir: Path,
    as_ofs: list[str],
    *,
    export_dir: Path | None,
) -> int:
    """Compare the scenarios both sides have (or their single builds); the number of relations that differ."""
    names: list[str | None] = [name for name in sides["before"] if name in sides["after"]]
    if not names and len(sides["before"]) == len(sides["after"]) == 1:
        names = [None]  # one build on each side: compare them whatever their names
    connection = duckdb.connect(str(workdir / "comparison.duckdb"))
    differing = 0
    try:
        print(f"\nbefore: {labels['before']}\nafter:  {labels['after']}")
        for name in names:
            before_location = sides["before"][name] if name else next(iter(sides["before"].values()))
            after_location = sides["after"][name] if name else next(iter(sides["after"].values()))
            title = {
                "seq": f"seq (incremental: {' -> '.join(as_ofs)})",
                "fresh": f"fresh (one full build as of {as_ofs[-1]})",
            }.get(name or "", name or "warehouse")
            print(f"\n{title}")
            before_relations = load_side(connection, before_location, "before")
            after_relations = load_side(connection, after_location, "after")
            differing += compare_scenario(connection, before_relations, after_relations)
            if export_dir:
                for side, relations in (("before", before_relations), ("after", after_relations)):
                    export(connection, relations, export_dir / side / (name or "warehouse"))
            for relation in [*before_relations.values(), *after_relations.values()]:
                connection.execute(f'drop table "{relation.table}"')
    finally:
        connection.close()
        (workdir / "comparison.duckdb").unlink(missing_ok=True)
    missing = sorted(set(sides["before"]) ^ set(sides["after"])) if names != [None] else []
    if missing:
        print(f"\nscenarios on one side only (not compared): {', '.join(missing)}")
    return differing


if __name__ == "__main__":
    sys.exit(main())
