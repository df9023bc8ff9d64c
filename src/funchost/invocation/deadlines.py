"""`functionTimeout` for every invocation of a host with one timer, not one per invocation.

A per-invocation `asyncio.timeout` schedules and cancels a timer handle for each call, which
costs more than a small HTTP function itself. Here an invocation registers its task's
deadline in a dict, and one watchdog task, waking at a fraction of the timeout, cancels the
tasks whose deadline has passed (the same cancel/uncancel protocol `asyncio.timeout` uses).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any


class Deadlines:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # Precision: a tenth of the timeout, between 50 ms and 1 s.
        self.interval = min(1.0, max(0.05, timeout / 10))
        # The task of each running invocation and when its time is up (an invocation awaits
        # its function, so one task runs one invocation at a time); and the tasks cancelled.
        self._running: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._watchdog: asyncio.Task[None] | None = None

    def enter(self, task: asyncio.Task[Any]) -> None:
        """Register the invocation's task; call `leave` when the invocation ends."""
        self._running[task] = time.monotonic() + self.timeout
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())

    def leave(self, task: asyncio.Task[Any]) -> bool:
        """Unregister the task; True if its time ran out (the watchdog cancelled it)."""
        del self._running[task]
        if self._expired and task in self._expired:
            self._expired.discard(task)
            return True
        return False

    async def _watch(self) -> None:
        # It stops when two looks in a row find nothing running, not the first: an `async def`
        # function that never waits is entered and left in one step, so under load nothing is
        # running whenever the watchdog looks, and a watchdog that stopped then would be a new
        # task for nearly every invocation.
        idle = False
        while True:
            await asyncio.sleep(self.interval)
            if not self._running:
                if idle:
                    break
                idle = True
                continue
            idle = False
            now = time.monotonic()
            for task, at in list(self._running.items()):
                if at <= now and task not in self._expired:
                    self._expired.add(task)
                    task.cancel()
        self._watchdog = None

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
