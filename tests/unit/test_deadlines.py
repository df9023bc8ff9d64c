"""The functionTimeout watchdog: one task for a host's invocations, not one per invocation."""

from __future__ import annotations

import asyncio

from funchost.invocation.deadlines import Deadlines


def test_invocations_one_after_another_share_one_watchdog() -> None:
    async def scenario() -> None:
        deadlines = Deadlines(10.0)
        task = asyncio.current_task()
        assert task is not None
        deadlines.enter(task)  # an `async def` function that never waits: in and out at once
        deadlines.leave(task)
        watchdog = deadlines._watchdog
        assert watchdog is not None
        for _ in range(3):  # the watchdog gets to run between the two invocations
            await asyncio.sleep(0)
        deadlines.enter(task)
        deadlines.leave(task)
        assert deadlines._watchdog is watchdog and not watchdog.done()
        await deadlines.close()

    asyncio.run(scenario())


def test_the_watchdog_stops_when_nothing_runs_and_cancels_what_overruns() -> None:
    async def scenario() -> None:
        deadlines = Deadlines(0.2)  # looks every 50 ms
        task = asyncio.current_task()
        assert task is not None
        deadlines.enter(task)
        deadlines.leave(task)
        await asyncio.sleep(0.3)
        assert deadlines._watchdog is None  # two looks found nothing running

        async def overrun() -> bool:
            me = asyncio.current_task()
            assert me is not None
            deadlines.enter(me)
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                return deadlines.leave(me)
            deadlines.leave(me)
            return False

        assert await asyncio.wait_for(overrun(), 2.0) is True

    asyncio.run(scenario())
