"""The daily deployment: the ``daily`` flow on a cron schedule after the US close.

The schedule lives here, in one place: 18:30 America/New_York, Monday to
Friday (the NYSE closes at 16:00; this leaves time for late prints and for
Hong Kong's session of the same date to have closed long before).
"""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.daily import daily
from flows.settings import load_settings

DEPLOYMENT_NAME = "gapwatch-daily"


def daily_schedule() -> Cron:
    settings = load_settings()
    return Cron(settings.schedule_cron, timezone=settings.timezone)


def build_deployment() -> RunnerDeployment:
    """The daily deployment object: flow, name, schedule and tags."""
    return daily.to_deployment(name=DEPLOYMENT_NAME, schedules=[daily_schedule()], tags=["gapwatch"])


def serve_daily() -> None:
    """Register the deployment and run ``daily`` on its schedule until interrupted (Ctrl-C)."""
    serve(build_deployment())
