"""The daily deployment registers with its cron schedule and timezone on a real (test) Prefect server."""

from __future__ import annotations

import asyncio

import pytest

from flows.deployment import DEPLOYMENT_NAME, build_deployment

pytestmark = pytest.mark.usefixtures("prefect_server")  # these tests run Prefect flows


def test_deployment_registers_with_its_schedule() -> None:
    from prefect.client.orchestration import get_client

    deployment_id = build_deployment().apply()

    async def read():  # type: ignore[no-untyped-def]
        async with get_client() as client:
            return await client.read_deployment(deployment_id)

    registered = asyncio.run(read())
    assert registered.name == DEPLOYMENT_NAME
    schedule = registered.schedules[0].schedule
    assert (schedule.cron, schedule.timezone) == ("30 18 * * 1-5", "America/New_York")
    assert "gapwatch" in registered.tags
