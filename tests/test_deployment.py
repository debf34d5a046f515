"""The operational commands: `gapwatch serve` registers the daily deployment on a real local Prefect server
with its cron schedule and timezone; the skip rule for days both markets are closed; `gapwatch docs`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from prefect_server import running_prefect_server
from typer.testing import CliRunner

from conftest import Home
from flows.calendars import closed_markets_reason
from flows.cli import app, docs_server
from flows.ops.deployment import DEPLOYMENT_NAME, FLOW_NAME

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _wait_for(check: Any, *, timeout: float, what: str, process: subprocess.Popen | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {process.returncode}")
        try:
            result = check()
        except (httpx.HTTPError, OSError):
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stop(process: subprocess.Popen, *, sig: int = signal.SIGINT) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real `prefect server start` on a free loopback port, with its own PREFECT_HOME and analytics off.

    Yields the API URL and the server's log file.
    """
    workdir = tmp_path_factory.mktemp("prefect")
    # schedule the deployment's runs promptly
    with running_prefect_server(workdir, extra_env={"PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2"}) as url:
        yield url, workdir / "prefect_home" / "server.log"


@pytest.fixture(scope="module")
def served(prefect_api: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """`gapwatch serve` running against that server, until the module's tests are done.

    Yields the API URL, the server's log and the GAPWATCH_HOME the served runs use.
    """
    url, server_log = prefect_api
    workdir = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "PREFECT_API_URL": url, "GAPWATCH_HOME": str(workdir / "home")}
    log_path = workdir / "serve.log"
    log = open(log_path, "w")
    serve = subprocess.Popen([str(BIN / "gapwatch"), "serve"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(
            lambda: httpx.get(f"{url}/deployments/name/{FLOW_NAME}/{DEPLOYMENT_NAME}", timeout=5).status_code == 200,
            timeout=180,
            what=f"deployment {FLOW_NAME}/{DEPLOYMENT_NAME} to be registered",
            process=serve,
        )
        yield url, server_log, workdir / "home"
    finally:
        _stop(serve)
        log.close()
    assert log_path.read_text().count(f"Serving deployment {FLOW_NAME}/{DEPLOYMENT_NAME}") == 1


def _read(url: str) -> tuple[Any, list[Any]]:
    """The deployment and its flow runs, through the Prefect client pointed at ``url``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> tuple[Any, list[Any]]:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(f"{FLOW_NAME}/{DEPLOYMENT_NAME}")
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[DEPLOYMENT_NAME]))
            )
            return deployment, runs

    with temporary_settings(updates={PREFECT_API_URL: url}):
        return asyncio.run(read())


def test_the_skip_rule_needs_both_nyse_and_hkex_closed() -> None:
    assert closed_markets_reason(date(2025, 12, 25)) == "NYSE and HKEX are both closed on Thu 2025-12-25"
    assert closed_markets_reason(date(2026, 1, 1)) is not None  # New Year's Day
    assert closed_markets_reason(date(2025, 1, 29)) is None  # Lunar New Year: HKEX closed, NYSE open
    assert closed_markets_reason(date(2025, 7, 4)) is None  # Independence Day: NYSE closed, HKEX open
    assert closed_markets_reason(date(2026, 11, 20)) is None  # an ordinary Friday
    assert closed_markets_reason(date(2099, 12, 25)) is None  # beyond the calendars: run (and fail there, loudly)


def test_serve_needs_a_prefect_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with Home(tmp_path / "home"):
        result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "needs a long-lived Prefect server" in result.stderr and "PREFECT_API_URL" in result.stderr


def test_serve_registers_the_daily_deployment_with_its_schedule(served: tuple[str, Path, Path]) -> None:
    url, _, _ = served
    deployment, _ = _read(url)
    assert deployment.name == DEPLOYMENT_NAME and "gapwatch" in deployment.tags
    assert deployment.parameters == {"skip_closed_markets": True}
    (schedule,) = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 18 * * 1-5", "America/New_York")
    assert schedule.active and not deployment.paused


def test_the_server_schedules_weekday_runs_at_1830_in_new_york(served: tuple[str, Path, Path]) -> None:
    url, server_log, _ = served

    def scheduled_runs() -> list[Any]:
        if "Can't evaluate bulk DML statement" in server_log.read_text():
            raise AssertionError(
                "The Prefect server's scheduler cannot insert scheduled runs (sqlalchemy.exc.InvalidRequestError: "
                "Can't evaluate bulk DML statement): Prefect 3.8 does not work with SQLAlchemy 2.1. "
                "Pin SQLAlchemy<2.1 (2.0.58 works). Server log: " + str(server_log)
            )
        return [run for run in _read(url)[1] if run.auto_scheduled]  # not the runs other tests start by hand

    runs = _wait_for(scheduled_runs, timeout=120, what="the scheduler to create the deployment's runs")
    for run in runs:
        local = run.expected_start_time.astimezone(ZoneInfo("America/New_York"))
        assert (local.hour, local.minute) == (18, 30) and local.weekday() < 5, local
        assert local > datetime.now(ZoneInfo("America/New_York"))
        assert run.state_type.value == "SCHEDULED" and run.parameters == {"skip_closed_markets": True}


def test_a_served_run_on_a_closed_day_completes_without_ingesting(served: tuple[str, Path, Path]) -> None:
    """A run of the deployment (the parameters the schedule uses), executed by `gapwatch serve`, on Christmas."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    url, _, home = served

    async def start_run() -> Any:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(f"{FLOW_NAME}/{DEPLOYMENT_NAME}")
            return await client.create_flow_run_from_deployment(deployment.id, parameters={"as_of": "2025-12-25"})

    async def state_of(flow_run_id: Any) -> Any:
        async with get_client() as client:
            return (await client.read_flow_run(flow_run_id)).state

    with temporary_settings(updates={PREFECT_API_URL: url}):
        flow_run = asyncio.run(start_run())
        assert flow_run.parameters == {"as_of": "2025-12-25", "skip_closed_markets": True}
        state = _wait_for(
            lambda: (current := asyncio.run(state_of(flow_run.id))).is_final() and current,
            timeout=180,
            what="the served run to finish",
        )
    assert state.is_completed(), state
    assert state.message == "skipped: NYSE and HKEX are both closed on Thu 2025-12-25"
    served_home = Home(home)
    assert served_home.query("select as_of, status, error from audit.runs") == [
        (date(2025, 12, 25), "skipped", "NYSE and HKEX are both closed on Thu 2025-12-25")
    ]
    assert served_home.query("select count(*) from raw.prices union all select count(*) from audit.loads") == [
        (0,),
        (0,),
    ]
    with served_home:
        status = json.loads(CliRunner().invoke(app, ["status", "--json"]).stdout)
    assert status["last_run"]["outcome"] == "skipped"


def test_docs_generates_the_dbt_site_without_serving(tmp_path: Path, warehouse: Home) -> None:
    home = Home(tmp_path / "home")
    shutil.copytree(warehouse.path, home.path, ignore=shutil.ignore_patterns("gapwatch.lock"))
    with home:
        result = CliRunner().invoke(app, ["docs", "--no-serve"])
    assert result.exit_code == 0, result.output
    index = home.path / "dbt_target" / "index.html"
    assert result.stdout.strip() == f"dbt docs generated: {index}"
    catalog = json.loads((home.path / "dbt_target" / "catalog.json").read_text())
    assert "model.gapwatch.relative_performance" in catalog["nodes"]
    # what `gapwatch docs` then serves
    server = docs_server(index.parent, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{base}/index.html", timeout=10) as response:
            assert response.status == 200 and b"dbt" in response.read()
        with urllib.request.urlopen(f"{base}/manifest.json", timeout=10) as response:
            assert "model.gapwatch.execution_gap" in json.loads(response.read())["nodes"]
    finally:
        server.shutdown()
        server.server_close()


def test_docs_without_a_warehouse_says_so(tmp_path: Path) -> None:
    with Home(tmp_path / "home"):
        result = CliRunner().invoke(app, ["docs", "--no-serve"])
    assert result.exit_code == 1 and "No warehouse at" in result.stderr
