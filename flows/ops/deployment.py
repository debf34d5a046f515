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

Concurrency: the deployment has a Prefect concurrency limit of 1 (a second run is enqueued), beside the
file lock every run takes.
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
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    settings = load_settings()
    return flow.to_deployment(
        name=DEPLOYMENT_NAME,
        schedules=[daily_schedule(settings)],
        # One run at a time in Prefect too (the UI shows it), beside the run lock in GAPWATCH_HOME: a run
        # scheduled while another is running waits its turn instead of failing on the lock.
        concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
        parameters={"skip_closed_markets": True},
        tags=["gapwatch"],
        description=(
            f"gapwatch daily pipeline, cron '{settings.schedule_cron}' ({settings.timezone}); "
            "skips dates on which NYSE and HKEX are both closed."
        ),
    )


def serve_daily(flow: Any) -> None:
    """Register the deployment of ``flow`` and run it on its schedule until stopped by SIGINT (Ctrl-C) or
    SIGTERM (what systemd and docker send), both the same clean way: the runner stops in its own event loop.

    (Prefect's runner answers SIGTERM by calling its sync ``stop()`` from the signal handler and exiting, which
    leaves ``Runner.astop`` never awaited; SIGTERM is turned into SIGINT instead, the path Ctrl-C takes, also
    when the process was started with SIGINT ignored.)
    """
    import asyncio
    import signal

    from prefect.runner import Runner

    def as_interrupt(*_: object) -> None:
        signal.raise_signal(signal.SIGINT)

    # A process started as a background job of a script (`gapwatch serve &`) inherits SIGINT ignored: SIGTERM,
    # turned into SIGINT, would then do nothing and serve would never stop. Python's own handler restores both.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    runner = Runner(pause_on_shutdown=True)
    runner.handle_sigterm = as_interrupt  # type: ignore[method-assign]  # Runner.start installs this handler
    runner.add_deployment(build_deployment(flow))

    async def serve_until_stopped() -> None:
        async def announce() -> None:
            while not runner.started:
                await asyncio.sleep(0.2)
            print("Runner started: waiting for scheduled runs (Ctrl-C or SIGTERM stops it).", flush=True)

        announcing = asyncio.create_task(announce())
        try:
            await runner.start()
        finally:
            announcing.cancel()

    try:
        asyncio.run(serve_until_stopped())
    except KeyboardInterrupt:
        print("Stopped.", flush=True)
