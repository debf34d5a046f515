"""The daily deployment: the ``daily`` flow on a cron schedule after the US close.

The schedule lives here, in one place: 18:30 America/New_York, Monday to
Friday (the NYSE closes at 16:00; this leaves time for late prints and for
Hong Kong's session of the same date to have closed long before).
"""

from __future__ import annotations

from prefect.schedules import Cron

from flows.daily import daily
from flows.settings import load_settings

DEPLOYMENT_NAME = "gapwatch-daily"


def daily_schedule() -> Cron:
    settings = load_settings()
    return Cron(settings.schedule_cron, timezone=settings.timezone)


def serve_daily() -> None:
    """Start a long-lived process that runs ``daily`` on its schedule (Ctrl-C to stop)."""
    daily.serve(name=DEPLOYMENT_NAME, schedules=[daily_schedule()], tags=["gapwatch"])
