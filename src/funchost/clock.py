"""The time that timers, retry delays and queue messages' visibility go by.

`Clock` is real time. `VirtualClock` (what `funchost.testing.TestHost` runs on) is real time
plus an offset that `advance()` moves forward at once, waking whatever waits on the clock: a
timer due within the jump fires, a retry delay ends, a hidden message becomes visible, in
milliseconds of real time. It also knows which tasks are waiting on it, so the test host can
tell "busy" from "waiting for time to pass".

Only those three go by this clock; polling intervals and blob leases (a timer's lock, a blob
trigger's receipts) stay in real time. A queue message that a function is running on is hidden
by the store's clock, so its listener keeps it hidden across a jump (`holding`): a jump never
hands a message to a second invocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any


class Clock:
    def time(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait until `event` is set or `seconds` of this clock have passed; whether it was set."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
        return event.is_set()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    @contextlib.contextmanager
    def holding(self, extend: Callable[[float], Awaitable[None]]) -> Iterator[None]:
        """While inside, `await extend(seconds)` runs before the clock jumps forward by
        `seconds`, to keep a lease across the jump. Real time never jumps."""
        yield


REAL_TIME = Clock()


class VirtualClock(Clock):
    """Real time plus `offset`; `advance` (on the event loop) moves it forward."""

    def __init__(self) -> None:
        self.offset = 0.0
        #: Tasks waiting on this clock, and the clock time each waits for.
        self.waiting: dict[asyncio.Task[Any], float] = {}
        self._moved: asyncio.Future[None] | None = None
        self._changed: asyncio.Event | None = None
        self._holders: list[Callable[[float], Awaitable[None]]] = []

    def time(self) -> float:
        return time.time() + self.offset

    @contextlib.contextmanager
    def holding(self, extend: Callable[[float], Awaitable[None]]) -> Iterator[None]:
        self._holders.append(extend)
        try:
            yield
        finally:
            self._holders.remove(extend)

    async def advance(self, by: timedelta | float) -> None:
        """Move the clock forward by `by` (seconds, or a timedelta), once the leases held
        across the jump are extended by it."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        if seconds < 0:
            raise ValueError(f"a clock only moves forward; cannot advance by {seconds:g} s")
        for extend in list(self._holders):
            await extend(seconds)
        self.offset += seconds
        if self._moved is not None and not self._moved.done():
            self._moved.set_result(None)
        self._moved = None

    def changed(self) -> asyncio.Event:
        """Set whenever a task starts or stops waiting on the clock (the caller clears it)."""
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        deadline = self.time() + seconds
        task = asyncio.current_task()
        assert task is not None
        self.waiting[task] = deadline
        self.changed().set()
        try:
            while not event.is_set():
                remaining = deadline - self.time()
                if remaining <= 0:
                    return False
                if self._moved is None:
                    self._moved = asyncio.get_running_loop().create_future()
                setting = asyncio.ensure_future(event.wait())
                either: set[asyncio.Future[Any]] = {self._moved, setting}
                try:
                    await asyncio.wait(
                        either,
                        timeout=remaining,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    setting.cancel()
            return True
        finally:
            del self.waiting[task]
            self.changed().set()

    async def sleep(self, seconds: float) -> None:
        await self.wait(asyncio.Event(), seconds)
