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
The rule itself is ``flows.calendars.closed_markets_reason``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect.schedules import Cron

from flows.settings import Settings, load_settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

DEPLOYMENT_NAME = "gapwatch-daily"
FLOW_NAME = "daily"


def daily_schedule(settings: Settings | None = None) -> Cron:
    settings = settings or load_settings()
    return Cron(settings.schedule_cron, timezone=settings.timezone)


def build_deployment(flow: Any) -> RunnerDeployment:
    """The daily deployment of ``flow`` (``flows.daily.daily``): name, schedule, the skip rule and tags."""
    settings = load_settings()
    return flow.to_deployment(
        name=DEPLOYMENT_NAME,
        schedules=[daily_schedule(settings)],
        parameters={"skip_closed_markets": True},
        tags=["gapwatch"],
        description=(
            f"gapwatch daily pipeline, cron '{settings.schedule_cron}' ({settings.timezone}); "
            "skips dates on which NYSE and HKEX are both closed."
        ),
    )


def serve_daily(flow: Any) -> None:
    """Register the deployment of ``flow`` and run it on its schedule until interrupted (Ctrl-C)."""
    from prefect import serve

    serve(build_deployment(flow))
