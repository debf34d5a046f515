"""The dbt catalogue is complete: `dbt docs generate` on a built warehouse describes every column that exists,
and the semantic layer and exposures parse into the manifest."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import Home
from flows.settings import load_settings
from flows.warehouse import dbt as dbt_runner

MARTS = {"relative_performance", "execution_gap", "policy_event_impact", "policy_event_group_impact", "inflation"}


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
