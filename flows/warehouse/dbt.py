"""Run the dbt project (dbt-core + dbt-duckdb) against the warehouse."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from flows.settings import Settings


@dataclass
class DbtResult:
    success: bool
    command: list[str]
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    output_tail: str = ""
    seconds: float = 0.0  # wall time of the dbt process

    def describe(self) -> str:
        counts = ", ".join(f"{key} {value}" for key, value in sorted(self.counts.items()))
        return f"dbt {'passed' if self.success else 'FAILED'} ({counts})"


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(settings: Settings, *args: str) -> DbtResult:
    """Run ``dbt <args>`` in the project directory with the warehouse's GAPWATCH_HOME.

    dbt runs in a child process: it opens the DuckDB file itself, so the
    pipeline must not hold it open meanwhile.
    """
    project = settings.dbt_project_dir
    command = [
        dbt_executable(),
        *args,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
        "--target-path", str(settings.paths.dbt_target),
        "--log-path", str(settings.paths.dbt_logs),
    ]  # fmt: skip
    env = {**os.environ, **settings.tool_environment()}
    run_results = settings.paths.dbt_target / "run_results.json"
    run_results.unlink(missing_ok=True)
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    result = DbtResult(success=completed.returncode == 0, command=command, seconds=time.perf_counter() - started)
    if run_results.exists():
        document = json.loads(run_results.read_text())
        for node in document.get("results", []):
            status = str(node.get("status"))
            if not str(node.get("unique_id", "")).startswith("operation."):  # hooks (on-run-start) are not counted
                result.counts[status] = result.counts.get(status, 0) + 1
            if status in {"error", "fail"}:
                result.failures.append(f"{node.get('unique_id')}: {(node.get('message') or '').strip()}")
    output = (completed.stdout or "") + (completed.stderr or "")
    result.output_tail = "\n".join(output.strip().splitlines()[-30:])
    return result


def build_variables(settings: Settings) -> dict[str, object]:
    """The --vars of a pipeline build: the group benchmarks come from the universe file (the
    dbt_project.yml default only serves engineers running dbt by hand)."""
    return {"group_benchmarks": dict(settings.universe.group_benchmarks)}


def vars_argument(variables: dict[str, object]) -> str:
    """The text of ``--vars``: JSON, which dbt reads as YAML. Non-ASCII is written as itself, since YAML
    rejects JSON's surrogate-pair escapes (a ticker or group name holding an emoji broke every build)."""
    return json.dumps(variables, ensure_ascii=False)


def build(settings: Settings, *, full_refresh: bool = False, unit_tests: bool = False) -> DbtResult:
    """``dbt build``: all models and data tests (and, with ``unit_tests``, the unit tests).

    The incremental models recompute only what newly loaded rows touched;
    ``full_refresh`` rebuilds them from scratch (after a change of the universe
    or of the project). Unit tests check the SQL, not the data: they run in
    ``make test`` (tests/test_dbt_unit_tests.py) and by hand, not in every daily run.
    """
    arguments = ["build", "--vars", vars_argument(build_variables(settings))]
    if full_refresh:
        arguments.append("--full-refresh")
    if not unit_tests:
        arguments += ["--exclude", "test_type:unit"]
    return run_dbt(settings, *arguments)


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
