"""Alerts for failed and partial runs: a Slack-compatible webhook and apprise URLs.

Set ``GAPWATCH_ALERT_WEBHOOK_URL`` (a Slack incoming webhook, or anything that
accepts the same JSON: ``text`` + ``blocks``) and/or ``GAPWATCH_ALERT_URLS``
(apprise URLs separated by commas: ``slack://``, ``msteams://``, ``mailto://``,
``pagerduty://``, ``json://``, ... -- every service apprise delivers to), and every
run whose outcome is

- ``failed``  -- a dataset was rejected (validation, too many failed keys, an
  unreadable payload), dbt failed, another run held the lock, or the run
  crashed; the marts were not republished and the run exits 1 -- or
- ``partial`` -- the run published, but some keys failed (within
  ``GAPWATCH_MAX_FAILED_KEY_SHARE``) or rows were quarantined by warning rules,

is announced with what failed (dataset, load id, rules, keys) and where to look
(``gapwatch status``, the landing file, the validation page, ``gapwatch quarantine``).
Succeeded and skipped runs post nothing.

The webhook POST goes through the shared HTTP client (timeout, one retry on
network errors, 5xx and 429); each apprise URL is delivered by apprise with the
same timeout. The two carry the same words (``_message``). An alert that cannot
be delivered never changes the run's result: ``notify`` returns what happened
to each destination and the flow logs a warning. The URLs are secrets: they are
redacted from every message; a destination is named by its scheme and position.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from flows.settings import Settings, alert_url_name
from flows.sources.http import HttpClient, RetryPolicy, SourceError

ALERT_OUTCOMES = ("failed", "partial")
ATTEMPTS = 2  # the first POST and one retry
SECTION_LIMIT = 2900  # Slack rejects section texts over 3000 characters


WEBHOOK = "the webhook (GAPWATCH_ALERT_WEBHOOK_URL)"


@dataclass
class Delivery:
    """What happened to the alert at one destination (named without its secret URL)."""

    destination: str
    sent: bool
    attempts: int
    error: str | None = None

    def describe(self) -> str:
        if self.sent:
            return f"sent to {self.destination} after {self.attempts} attempt(s)"
        return f"could not be sent to {self.destination}: {self.error}"


@dataclass
class AlertResult:
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def sent(self) -> bool:
        """Delivered everywhere it was due."""
        return bool(self.deliveries) and all(delivery.sent for delivery in self.deliveries)

    @property
    def attempts(self) -> int:
        return sum(delivery.attempts for delivery in self.deliveries)

    @property
    def error(self) -> str | None:
        errors = [f"{d.destination}: {d.error}" for d in self.deliveries if not d.sent]
        return "; ".join(errors) or None

    def describe(self) -> str:
        text = "; ".join(delivery.describe() for delivery in self.deliveries)
        if not self.sent:
            text += ". The run's own result is unaffected; see `gapwatch status`."
        return text

    @classmethod
    def failed(cls, error: str) -> AlertResult:
        return cls([Delivery("the alert destinations", sent=False, attempts=0, error=error)])


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


@dataclass(frozen=True)
class _Message:
    """The words of an alert, shared by the Slack payload and the apprise body."""

    title: str
    headline: str
    facts: str
    problems: list[str]
    where: list[str]


def _message(settings: Settings, summary: Any) -> _Message:
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
        f"validation results: `{settings.paths.validation_page}`",
        f"landing zone: `{settings.paths.landing}`",
    ]
    if any(load.rows_quarantined for load in summary.loads):
        where.append("`gapwatch quarantine list`")
    return _Message(
        title=f"gapwatch run {outcome}",
        headline=headline,
        facts=" · ".join(facts) + f"\nmarts: {published}",
        problems=problems[:20],
        where=where,
    )


def build_payload(settings: Settings, summary: Any) -> dict[str, Any]:
    """The Slack-compatible message for a failed or partial run."""
    message = _message(settings, summary)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(message.title, 150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(message.facts)}},
    ]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}} for text in message.problems]
    blocks.append(
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip("*Where to look*\n" + "\n".join(message.where))}}
    )
    return {"text": _clip(message.headline, 1000), "blocks": blocks}


def build_text(settings: Settings, summary: Any) -> tuple[str, str]:
    """The (title, markdown body) an apprise destination receives: the same words as the webhook's payload."""
    message = _message(settings, summary)
    body = "\n\n".join([message.headline, message.facts, *message.problems, "**Where to look**", *message.where])
    return message.title, body


