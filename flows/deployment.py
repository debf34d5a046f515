"""The daily deployment: the ``daily`` flow on a cron schedule after the US close.

The schedule lives here, in one place: 18:30 America/New_York, Monday to
Friday (the NYSE closes at 16:00; this leaves time for late prints and for
Hong Kong's session of the same date to have closed long before). The cron
and timezone come from ``Settings.schedule_cron`` / ``Settings.timezone``.

Skip rule: the scheduled run passes ``skip_closed_markets=True``, so on a
weekday on which NYSE *and* HKEX are both closed (25 December, 1 January) the
flow completes at once without ingesting, with a log line, a "skipped" row in
audit.runs and a summary artifact saying why. If either market is open
(Lunar New Year: HKEX closed, NYSE open; 4 July: the reverse) it runs as usual.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from prefect.schedules import Cron

from flows.calendars import CalendarRangeError, sessions
from flows.settings import load_settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

DEPLOYMENT_NAME = "gapwatch-daily"
FLOW_NAME = "daily"
# Both must be closed for a scheduled day to be skipped.
SKIP_WHEN_CLOSED = {"XNYS": "NYSE", "XHKG": "HKEX"}


def closed_markets_reason(day: date) -> str | None:
    """Why a scheduled run on ``day`` ingests nothing (NYSE and HKEX both closed), or None to run.

    A date beyond the bundled calendars is not skipped: the run itself then
    fails with the calendar's own error, which says what to upgrade.
    """
    try:
        if any(len(sessions(exchange, day, day)) for exchange in SKIP_WHEN_CLOSED):
            return None
    except CalendarRangeError:
        return None
    return f"{' and '.join(SKIP_WHEN_CLOSED.values())} are both closed on {day:%a %Y-%m-%d}"


def daily_schedule() -> Cron:
    settings = load_settings()
    return Cron(settings.schedule_cron, timezone=settings.timezone)


def build_deployment() -> RunnerDeployment:
    """The daily deployment object: flow, name, schedule, the skip rule and tags."""
    from flows.daily import daily

    settings = load_settings()
    return daily.to_deployment(
        name=DEPLOYMENT_NAME,
        schedules=[daily_schedule()],
        parameters={"skip_closed_markets": True},
        tags=["gapwatch"],
        description=(
            f"gapwatch daily pipeline, cron '{settings.schedule_cron}' ({settings.timezone}); "
            "skips dates on which NYSE and HKEX are both closed."
        ),
    )


def serve_daily() -> None:
    """Register the deployment and run ``daily`` on its schedule until interrupted (Ctrl-C)."""
    from prefect import serve

    serve(build_deployment())
