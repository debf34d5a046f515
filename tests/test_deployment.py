"""The operational commands: `gapwatch serve` registers the daily deployment on a real local Prefect server
with its cron schedule and timezone; the skip rule for days both markets are closed; `gapwatch docs`."""

from __future__ import annotations

import asyncio
import json
import os
import re
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
    # PYTHONPATH: this checkout's flows, also when the venv's editable install points at another checkout
    env = {**os.environ, "PREFECT_API_URL": url, "GAPWATCH_HOME": str(workdir / "home"), "PYTHONPATH": str(REPO)}
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
    # one run at a time, in Prefect's own terms (the UI's "Concurrency Limit"), a second run enqueued
    assert deployment.global_concurrency_limit is not None and deployment.global_concurrency_limit.limit == 1
    assert deployment.concurrency_options is not None
    assert deployment.concurrency_options.collision_strategy.value == "ENQUEUE"


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


@pytest.fixture(scope="module")
def docs_home(tmp_path_factory: pytest.TempPathFactory, warehouse: Home) -> tuple[Home, Any]:
    """`gapwatch docs --no-serve`, for real, on a copy of the session warehouse: the home and the CLI result."""
    home = Home(tmp_path_factory.mktemp("docs") / "home")
    shutil.copytree(warehouse.path, home.path, ignore=shutil.ignore_patterns("gapwatch.lock"))
    with home:
        result = CliRunner().invoke(app, ["docs", "--no-serve"])
    return home, result


def test_docs_builds_the_site_and_the_dbt_docs_without_serving(docs_home: tuple[Home, Any]) -> None:
    home, result = docs_home
    assert result.exit_code == 0, result.output
    site = home.path / "docs_site"
    assert result.stdout.splitlines() == [
        f"documentation site: {site / 'index.html'}",
        f"dbt docs: {site / 'dbt' / 'static_index.html'}",
    ]
    catalog = json.loads((home.path / "dbt_target" / "catalog.json").read_text())
    assert "model.gapwatch.relative_performance" in catalog["nodes"]
    # what `gapwatch docs` then serves: the site at /, the dbt docs at /dbt/
    server = docs_server(site, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            page = response.read().decode()
            assert response.status == 200 and "<title>gapwatch</title>" in page
            assert 'href="dbt/static_index.html"' in page  # the navigation's link to the dbt docs
        with urllib.request.urlopen(f"{base}/marts/execution_gap.html", timeout=10) as response:
            assert 'id="formula_execution_gap_execution_gap"' in response.read().decode()
        with urllib.request.urlopen(f"{base}/dbt/", timeout=10) as response:
            assert "url=static_index.html" in response.read().decode()
        with urllib.request.urlopen(f"{base}/dbt/static_index.html", timeout=10) as response:
            assert "model.gapwatch.execution_gap" in response.read().decode()  # manifest and catalog built in
    finally:
        server.shutdown()
        server.server_close()


_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


def _script_and_stylesheet_references(html: str) -> list[str]:
    """Where a page loads scripts and stylesheets from: script src, link rel=stylesheet href, CSS @import."""
    found = re.findall(r"<script\b[^>]*?\bsrc\s*=\s*[\"']?([^\"'\s>]+)", html, flags=re.IGNORECASE)
    for tag in re.findall(r"<link\b[^>]*>", html, flags=re.IGNORECASE):
        if re.search(r"\brel\s*=\s*[\"']?[^\"'>]*stylesheet", tag, flags=re.IGNORECASE):
            found += re.findall(r"\bhref\s*=\s*[\"']?([^\"'\s>]+)", tag, flags=re.IGNORECASE)
    found += re.findall(r"@import\s+(?:url\()?\s*[\"']?([^\"')\s;]+)", html, flags=re.IGNORECASE)
    return found


def test_the_written_docs_load_nothing_from_another_host(docs_home: tuple[Home, Any]) -> None:
    home, result = docs_home
    assert result.exit_code == 0, result.output
    site = home.path / "docs_site"
    index = (site / "index.html").read_text()
    dbt_page = (site / "dbt" / "static_index.html").read_text()
    assert _script_and_stylesheet_references(index)  # the theme's own bundle and stylesheet, found
    pages = [site / "index.html", site / "dbt" / "static_index.html", *sorted((site / "marts").glob("*.html"))]
    for page in pages:
        external = [ref for ref in _script_and_stylesheet_references(page.read_text()) if _EXTERNAL.match(ref)]
        assert not external, f"{page} loads from other hosts: {external}"
    assert "fonts.googleapis.com" not in index  # theme.font: false
    # the dbt page's usage tracker (a script from a CDN) loads only when the manifest allows it
    assert re.search(r'"send_anonymous_usage_stats":\s*false', dbt_page)
    assert _script_and_stylesheet_references('<link rel="stylesheet" href="https://cdn.example/x.css">') == [
        "https://cdn.example/x.css"
    ]


def test_docs_without_a_warehouse_says_so(tmp_path: Path) -> None:
    with Home(tmp_path / "home"):
        result = CliRunner().invoke(app, ["docs", "--no-serve"])
    assert result.exit_code == 1 and "No warehouse at" in result.stderr


@pytest.mark.parametrize(
    ("sig", "sigint_ignored"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)],
    ids=["SIGTERM", "SIGINT", "SIGTERM-started-in-background"],
)
def test_serve_stops_cleanly_on_sigterm_and_sigint(
    prefect_api: tuple[str, Path], tmp_path: Path, sig: signal.Signals, sigint_ignored: bool
) -> None:
    """systemd and docker stop a service with SIGTERM, a terminal with SIGINT: both end serve with exit 0 and
    nothing on the console but its own lines (before: `RuntimeWarning: coroutine 'Runner.astop' was never
    awaited` on SIGTERM). A background job of a script (`gapwatch serve &`) starts with SIGINT ignored; SIGTERM
    still stops it (before: it never stopped). The others start with SIGINT at its default, whatever this
    test process inherited."""
    url, _ = prefect_api
    env = {**os.environ, "PREFECT_API_URL": url, "GAPWATCH_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(BIN / "gapwatch"), "serve"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN if sigint_ignored else signal.SIG_DFL),
        )
        try:
            _wait_for(
                lambda: "Runner started: waiting for scheduled runs" in log_path.read_text(),
                timeout=180,
                what="the runner to start",
                process=process,
            )
            process.send_signal(sig)
            code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = log_path.read_text()
    assert code == 0, output
    assert output.rstrip().endswith("Stopped."), output
    assert "RuntimeWarning" not in output and "never awaited" not in output and "Traceback" not in output, output


