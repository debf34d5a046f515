"""Run the dbt project (dbt-core + dbt-duckdb) against the warehouse."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flows.settings import Settings
from flows.warehouse.ranges import BuildRanges


@dataclass
class DbtResult:
    success: bool
    command: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    output_tail: str = ""
    seconds: float = 0.0  # wall time of the dbt process (of all of them, for a build in date ranges)
    ranges: int = 1  # the builds of a whole build in date ranges (flows.warehouse.ranges) that ran

    def describe(self) -> str:
        counts = ", ".join(f"{key} {value}" for key, value in sorted(self.counts.items()))
        in_ranges = f" in {self.ranges} date ranges" if self.ranges > 1 else ""
        return f"dbt {'passed' if self.success else 'FAILED'} ({counts}){in_ranges}"


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def _command_line(settings: Settings) -> list[str]:
    """The options every dbt command of the pipeline takes: project, profiles, target and log paths."""
    project = settings.dbt_project_dir
    return [
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(settings.paths.dbt_target),
        "--log-path", str(settings.paths.dbt_logs),
    ]  # fmt: skip


def _result(settings: Settings, command: list[str], returncode: int, output: str, seconds: float) -> DbtResult:
    """A finished dbt command's result, from its exit code, output and run_results.json."""
    result = DbtResult(success=returncode == 0, command=command, seconds=seconds)
    run_results = settings.paths.dbt_target / "run_results.json"
    if run_results.exists():
        document = json.loads(run_results.read_text())
        for node in document.get("results", []):
            status = str(node.get("status"))
            if not str(node.get("unique_id", "")).startswith("operation."):  # hooks (on-run-start) are not counted
                result.counts[status] = result.counts.get(status, 0) + 1
            if status in {"error", "fail"}:
                result.failures.append(f"{node.get('unique_id')}: {(node.get('message') or '').strip()}")
    result.output_tail = "\n".join(output.strip().splitlines()[-30:])
    return result


def run_dbt(settings: Settings, *args: str) -> DbtResult:
    """Run ``dbt <args>`` in the project directory with the warehouse's GAPWATCH_HOME.

    dbt runs in a child process: it opens the DuckDB file itself, so the
    pipeline must not hold it open meanwhile.
    """
    command = [dbt_executable(), *args, *_command_line(settings)]
    env = {**os.environ, **settings.tool_environment()}
    (settings.paths.dbt_target / "run_results.json").unlink(missing_ok=True)
    started = time.perf_counter()
    completed = subprocess.run(
        command, cwd=settings.dbt_project_dir, env=env, capture_output=True, text=True, check=False
    )
    output = (completed.stdout or "") + (completed.stderr or "")
    return _result(settings, command, completed.returncode, output, time.perf_counter() - started)


class PreparedBuild:
    """``dbt build`` started ahead of time: a child process that imports dbt and parses the project (with the
    build's --vars) while the run still ingests, then waits for :meth:`build` to say go -- and with which
    arguments (``--full-refresh`` is decided only once every load is in). Saves the ~3 s dbt spends starting,
    off the run's path. It does not open the warehouse until told to build; :meth:`cancel` (or the pipeline
    process ending, which closes the child's stdin) ends it without building."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        variables = vars_argument(build_variables(settings))
        self.common = ["--vars", variables, *_command_line(settings)]
        env = {**os.environ, **settings.tool_environment()}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flows.warehouse.dbt", json.dumps(self.common)],
            cwd=settings.dbt_project_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def build(self, *arguments: str) -> DbtResult:
        """Run ``dbt build <arguments>`` in the prepared process and wait for it."""
        command = [dbt_executable(), "build", *arguments, *self.common]
        (self.settings.paths.dbt_target / "run_results.json").unlink(missing_ok=True)
        started = time.perf_counter()
        try:
            output, _ = self.process.communicate(json.dumps(["build", *arguments]) + "\n")
        except BrokenPipeError:  # the child ended before it was told to build (its output says why)
            output, _ = self.process.communicate()
        return _result(self.settings, command, self.process.returncode, output, time.perf_counter() - started)

    def cancel(self) -> None:
        if self.process.returncode is None:
            self.process.communicate("")  # stdin closed without a command: the child ends without building


def _serve_prepared(common: list[str]) -> int:
    """The child of :class:`PreparedBuild`: parse now, build when a command line arrives on stdin."""
    from dbt.cli.main import dbtRunner

    parsed = dbtRunner().invoke(["parse", *common])
    if not parsed.success:
        print(f"dbt parse failed: {parsed.exception or 'see the errors above'}", flush=True)
        return 2
    line = sys.stdin.readline()
    if not line.strip():  # the pipeline needs no build (nothing new, a failed load) or has ended
        return 0
    outcome = dbtRunner(manifest=parsed.result).invoke([*json.loads(line), *common])
    if outcome.exception is not None:
        print(f"dbt failed: {outcome.exception}", flush=True)
        return 2
    return 0 if outcome.success else 1


def build_variables(settings: Settings) -> dict[str, object]:
    """The --vars of a pipeline build: the group benchmarks come from the universe file (the
    dbt_project.yml default only serves engineers running dbt by hand)."""
    return {"group_benchmarks": dict(settings.universe.group_benchmarks)}


def vars_options(settings: Settings, **extra: object) -> list[str]:
    """``--vars`` and its text: the pipeline build's variables and ``extra``."""
    return ["--vars", vars_argument({**build_variables(settings), **extra})]


