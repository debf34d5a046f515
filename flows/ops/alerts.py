"""Webhook alerts for failed and partial runs: Slack-compatible JSON (``text`` + ``blocks``).

Set ``GAPWATCH_ALERT_WEBHOOK_URL`` (a Slack incoming webhook, or anything that
accepts the same JSON) and every run whose outcome is

- ``failed``  -- a dataset was rejected (validation, too many failed keys, an
  unreadable payload), dbt failed, another run held the lock, or the run
  crashed; the marts were not republished and the run exits 1 -- or
- ``partial`` -- the run published, but some keys failed (within
  ``GAPWATCH_MAX_FAILED_KEY_SHARE``) or rows were quarantined by warning rules,

is announced with what failed (dataset, load id, rules, keys) and where to look
(``gapwatch status``, the landing file, the GX Data Docs, ``gapwatch quarantine``).
Succeeded and skipped runs post nothing.

The POST goes through the shared HTTP client (timeout, one retry on network
errors, 5xx and 429). An alert that cannot be delivered never changes the
run's result: ``notify`` returns what happened and the flow logs a warning.
The webhook URL is a secret: it is redacted from every message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from flows.settings import Settings
from flows.sources.http import HttpClient, RetryPolicy, SourceError

ALERT_OUTCOMES = ("failed", "partial")
ATTEMPTS = 2  # the first POST and one retry
SECTION_LIMIT = 2900  # Slack rejects section texts over 3000 characters


@dataclass
class AlertResult:
    sent: bool
    attempts: int
    error: str | None = None

    def describe(self) -> str:
        if self.sent:
            return f"sent to the webhook (GAPWATCH_ALERT_WEBHOOK_URL) after {self.attempts} attempt(s)"
        return (
            f"could not be sent to the webhook (GAPWATCH_ALERT_WEBHOOK_URL): {self.error}. "
            "The run's own result is unaffected; see `gapwatch status`."
        )


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 20] + "\n... (truncated)"


def _problems(settings: Settings, summary: Any) -> list[str]:
    """One mrkdwn paragraph per thing that went wrong: dataset, load id, rules or keys, landing file."""
    problems: list[str] = []
    mentioned: set[str] = set()
    for load in summary.loads:
        rules = summary.failed_rules.get(load.load_id, [])
        landing = f"\nlanding file: `{load.landing_path}`" if load.landing_path else ""
        result = settings.paths.home / "validation" / f"{load.load_id}.json"
        if rules and result.exists():
            landing += f"\nGX result: `{result}`"
        if load.status == "failed":
            mentioned.add(load.load_id)
            first_line = (load.error or "failed").splitlines()[0]
            text = f"*{load.dataset}* FAILED, load `{load.load_id}`: {first_line}"
            if rules:
                text += "\nfailed rules: " + ", ".join(f"`{rule}`" for rule in rules)
            if load.failures:
                text += f"\nfailed keys ({len(load.failures)}): " + ", ".join(f.key for f in load.failures[:10])
            problems.append(text + landing)
        elif load.status == "partial" or load.rows_quarantined:
            parts = []
            if load.failures:
                keys = ", ".join(failure.key for failure in load.failures[:10])
                parts.append(f"{len(load.failures)} key(s) failed: {keys}")
            if load.rows_quarantined:
                parts.append(
                    f"{load.rows_quarantined} row(s) quarantined"
                    + (" by " + ", ".join(f"`{rule}`" for rule in rules) if rules else "")
                    + f" (`gapwatch quarantine show --load-id {load.load_id}`)"
                )
            problems.append(f"*{load.dataset}* PARTIAL, load `{load.load_id}`: " + "; ".join(parts) + landing)
    for error in summary.errors:
        if not any(load_id in error for load_id in mentioned):
            problems.append(error.splitlines()[0])
    return problems


def build_payload(settings: Settings, summary: Any) -> dict[str, Any]:
    """The Slack-compatible message for a failed or partial run."""
    outcome = summary.outcome.upper()
    problems = _problems(settings, summary)
    datasets = sorted({load.dataset for load in summary.loads if load.status == "failed"})
    headline = f"gapwatch run {summary.run_id} as of {summary.as_of} {outcome}"
    if datasets:
        headline += f": {', '.join(datasets)} failed"
    elif problems:
        headline += f": {problems[0].splitlines()[0]}"
    facts = [
        f"*run* `{summary.run_id}`",
        f"*as of* {summary.as_of}",
        f"*source* {summary.source}",
        f"*outcome* {summary.outcome}",
    ]
    if summary.flow_run_id:
        facts.append(f"*Prefect flow run* `{summary.flow_run_id}`")
    published = "not republished: BI readers keep the last good marts" if not summary.success else "published"
    where = [
        f"`gapwatch status` (GAPWATCH_HOME={settings.paths.home})",
        f"GX Data Docs: `{settings.paths.data_docs_index}`",
        f"landing zone: `{settings.paths.landing}`",
    ]
    if any(load.rows_quarantined for load in summary.loads):
        where.append("`gapwatch quarantine list`")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(f"gapwatch run {outcome}", 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(" · ".join(facts) + f"\nmarts: {published}")}},
    ]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}} for text in problems[:20]]
    blocks.append(
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip("*Where to look*\n" + "\n".join(where))}}
    )
    return {"text": _clip(headline, 1000), "blocks": blocks}


def notify(settings: Settings, summary: Any) -> AlertResult | None:
    """POST the alert when the run failed or was partial and a webhook is configured; None when none was due.

    Never raises: delivery problems come back in the result.
    """
    if not settings.alert_webhook_url or summary.outcome not in ALERT_OUTCOMES:
        return None
    url = httpx.URL(settings.alert_webhook_url)
    base = f"{url.scheme}://{url.netloc.decode('ascii')}"
    target = url.raw_path.decode("ascii") or "/"
    client = HttpClient(
        "alert_webhook",
        base,
        timeout_seconds=settings.alert_timeout_seconds,
        retry=RetryPolicy(attempts=ATTEMPTS, backoff_seconds=1.0, max_backoff_seconds=2.0, max_retry_after_seconds=10),
        secrets=[settings.alert_webhook_url, target if target != "/" else ""],
    )
    try:
        client.post(target, key=f"run {summary.run_id}", json=build_payload(settings, summary))
    except SourceError as exc:
        return AlertResult(sent=False, attempts=client.requests_made, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - an alert must never break the run
        error = client.redact(f"{type(exc).__name__}: {exc}")
        return AlertResult(sent=False, attempts=client.requests_made, error=error)
    finally:
        client.close()
    return AlertResult(sent=True, attempts=client.requests_made)