def notify(settings: Settings, summary: Any) -> AlertResult | None:
    """Send the alert when the run failed or was partial, to the webhook and every apprise URL configured;
    None when none was due.

    Never raises: delivery problems come back in the result, one per destination.
    """
    if summary.outcome not in ALERT_OUTCOMES:
        return None
    result = AlertResult()
    if settings.alert_webhook_url.get_secret_value():
        result.deliveries.append(_post_webhook(settings, summary))
    if settings.alert_urls:
        title, body = build_text(settings, summary)
        for number, url in enumerate(settings.alert_urls, start=1):
            result.deliveries.append(_send_apprise(url.get_secret_value(), number, title, body, settings))
    return result if result.deliveries else None


def _post_webhook(settings: Settings, summary: Any) -> Delivery:
    url = httpx.URL(settings.alert_webhook_url.get_secret_value())
    base = f"{url.scheme}://{url.netloc.decode('ascii')}"
    target = url.raw_path.decode("ascii") or "/"
    client = HttpClient(
        "alert_webhook",
        base,
        timeout_seconds=settings.alert_timeout_seconds,
        retry=RetryPolicy(attempts=ATTEMPTS, backoff_seconds=1.0, max_backoff_seconds=2.0, max_retry_after_seconds=10),
        secrets=[settings.alert_webhook_url.get_secret_value(), target if target != "/" else ""],
    )
    try:
        client.post(target, key=f"run {summary.run_id}", json=build_payload(settings, summary))
    except SourceError as exc:
        return Delivery(WEBHOOK, sent=False, attempts=client.requests_made, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - an alert must never break the run
        error = client.redact(f"{type(exc).__name__}: {exc}")
        return Delivery(WEBHOOK, sent=False, attempts=client.requests_made, error=error)
    finally:
        client.close()
    return Delivery(WEBHOOK, sent=True, attempts=client.requests_made)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _apprise_log() -> Iterator[_Records]:
    """apprise's own warnings, kept for the delivery's error and off the console (they may name hosts/paths)."""
    logger = logging.getLogger("apprise")
    records, propagate = _Records(), logger.propagate
    logger.addHandler(records)
    logger.propagate = False
    try:
        yield records
    finally:
        logger.removeHandler(records)
        logger.propagate = propagate


def _redact(text: str, url: str) -> str:
    """Remove the URL and every part of it that may be a token (user, password, path segments, query values)."""
    parts = [url, *re.split(r"[/:@?&=#]+", url.split("://", 1)[-1])]
    for part in sorted({part for part in parts if len(part) >= 4}, key=len, reverse=True):
        text = text.replace(part, "***")
    return text


def _send_apprise(url: str, number: int, title: str, body: str, settings: Settings) -> Delivery:
    import apprise

    destination = alert_url_name(url, number)
    try:
        with _apprise_log() as records:
            plugin = apprise.Apprise.instantiate(url)
            if plugin is None:
                return Delivery(destination, sent=False, attempts=0, error="apprise knows no service by this URL")
            plugin.socket_connect_timeout = plugin.socket_read_timeout = settings.alert_timeout_seconds
            bundle = apprise.Apprise()
            bundle.add(plugin)
            sent = bundle.notify(title=title, body=body, body_format=apprise.NotifyFormat.MARKDOWN)
    except Exception as exc:  # noqa: BLE001 - an alert must never break the run
        return Delivery(destination, sent=False, attempts=1, error=_redact(f"{type(exc).__name__}: {exc}", url))
    if sent:
        return Delivery(destination, sent=True, attempts=1)
    reason = _redact("; ".join(records.messages), url) or "apprise reported a failed delivery"
    return Delivery(destination, sent=False, attempts=1, error=reason)
