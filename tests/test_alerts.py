"""What a run tells the outside world: the webhook alert (against a real loopback HTTP server) and the
markdown summary artifact in Prefect (read back through the Prefect client)."""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conftest import Home
from flows.ops import alerts
from flows.ops.summary import render_summary
from flows.settings import ConfigError, load_settings

pytestmark = pytest.mark.usefixtures("prefect_server")  # these tests run Prefect flows or read their artifacts

SECRET_PATH = "/services/T000/B000/secret-token-do-not-print"
APPRISE_PATH = "/apprise/secret-token-of-apprise"


class Webhook:
    """A loopback HTTP server recording every POST; answers with the queued statuses, then 200."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        self.delay_seconds = 0.0
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                webhook.requests.append(
                    {"path": self.path, "content_type": self.headers.get("Content-Type"), "json": json.loads(body)}
                )
                time.sleep(webhook.delay_seconds)
                status = webhook.statuses.pop(0) if webhook.statuses else 200
                try:
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"ok" if status == 200 else b"error")
                except BrokenPipeError:  # the client timed out and left
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    @property
    def apprise_url(self) -> str:
        """The same server as an apprise destination: apprise's JSON service POSTs {title, message, type, ...}."""
        return f"json://127.0.0.1:{self.server.server_address[1]}{APPRISE_PATH}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    yield server
    server.close()


def _settings(url: str, **extra: str) -> Any:
    return load_settings({"GAPWATCH_ALERT_WEBHOOK_URL": url, **extra})


def _artifact_markdown(flow_run_id: str) -> str:
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from flows.daily import ARTIFACT_KEY

    async def read() -> list[Any]:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[ARTIFACT_KEY]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)]),
                )
            )

    artifacts = asyncio.run(read())
    assert len(artifacts) == 1, artifacts
    assert artifacts[0].type == "markdown"
    return str(artifacts[0].data)


def test_a_successful_run_publishes_its_summary_artifact_and_posts_nothing(warehouse: Home, webhook: Webhook) -> None:
    summary = warehouse.summary  # type: ignore[attr-defined]
    assert summary.flow_run_id and summary.outcome == "succeeded"
    markdown = _artifact_markdown(summary.flow_run_id)
    assert markdown.startswith(f"# gapwatch run `{summary.run_id}`: succeeded")
    assert "| dataset | source | extracted | loaded | quarantined | validation | failed rules | status | load id |" in (
        markdown
    )
    for load in summary.loads:
        row = (
            f"| {load.dataset} | {load.source} | {load.rows_extracted} | {load.rows_loaded} | 0 | "
            f"{load.expectations_evaluated}/{load.expectations_evaluated} passed | - | succeeded | `{load.load_id}` |"
        )
        assert row in markdown
    for mart, rows in summary.mart_rows.items():
        assert f"| marts.{mart} | {rows} |" in markdown
    assert summary.dbt.describe() in markdown and f"**Published:** `{summary.published_path}`" in markdown
    assert alerts.notify(_settings(webhook.url), summary) is None
    assert webhook.requests == []


def test_a_partial_run_is_alerted_with_the_quarantined_rows(warehouse: Home, webhook: Webhook) -> None:
    summary = copy.deepcopy(warehouse.summary)  # type: ignore[attr-defined]
    prices = summary.loads[0]
    prices.rows_quarantined = 3
    prices.failed_rules = ["expect_column_values_to_be_between(column=volume)"]
    assert summary.outcome == "partial"
    result = alerts.notify(_settings(webhook.url), summary)
    assert result is not None and result.sent and result.attempts == 1
    (request,) = webhook.requests
    assert request["path"] == SECRET_PATH and request["content_type"] == "application/json"
    payload = request["json"]
    assert payload["text"].startswith(f"gapwatch run {summary.run_id} as of {summary.as_of} PARTIAL")
    blocks = json.dumps(payload["blocks"])
    assert f"*prices* PARTIAL, load `{prices.load_id}`: 3 row(s) quarantined" in blocks
    assert "expect_column_values_to_be_between(column=volume)" in blocks
    assert f"gapwatch quarantine show --load-id {prices.load_id}" in blocks and "gapwatch status" in blocks


