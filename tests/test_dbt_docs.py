"""The dbt catalogue is complete: `dbt docs generate` on a built warehouse describes every column that exists,
and the semantic layer and exposures parse into the manifest."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from conftest import Home
from flows.settings import load_settings
from flows.warehouse import dbt as dbt_runner

MARTS = {
    "relative_performance",
    "execution_gap",
    "policy_event_impact",
    "policy_event_group_impact",
    "inflation",
    "signal_evaluation",
}


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory, warehouse: Home) -> tuple[dict, dict, dict]:
    home = tmp_path_factory.mktemp("docs") / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("gapwatch.lock"))
    settings = load_settings({"GAPWATCH_HOME": str(home)})
    result = dbt_runner.run_dbt(settings, "docs", "generate")
    assert result.success, result.output_tail
    target = settings.paths.dbt_target
    return (
        json.loads((target / "catalog.json").read_text()),
        json.loads((target / "manifest.json").read_text()),
        json.loads((target / "semantic_manifest.json").read_text()),
    )


def _models(manifest: dict, catalog: dict, schema: str):  # type: ignore[no-untyped-def]
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] == "model" and node["schema"] == schema and unique_id in catalog["nodes"]:
            yield node, catalog["nodes"][unique_id]


@pytest.mark.parametrize("schema", ["marts", "intermediate", "staging"])
def test_every_column_in_the_warehouse_is_described(docs: tuple[dict, dict, dict], schema: str) -> None:
    catalog, manifest, _ = docs
    seen = set()
    for node, entry in _models(manifest, catalog, schema):
        seen.add(node["name"])
        actual = {name.lower() for name in entry["columns"]}
        documented = {name.lower(): column.get("description", "") for name, column in node["columns"].items()}
        missing = sorted(actual - {name for name, text in documented.items() if text.strip()})
        assert not missing, f"{schema}.{node['name']}: columns without a description: {missing}"
        stale = sorted(set(documented) - actual)
        assert not stale, f"{schema}.{node['name']}: documented columns that do not exist: {stale}"
        assert node["description"].strip(), f"{schema}.{node['name']} has no description"
    if schema == "marts":
        assert seen == MARTS


def test_semantic_layer_and_exposures_are_in_the_manifest(docs: tuple[dict, dict, dict]) -> None:
    _, manifest, semantic = docs
    assert {model["name"] for model in semantic["semantic_models"]} >= {
        "relative_performance", "execution_gap", "policy_event_impact", "inflation",
    }  # fmt: skip
    metrics = {metric["name"] for metric in semantic["metrics"]}
    assert {"china_minus_us_ai_spread", "avg_execution_gap", "avg_reward_gap", "cpi_headline_yoy_pct"} <= metrics
    exposures = {exposure["name"]: exposure for exposure in manifest["exposures"].values()}
    assert {
        "gapwatch_daily_report",
        "superset_ai_execution_dashboard",
        "metabase_policy_and_inflation_questions",
    } <= set(exposures)
    for exposure in exposures.values():
        assert exposure["owner"]["name"] and exposure["depends_on"]["nodes"], exposure["name"]


# --- model contracts: a column change fails the build, not a dashboard ---------------------------------------------


@pytest.mark.parametrize(
    ("change", "reported"),
    [
        ("* replace (cast(month_date as varchar) as month_date)", "month_date"),  # retyped
        ("* exclude (headline_yoy_pct)", "headline_yoy_pct"),  # dropped
        ("* rename (core_yoy_pct as core_yoy)", "core_yoy"),  # renamed
    ],
    ids=["retyped", "dropped", "renamed"],
)
def test_a_mart_column_change_breaks_its_contract(tmp_path: Path, warehouse: Home, change: str, reported: str) -> None:
    """Every mart enforces a contract (names and types in its _models.yml): a changed column fails dbt's build
    before the table is replaced, so BI never sees it."""
    project = tmp_path / "dbt_project"
    shutil.copytree(
        Path(__file__).resolve().parents[1] / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs")
    )
    model = project / "models" / "marts" / "inflation" / "inflation.sql"
    model.write_text(f"select {change} from (\n{model.read_text()}\n) as built\n")
    home = tmp_path / "home"
    shutil.copytree(warehouse.path, home, ignore=shutil.ignore_patterns("*.lock", "duckdb_tmp"))
    settings = dataclasses.replace(load_settings({"GAPWATCH_HOME": str(home)}), dbt_project_dir=project)
    columns = "select column_name, data_type from information_schema.columns where table_name = 'inflation'"
    connection = duckdb.connect(str(home / "gapwatch.duckdb"), read_only=True)
    before = connection.execute(columns).fetchall()
    connection.close()
    result = dbt_runner.run_dbt(settings, "build", "--select", "inflation", "--exclude", "test_type:unit")
    assert not result.success
    assert "contract" in result.output_tail.lower() and reported in result.output_tail, result.output_tail
    connection = duckdb.connect(str(home / "gapwatch.duckdb"), read_only=True)
    after = connection.execute(columns).fetchall()
    connection.close()
    assert after == before  # the mart was not replaced
