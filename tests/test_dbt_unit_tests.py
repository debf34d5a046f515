"""The dbt unit tests (hand-computed rows for every formula) run here, once per `make test`.

Daily runs skip them (`dbt build --exclude test_type:unit`): they check the SQL, not the data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import Home
from flows.settings import load_settings
from flows.warehouse import dbt as dbt_runner


def test_every_dbt_unit_test_passes(tmp_path: Path, warehouse: Home) -> None:
    home = tmp_path / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("gapwatch.lock"))
    settings = load_settings({"GAPWATCH_HOME": str(home)})
    result = dbt_runner.run_dbt(
        settings, "test", "--select", "test_type:unit", "--vars", json.dumps(dbt_runner.build_variables(settings))
    )
    assert result.success, "\n".join(result.failures) or result.output_tail
    manifest = json.loads((settings.paths.dbt_target / "manifest.json").read_text())
    declared = set(manifest["unit_tests"])
    assert len(declared) >= 19  # every formula of the marts has at least one; see the YAML files
    assert result.counts == {"pass": len(declared)}


def test_a_dbt_build_before_any_run_stops_with_the_next_step(tmp_path: Path) -> None:
    """`cd dbt_project && dbt build` on a fresh machine: the on-run-start check names the next command instead of
    every staging model failing with "Table prices does not exist!"."""
    home = tmp_path / "fresh"
    home.mkdir()
    settings = load_settings({"GAPWATCH_HOME": str(home)})
    result = dbt_runner.run_dbt(settings, "build")
    assert not result.success
    output = result.output_tail
    assert "has no raw tables yet: run `gapwatch run` first" in output, output
    assert "does not exist" not in output  # stopped before any model ran