def test_a_failing_run_alerts_the_webhook_with_what_failed_and_where_to_look(
    tmp_path: Path, warehouse: Home, webhook: Webhook
) -> None:
    bad_calendar = tmp_path / "policy_events.csv"
    good = (Path(__file__).parents[1] / "flows/sources/curated/policy_events.csv").read_text()
    bad_calendar.write_text(
        good + "2026-01-05-bogus-event,2026-01-05,rumour,US,Not a known category,https://example.org/\n"
    )
    shutil.copytree(warehouse.path, tmp_path / "home", ignore=shutil.ignore_patterns("gapwatch.lock"))
    webhook.statuses = [503]  # the first POST fails: the alert is retried once
    home = Home(
        tmp_path / "home",
        GAPWATCH_POLICY_EVENTS_FILE=str(bad_calendar),
        GAPWATCH_ALERT_WEBHOOK_URL=webhook.url,
        GAPWATCH_ALERT_URLS=webhook.apprise_url,
    )
    with home:
        summary = home.run()
    # the run's own result is intact
    assert not summary.success and summary.outcome == "failed"
    assert "Validation failed for dataset 'policy_events'" in summary.errors[0]
    assert summary.alert == (
        "sent to the webhook (GAPWATCH_ALERT_WEBHOOK_URL) after 2 attempt(s); "
        "sent to json:// (GAPWATCH_ALERT_URLS #1) after 1 attempt(s)"
    )
    posts = [request for request in webhook.requests if request["path"] == SECRET_PATH]
    (via_apprise,) = [request for request in webhook.requests if request["path"] == APPRISE_PATH]
    assert len(posts) == 2 and posts[0]["json"] == posts[1]["json"]
    payload = posts[1]["json"]
    assert set(payload) == {"text", "blocks"}
    failed = next(load for load in summary.loads if load.dataset == "policy_events")
    assert payload["text"] == f"gapwatch run {summary.run_id} as of {summary.as_of} FAILED: policy_events failed"
    assert payload["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "gapwatch run FAILED"}}
    assert all(block["type"] in {"header", "section"} for block in payload["blocks"])
    text = "\n".join(block["text"]["text"] for block in payload["blocks"])
    assert f"*policy_events* FAILED, load `{failed.load_id}`" in text
    assert "`expect_column_values_to_be_in_set(column=category, value_set=" in text
    assert f"landing file: `{failed.landing_path}`" in text
    assert f"GX result: `{home.path / 'validation' / failed.load_id}.json`" in text
    assert "marts: not republished" in text
    assert "`gapwatch status`" in text and str(home.path / "validation" / "index.html") in text
    assert summary.flow_run_id in text
    # apprise carries the same words
    assert via_apprise["json"]["title"] == "gapwatch run FAILED" and via_apprise["json"]["type"] == "info"
    message = via_apprise["json"]["message"]
    assert message.startswith(payload["text"]) and f"*policy_events* FAILED, load `{failed.load_id}`" in message
    assert "**Where to look**" in message and "secret-token" not in message
    # the webhook URL is a secret
    assert "secret-token" not in json.dumps(payload) and "secret-token" not in render_summary(summary)
    markdown = _artifact_markdown(summary.flow_run_id)
    assert markdown.startswith(f"# gapwatch run `{summary.run_id}`: failed")
    assert "expect_column_values_to_be_in_set" in markdown and "not published by this run" in markdown


def test_an_alert_that_cannot_be_delivered_only_reports_why(warehouse: Home, webhook: Webhook) -> None:
    failed = copy.deepcopy(warehouse.summary)  # type: ignore[attr-defined]
    failed.errors = ["dbt build failed; the published marts were left as they were."]
    webhook.statuses = [500, 500]
    result = alerts.notify(_settings(webhook.url), failed)
    assert result is not None and not result.sent and result.attempts == 2
    assert "HTTP 500" in (result.error or "") and "secret-token" not in (result.error or "")
    assert "could not be sent" in result.describe() and "unaffected" in result.describe()
    # a 4xx is not retried
    webhook.requests.clear()
    webhook.statuses = [404]
    result = alerts.notify(_settings(webhook.url), failed)
    assert result is not None and not result.sent and result.attempts == 1 and len(webhook.requests) == 1
    # nobody listening
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = alerts.notify(_settings(f"http://127.0.0.1:{closed_port}{SECRET_PATH}"), failed)
    assert result is not None and not result.sent and "network error" in (result.error or "")
    assert "secret-token" not in (result.error or "")
    # a webhook slower than the timeout
    webhook.statuses, webhook.delay_seconds = [], 3.0
    started = time.monotonic()
    result = alerts.notify(_settings(webhook.url, GAPWATCH_ALERT_TIMEOUT="1"), failed)
    assert result is not None and not result.sent and "ReadTimeout" in (result.error or "")
    assert time.monotonic() - started < 10


def test_the_webhook_setting_is_checked_and_never_shown() -> None:
    with pytest.raises(ConfigError, match="GAPWATCH_ALERT_WEBHOOK_URL must be an http") as problem:
        load_settings({"GAPWATCH_ALERT_WEBHOOK_URL": "hooks.example/secret-token"})
    assert "secret-token" not in str(problem.value)
    settings = load_settings({"GAPWATCH_ALERT_WEBHOOK_URL": "https://hooks.example/secret-token"})
    assert settings.alert_webhook_url.get_secret_value().endswith("secret-token")
    assert "secret-token" not in repr(settings) and "secret-token" not in str(settings)
    assert load_settings({}).alert_webhook_url.get_secret_value() == ""


def test_apprise_urls_are_checked_by_apprise_and_never_shown() -> None:
    urls = [
        "slack://T000AAAA/B000BBBB/secretsecretsecretsecret",
        "mailto://alerts:secret-password@example.com",
        "pagerduty://secret-integration-key@secret-api-key",
        "json://alerts.example/secret-path",
    ]
    settings = load_settings({"GAPWATCH_ALERT_URLS": ", ".join(urls)})
    assert [url.get_secret_value() for url in settings.alert_urls] == urls
    assert "secret" not in repr(settings)
    with pytest.raises(ConfigError) as problem:
        load_settings({"GAPWATCH_ALERT_URLS": f"{urls[0]} nosuchservice://secret-token"})
    assert str(problem.value) == (
        "GAPWATCH_ALERT_URLS must be apprise URLs (slack://…, msteams://…, mailto://…, pagerduty://…) separated by "
        "commas, got a value that is not shown (a secret): apprise knows no service by nosuchservice:// "
        "(GAPWATCH_ALERT_URLS #2)."
    )


def test_apprise_destinations_get_the_alert_and_failures_are_reported_without_the_url(
    warehouse: Home, webhook: Webhook
) -> None:
    failed = copy.deepcopy(warehouse.summary)  # type: ignore[attr-defined]
    failed.errors = ["dbt build failed; the published marts were left as they were."]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    nobody = f"json://127.0.0.1:{closed_port}/secret-token-nobody"
    webhook.statuses = [503]  # the apprise POST to the loopback server fails once
    settings = load_settings({"GAPWATCH_ALERT_URLS": f"{webhook.apprise_url},{nobody},{webhook.apprise_url}"})
    result = alerts.notify(settings, failed)
    assert result is not None and not result.sent
    first, second, third = result.deliveries
    assert (first.sent, second.sent, third.sent) == (False, False, True)
    assert first.destination == "json:// (GAPWATCH_ALERT_URLS #1)" and "503" in (first.error or "")
    assert second.destination == "json:// (GAPWATCH_ALERT_URLS #2)" and "onnection" in (second.error or "")
    described = result.describe()
    assert "secret-token" not in described and "unaffected" in described
    assert [request["path"] for request in webhook.requests] == [APPRISE_PATH, APPRISE_PATH]
    assert webhook.requests[1]["json"]["message"].startswith(f"gapwatch run {failed.run_id} as of {failed.as_of}")
    # nothing due: a succeeded run sends nothing anywhere
    assert alerts.notify(settings, warehouse.summary) is None  # type: ignore[attr-defined]
