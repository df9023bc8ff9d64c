"""`functionTimeout` for every invocation of a host with one timer, not one per invocation.

A per-invocation `asyncio.timeout` schedules and cancels a timer handle for each call, which
costs more than a small HTTP function itself. Here an invocation registers its task and
deadline in a dict, and one watchdog task, waking at a fraction of the timeout, cancels the
tasks whose deadline has passed (the same cancel/uncancel protocol `asyncio.timeout` uses).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any


class Deadline:
    __slots__ = ("at", "expired", "task")

    def __init__(self, task: asyncio.Task[Any], at: float) -> None:
        self.task = task
        self.at = at
        self.expired = False


class Deadlines:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        # Precision: a tenth of the timeout, between 50 ms and 1 s.
        self.interval = min(1.0, max(0.05, timeout / 10))
        self._entries: set[Deadline] = set()
        self._watchdog: asyncio.Task[None] | None = None

    def enter(self, task: asyncio.Task[Any] | None) -> Deadline:
        """Register the invocation's task; call `leave` when the invocation ends."""
        assert task is not None, "an invocation runs in an asyncio task"
        entry = Deadline(task, time.monotonic() + self.timeout)
        self._entries.add(entry)
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        return entry

    def leave(self, entry: Deadline) -> None:
        self._entries.discard(entry)

    async def _watch(self) -> None:
        while self._entries:
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            for entry in list(self._entries):
                if not entry.expired and entry.at <= now:
                    entry.expired = True
                    entry.task.cancel()
        self._watchdog = None

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