def test_the_docs_and_the_validation_page_open_from_disk_in_a_browser(docs_home: tuple[Home, Any]) -> None:
    """Opened as files (no server, no network): the dbt docs render their project (not "(loading)"), the site
    renders, the validation page lists the loads; nothing is requested from another host."""
    from playwright.sync_api import sync_playwright

    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.fail(f"Debian's chromium is not installed at {chromium}: run `make browser` (`make test` does).")
    home, result = docs_home
    assert result.exit_code == 0, result.output
    pages = {
        "dbt": home.path / "docs_site" / "dbt" / "static_index.html",
        "site": home.path / "docs_site" / "index.html",
        "validation": home.path / "validation" / "index.html",
    }
    seen: dict[str, str] = {}
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            for name, path in pages.items():
                page.goto(path.as_uri(), wait_until="load")
                if name == "dbt":  # the single-file page renders its inlined manifest and catalog
                    page.wait_for_function("document.body.innerText.includes('Welcome')", timeout=30_000)
                seen[name] = page.inner_text("body")
        finally:
            browser.close()
    assert "(loading)" not in seen["dbt"] and "Sources" in seen["dbt"] and "gapwatch" in seen["dbt"]
    assert "gapwatch" in seen["site"] and "Point in time" in seen["site"]
    from flows.datasets.registry import names

    assert "gapwatch validation results" in seen["validation"]
    for dataset in names():  # every dataset's load of the session warehouse, with its verdict
        assert f"{dataset} · {dataset}-" in seen["validation"], dataset
    assert "rules passed" in seen["validation"]
    assert [url for url in requests if not url.startswith(("file:", "data:", "about:"))] == []
