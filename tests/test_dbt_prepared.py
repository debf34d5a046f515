"""dbt started ahead (PreparedBuild): the same build as a dbt child started when needed; gone when not needed."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from conftest import Home, process_alive
from flows.settings import load_settings
from flows.warehouse import dbt

REPO = Path(__file__).resolve().parents[1]


def _home_copy(warehouse: Home, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("gapwatch.lock"))
    return home


def _run_results(settings) -> dict:  # type: ignore[no-untyped-def]
    return json.loads((settings.paths.dbt_target / "run_results.json").read_text())


def test_a_prepared_build_runs_the_build_a_plain_child_runs(warehouse: Home, tmp_path: Path) -> None:
    with Home(_home_copy(warehouse, tmp_path)):
        settings = load_settings()
        plain = dbt.build(settings)
        plain_nodes = sorted(node["unique_id"] for node in _run_results(settings)["results"])
        prepared = dbt.build(settings, prepared=dbt.PreparedBuild(settings))
        document = _run_results(settings)
    assert plain.success and prepared.success, prepared.output_tail
    assert prepared.counts == plain.counts and prepared.counts.get("pass", 0) > 100
    assert sorted(node["unique_id"] for node in document["results"]) == plain_nodes
    assert document["args"]["which"] == "build" and document["args"]["exclude"] == ["test_type:unit"]


def test_a_prepared_build_reports_a_failing_model_like_a_plain_child(warehouse: Home, tmp_path: Path) -> None:
    home = _home_copy(warehouse, tmp_path)
    with Home(home):
        settings = load_settings()
        prepared = dbt.PreparedBuild(settings)
        result = dbt.build(settings, prepared=prepared, full_refresh=True)
    assert result.success and "--full-refresh" in result.command
    broken = tmp_path / "project"
    shutil.copytree(REPO / "dbt_project", broken, ignore=shutil.ignore_patterns("target", "logs"))
    model = broken / "models" / "marts" / "inflation" / "inflation.sql"
    model.write_text("select error('broken on purpose') as month_date")
    with Home(home):
        settings = dataclasses.replace(load_settings(), dbt_project_dir=broken)
        plain = dbt.build(settings)
        failed = dbt.build(settings, prepared=dbt.PreparedBuild(settings))
    assert not plain.success and not failed.success
    assert failed.failures == plain.failures and any("model.gapwatch.inflation" in f for f in failed.failures)


def test_a_cancelled_prepared_build_ends_without_building(warehouse: Home, tmp_path: Path) -> None:
    with Home(_home_copy(warehouse, tmp_path)):
        settings = load_settings()
        (settings.paths.dbt_target / "run_results.json").unlink(missing_ok=True)
        prepared = dbt.PreparedBuild(settings)
        prepared.cancel()
    assert prepared.process.returncode == 0
    assert not (settings.paths.dbt_target / "run_results.json").exists()


def test_a_prepared_build_ends_when_the_pipeline_process_is_killed(warehouse: Home, tmp_path: Path) -> None:
    home = _home_copy(warehouse, tmp_path)
    script = textwrap.dedent(
        """
        import time
        from flows.settings import load_settings
        from flows.warehouse import dbt
        prepared = dbt.PreparedBuild(load_settings())
        print(prepared.process.pid, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "GAPWATCH_HOME": str(home)},
    )  # fmt: skip
    try:
        child = int(parent.stdout.readline())  # type: ignore[union-attr]
        parent.kill()  # kill -9: the child's stdin closes
        parent.wait()
        deadline = time.monotonic() + 60  # it may still be importing dbt and parsing; then it reads stdin
        while process_alive(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not process_alive(child), f"the prepared dbt {child} outlived its killed pipeline process"
        assert not (home / "dbt_target" / "run_results.json").exists() or _built_before(home)
    finally:
        parent.kill()


def _built_before(home: Path) -> bool:
    """run_results.json was there before the test (copied with the home), not written by the killed child."""
    return (home / "dbt_target" / "run_results.json").stat().st_mtime < time.time() - 30
