"""The thread pool that runs plain `def` functions, resolving asyncio futures in batches.

`loop.run_in_executor` wraps every call in a concurrent future, chains it to an asyncio future
and wakes the event loop once per call. Under load that per-call wake-up and the extra
bookkeeping cost more than a small function. Here a finished call is appended to a list and the
loop is woken only when the list was empty, so one wake-up resolves every call that finished
in the meantime.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

_STOP = None


class LoopThreadPool:
    def __init__(self, max_workers: int, thread_name_prefix: str = "funchost") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.prefix = thread_name_prefix
        self._work: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._done: list[tuple[asyncio.Future[Any], bool, Any]] = []
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run `fn(*args)` in a pool thread (without the caller's contextvars, as
        `run_in_executor` in the Python worker)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        future: asyncio.Future[Any] = loop.create_future()
        self._work.put((future, fn, args))
        with self._lock:
            spawn = self._idle <= 0 and len(self._threads) < self.max_workers
            if not spawn:
                self._idle -= 1  # this item will take one idle thread
        if spawn:
            thread = threading.Thread(
                target=self._run, name=f"{self.prefix}_{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return future

    def _run(self) -> None:
        work = self._work
        while True:
            item = work.get()
            if item is _STOP:
                return
            future, fn, args = item
            try:
                value, ok = fn(*args), True
            except Exception as exc:
                value, ok = exc, False
            except BaseException as exc:
                # SystemExit or KeyboardInterrupt from user code fails that invocation only.
                value, ok = RuntimeError(f"{type(exc).__name__}: {exc}"), False
            with self._lock:
                self._done.append((future, ok, value))
                wake = not self._wake_pending
                self._wake_pending = True
                self._idle += 1
            if wake:
                loop = self._loop
                if loop is not None and not loop.is_closed():
                    # RuntimeError: the loop closed meanwhile; nobody awaits the result.
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(self._resolve)

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
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._work.put(_STOP)