def vars_argument(variables: dict[str, object]) -> str:
    """The text of ``--vars``: JSON, which dbt reads as YAML. Non-ASCII is written as itself, since YAML
    rejects JSON's surrogate-pair escapes (a ticker or group name holding an emoji broke every build)."""
    return json.dumps(variables, ensure_ascii=False)


# dbt's threads for a build that computes every model (the first build, a full refresh) of a large warehouse:
# one model at a time, so each big model gets DuckDB's threads and memory limit (profiles.yml) to itself. At
# 500 tickers x 20 years (2.5M price rows) two at a time took 86 s of models and 4.5 GB, one at a time 75 s and
# 4.0 GB; at 100 x 20 (0.5M rows) both took 23-25 s of dbt, one thread 0.4 GB less. Below ONE_MODEL_FROM_PRICE_ROWS
# (the embedded sample: 30,525 rows) the models are small and two at a time hide dbt's own per-model work: a first
# build of the sample took 6.7-8.1 s of dbt with two threads, 7.6-10.9 s with one. An incremental build keeps the
# profile's two.
WHOLE_BUILD_THREADS = 1
ONE_MODEL_FROM_PRICE_ROWS = 250_000


def build_arguments(
    *, full_refresh: bool = False, whole: bool = False, unit_tests: bool = False, price_rows: int = 0
) -> list[str]:
    """The arguments of a pipeline's ``dbt build`` (see :func:`build`)."""
    arguments = []
    if full_refresh:
        arguments.append("--full-refresh")
    if (whole or full_refresh) and price_rows >= ONE_MODEL_FROM_PRICE_ROWS:
        arguments += ["--threads", str(WHOLE_BUILD_THREADS)]
    if not unit_tests:
        arguments += ["--exclude", "test_type:unit"]
    return arguments


def build(
    settings: Settings,
    *,
    full_refresh: bool = False,
    whole: bool = False,
    unit_tests: bool = False,
    price_rows: int = 0,
    prepared: PreparedBuild | None = None,
) -> DbtResult:
    """``dbt build``: all models and data tests (and, with ``unit_tests``, the unit tests).

    The incremental models recompute only what newly loaded rows touched;
    ``full_refresh`` rebuilds them from scratch (after a change of the universe
    or of the project). ``whole`` (a full refresh, or the first build) of a warehouse holding ``price_rows``
    of ONE_MODEL_FROM_PRICE_ROWS or more runs one model at a time (WHOLE_BUILD_THREADS). Unit tests check
    the SQL, not the data: they run in ``make test`` (tests/test_dbt_unit_tests.py) and by hand, not in
    every daily run. With ``prepared`` (started during ingest), the build runs in that already parsed process.
    """
    arguments = build_arguments(full_refresh=full_refresh, whole=whole, unit_tests=unit_tests, price_rows=price_rows)
    if prepared is not None:
        return prepared.build(*arguments)
    return run_dbt(settings, "build", *vars_options(settings), *arguments)


def build_in_ranges(
    settings: Settings,
    plan: BuildRanges,
    *,
    full_refresh: bool = False,
    unit_tests: bool = False,
    price_rows: int = 0,
    on_range: Callable[[int, DbtResult], None] | None = None,
) -> DbtResult:
    """A whole build (the first, or ``full_refresh``) as ``dbt build`` once per date range of ``plan``: the
    first creates (or, with ``full_refresh``, replaces) the tables from the first range's rows, each next one
    is an incremental build over one range more (dbt_project/macros/build_range.sql). Each build runs the data
    tests on what it wrote; the unit tests (with ``unit_tests``) run with the last. Stops at the first range
    that fails: the models then hold the ranges before it, and the daily flow makes the next build a full
    refresh. ``on_range(index, result)`` hears of each range as it ends. Returns the last range's result,
    its failures named after their range, with the seconds of all."""
    seconds = 0.0
    for index in range(len(plan)):
        last = index == len(plan) - 1
        arguments = build_arguments(
            full_refresh=full_refresh and index == 0, whole=True, unit_tests=unit_tests and last, price_rows=price_rows
        )
        result = run_dbt(settings, "build", *vars_options(settings, build_range=plan.variables(index)), *arguments)
        seconds += result.seconds
        result.failures = [f"{plan.describe(index)}: {failure}" for failure in result.failures]
        if on_range is not None:
            on_range(index, result)
        if not result.success:
            break
    else:  # the staging views show the last range's stamps as loaded_at: re-create them over the real one
        views = run_dbt(settings, "run", "--select", "path:models/staging", *vars_options(settings))
        seconds += views.seconds
        if not views.success:
            result.success = False
            result.failures += views.failures or [views.output_tail]
    result.seconds, result.ranges = seconds, index + 1
    return result


def build_fingerprint(settings: Settings) -> str:
    """A hash of everything a build depends on besides the data: the dbt project's files, the build vars
    and the universe (with any synthetic sample tickers). Same fingerprint + nothing loaded = marts current."""
    digest = hashlib.sha256(json.dumps(build_variables(settings), sort_keys=True).encode())
    project = settings.dbt_project_dir
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if path.is_file() and relative.parts[0] not in {"target", "logs", "dbt_packages"}:
            digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    digest.update(repr(settings.universe).encode())
    return digest.hexdigest()


if __name__ == "__main__":  # the PreparedBuild child: python -m flows.warehouse.dbt '<json list of options>'
    sys.exit(_serve_prepared(json.loads(sys.argv[1])))
