"""The thread pool that runs plain `def` functions, resolving asyncio futures in batches.

`loop.run_in_executor` wraps every call in a concurrent future, chains it to an asyncio future
and wakes the event loop once per call. Under load that per-call wake-up and the extra
bookkeeping cost more than a small function. Here a finished call is appended to a list and the
loop is woken only when the list was empty, so one wake-up resolves every call that finished
in the meantime.

A thread cannot be stopped. When an invocation times out (`functionTimeout`), the invoker
writes its call off: the thread still running it no longer counts towards `max_workers`, and
the pool may start a replacement, up to `replacements` threads beyond `max_workers` (by default
as many again), so that one hung function does not starve the others. A written-off thread
whose call returns after all serves again, or ends if the pool has enough threads without it.
When every thread the pool may have is held by a timed-out call, the pool is exhausted: it
calls `on_exhausted` once (again only after a thread came back in between).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = None


class LoopThreadPool:
    def __init__(
        self,
        max_workers: int,
        thread_name_prefix: str = "funchost",
        *,
        replacements: int | None = None,
        on_exhausted: Callable[[], None] | None = None,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        # Threads that may be started beyond max_workers in place of written-off ones.
        self.replacements = max_workers if replacements is None else replacements
        self.on_exhausted = on_exhausted
        self.prefix = thread_name_prefix
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: set[threading.Thread] = set()
        # Threads whose call was written off and has not returned yet.
        self._hung: set[threading.Thread] = set()
        # The thread running each call (set by the thread, read under the lock by write_off).
        self._running: dict[asyncio.Future[Any], threading.Thread] = {}
        self._names = itertools.count()
        # Threads waiting for work, less the calls queued for them (negative: a backlog).
        self._idle = 0
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future[Any], bool, Any]] = []
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.exhausted = False

    @property
    def hung(self) -> int:
        """Threads still running a call that was written off."""
        return len(self._hung)

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run `fn(*args)` in a pool thread (without the caller's contextvars, as
        `run_in_executor` in the Python worker).

        The future gets what `fn` raised, whatever it is (SystemExit too): the caller decides
        what a call's failure means.
        """
        loop = asyncio.get_running_loop()
        self._loop = loop
        future: asyncio.Future[Any] = loop.create_future()
        self._work.put((future, fn, args))
        thread = None
        with self._lock:
            if self._idle <= 0 and self._may_start_thread():
                thread = self._new_thread()
            else:
                self._idle -= 1  # this item will take one idle thread
        if thread is not None:
            thread.start()
        return future

    def write_off(self, future: asyncio.Future[Any]) -> None:
        """Give up on the call behind `future` (cancelled: its invocation timed out).

        A call still queued is skipped when a thread takes it. A running one keeps its thread,
        which stops counting towards `max_workers`: calls waiting for a thread get a
        replacement now, later ones when they come.
        """
        started: list[threading.Thread] = []
        with self._lock:
            thread = self._running.get(future)
            if thread is None or thread in self._hung:
                return
            self._hung.add(thread)
            while self._idle < 0 and self._may_start_thread():
                self._idle += 1
                started.append(self._new_thread())
            exhausted = not self.exhausted and len(self._hung) >= (
                self.max_workers + self.replacements
            )
            if exhausted:
                self.exhausted = True
        for thread in started:
            thread.start()
        if exhausted and self.on_exhausted is not None:
            self.on_exhausted()

    def _may_start_thread(self) -> bool:
        threads = len(self._threads)
        return (
            threads - len(self._hung) < self.max_workers
            and threads < self.max_workers + self.replacements
            and not self._closed
        )

    def _new_thread(self) -> threading.Thread:
        thread = threading.Thread(
            target=self._run, name=f"{self.prefix}_{next(self._names)}", daemon=True
        )
        self._threads.add(thread)
        return thread

    def _run(self) -> None:
        me = threading.current_thread()
        work, running, hung = self._work, self._running, self._hung
        while True:
            item = work.get()
            if item is _STOP:
                return
            future, fn, args = item
            running[future] = me
            ok: bool | None = None
            value: Any = None
            # Read after `running` is set: a write-off sees this call running or cancelled.
            if not future.cancelled():
                try:
                    value, ok = fn(*args), True
                except StopIteration as exc:
                    # A future cannot take StopIteration; a coroutine turns it into this too.
                    value, ok = RuntimeError("function raised StopIteration"), False
                    value.__cause__ = exc
                except BaseException as exc:
                    value, ok = exc, False
            retire = wake = False
            with self._lock:
                del running[future]
                if hung and me in hung:
                    hung.discard(me)
                    self.exhausted = False
                    # Back after a write-off: stay only if the pool is short of threads.
                    retire = len(self._threads) - len(hung) > self.max_workers
                if ok is not None:
                    self._done.append((future, ok, value))
                    wake = not self._wake_pending
                    self._wake_pending = True
                if retire:
                    self._threads.discard(me)
                else:
                    self._idle += 1
            if wake:
                loop = self._loop
                if loop is not None and not loop.is_closed():
                    # RuntimeError: the loop closed meanwhile; nobody awaits the result.
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(self._resolve)
            if retire:
                return

    def _resolve(self) -> None:
        with self._lock:
            done, self._done = self._done, []
            self._wake_pending = False
        for future, ok, value in done:
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def shutdown(self) -> None:
        """Stop the threads once the calls already queued have run."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            count = len(self._threads)
        for _ in range(count):
            self._work.put(_STOP)
