"""The environment is read and checked in one place (flows/settings.py, a pydantic-settings model): every bad value
is refused with the variable, the value (unless it is a secret) and what is allowed, and the CLI exits 2 before
anything is created."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.settings import ENVIRONMENT_VARIABLES, SOURCE_DEFAULTS, ConfigError, Environment, load_settings

REPO = Path(__file__).resolve().parents[1]

# Values that were accepted silently before the settings had one model (each did something surprising later:
# a URL without a scheme failed every request, 'maybe' switched verbose output off, ...).
SLIPPED_THROUGH = {
    "GAPWATCH_VERBOSE": "maybe",
    "GAPWATCH_YAHOO_BASE_URL": "localhost:8080",
    "GAPWATCH_SEC_BASE_URL": "data.sec.gov",
    "PREFECT_API_URL": "127.0.0.1:4200/api",
    "GAPWATCH_FAULT_PAUSE": "oops",
    "GAPWATCH_DASK_ADDRESS": "scheduler:8786",
    "GAPWATCH_DBT_MEMORY_LIMIT": "lots",
    "GAPWATCH_HTTP_ATTEMPTS": "1000",
    "GAPWATCH_CPI_RELEASE_LAG_DAYS": "45",
    "GAPWATCH_SAMPLE_SEED": "-1",
    "GAPWATCH_SAMPLE_TICKERS": "1e6",
    "GAPWATCH_REPORTING_LAG_DAYS": "999",
    "GAPWATCH_BUILD_RANGE_ROWS": "9999",
}


@pytest.mark.parametrize(("name", "value"), sorted(SLIPPED_THROUGH.items()))
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as problem:
        load_settings({name: value})
    message = str(problem.value)
    assert re.fullmatch(rf"{name} must be .+, got '{re.escape(value)}'\.", message), message


def test_every_variable_says_what_it_allows_and_is_documented() -> None:
    """One list of variables (the model) for the code, the errors and the configuration page."""
    page = (REPO / "docs" / "pages" / "configuration.md").read_text()
    per_source = {
        f"GAPWATCH_{prefix}_{suffix}"
        for _, prefix, *_ in SOURCE_DEFAULTS
        for suffix in ("BASE_URL", "CONCURRENCY", "RPS")
    }
    for field in Environment.model_fields.values():
        assert isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("allowed"), field.alias
    for name in ENVIRONMENT_VARIABLES:
        documented = f"`{name}`" in page or (
            name in per_source and f"`GAPWATCH_<SOURCE>_{name.split('_', 2)[2]}`" in page
        )
        assert documented, f"{name} is read but not in docs/pages/configuration.md"


def test_every_problem_is_reported_at_once_and_the_cli_exits_2_before_anything_is_created(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        "GAPWATCH_HOME": str(home),
        "GAPWATCH_HTTP_TIMEOUT": "nan",
        "GAPWATCH_TASK_RUNNER": "ray",
        "GAPWATCH_BLS_BASE_URL": "api.bls.gov",
        "GAPWATCH_ALERT_WEBHOOK_URL": "hooks.example/secret-token",
    }
    result = CliRunner().invoke(app, ["run"], env=env)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines == [
        "Configuration error: GAPWATCH_ALERT_WEBHOOK_URL must be an http:// or https:// URL, got a value that is "
        "not shown (a secret).",
        "GAPWATCH_HTTP_TIMEOUT must be a finite number of at least 1, got 'nan'.",
        "GAPWATCH_TASK_RUNNER must be 'threads' or 'dask', got 'ray'.",
        "GAPWATCH_BLS_BASE_URL must be an http:// or https:// URL, got 'api.bls.gov'.",
    ], lines
    assert "secret-token" not in result.output and "Traceback" not in result.output
    assert not home.exists()


def test_secrets_stay_out_of_every_representation() -> None:
    settings = load_settings(
        {
            "GAPWATCH_SEC_USER_AGENT": "gapwatch ops secret-contact@example.com",
            "GAPWATCH_BLS_API_KEY": "secret-bls-key",
            "GAPWATCH_ALERT_WEBHOOK_URL": "https://hooks.example/secret-token",
        }
    )
    for shown in (repr(settings), str(settings), repr(settings.live)):
        assert "secret" not in shown
    assert settings.live.secrets == ["gapwatch ops secret-contact@example.com", "secret-bls-key"]


def test_values_are_normalised_once() -> None:
    settings = load_settings(
        {
            "GAPWATCH_DBT_MEMORY_LIMIT": "50%",
            "GAPWATCH_YAHOO_BASE_URL": "http://127.0.0.1:8080/",
            "GAPWATCH_VERBOSE": "yes",
            "GAPWATCH_SAMPLE_YEARS": "",  # empty counts as unset
        }
    )
    assert re.fullmatch(r"\d+MiB", settings.dbt_memory_limit)
    assert settings.tool_environment()["GAPWATCH_DBT_MEMORY_LIMIT"] == settings.dbt_memory_limit  # what dbt reads
    assert settings.live.source("yahoo").base_url == "http://127.0.0.1:8080"
    assert settings.verbose is True and settings.sample.years == 5


# --- the tested set of packages ------------------------------------------------------------------------------------


def test_the_installed_packages_are_the_tested_set() -> None:
    """`make install` applies requirements.lock as constraints: the environment the tests run in is the lock."""
    from flows.ops import installed

    assert installed.locked_versions(), "requirements.lock lists no pins"
    assert installed.drift() == [], installed.warning()


def test_an_untested_install_is_named_by_every_command_that_runs_the_pipeline(tmp_path: Path, monkeypatch) -> None:
    from importlib import metadata

    from flows.ops import installed

    lock = tmp_path / "requirements.lock"
    pins = installed.LOCK_FILE.read_text().replace(f"fastapi=={metadata.version('fastapi')}", "fastapi==0.159.1")
    lock.write_text(pins + "not-a-gapwatch-dependency==1.0\n")
    assert [item.describe() for item in installed.drift(lock)] == [
        f"fastapi {metadata.version('fastapi')} (tested 0.159.1)",
        "not-a-gapwatch-dependency missing (tested 1.0)",
    ]
    monkeypatch.setattr(installed, "LOCK_FILE", lock)
    result = CliRunner().invoke(app, ["serve"], env={"PREFECT_API_URL": "", "GAPWATCH_HOME": str(tmp_path / "home")})
    assert result.exit_code == 2  # serve refuses a temporary Prefect server, after the check
    assert "warning: 2 installed package(s) differ from the tested set in requirements.lock: fastapi" in result.output
    assert "make install" in result.output


def test_every_fault_point_in_the_code_is_an_accepted_fault_pause() -> None:
    """The crash tests park runs at the fault points the code declares: each must pass the setting's check."""
    names = set()
    for path in (REPO / "flows").rglob("*.py"):
        names |= set(re.findall(r'fault_point\(f?"([a-z_]+:[a-z_{}.\'()\-]+)"\)', path.read_text()))
    concrete = {name for name in names if "{" not in name} | {"load:prices", "load:policy_events"}
    assert {"publish:duckdb", "publish:parquet", "publish:switch"} <= concrete
    for name in concrete:
        assert load_settings({"GAPWATCH_FAULT_PAUSE": name}).fault_pause == name
