"""The thread pool of `def` functions: calls written off after a timeout, replacements, and
exhaustion."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from funchost.invocation.threadpool import LoopThreadPool

WAIT = 30.0  # generous: only a broken pool waits this long


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), WAIT))


class Hang:
    """A call that blocks its thread until released; `started` tells when it runs."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.thread_name = ""

    def __call__(self) -> str:
        self.thread_name = threading.current_thread().name
        self.started.set()
        self.release.wait(WAIT)
        return "late"

    async def wait_started(self) -> None:
        assert await asyncio.to_thread(self.started.wait, WAIT)


async def time_out(future: asyncio.Future[Any], pool: LoopThreadPool) -> None:
    """What the invoker does when a `def` function's invocation times out."""
    future.cancel()
    pool.write_off(future)


def test_a_timed_out_call_is_replaced_and_others_still_run() -> None:
    async def scenario() -> None:
        pool = LoopThreadPool(1)
        hang = Hang()
        hung = pool.submit(hang)
        await hang.wait_started()
        await time_out(hung, pool)
        assert await pool.submit(lambda: "fast") == "fast"
        assert pool.hung == 1 and not pool.exhausted
        hang.release.set()
        pool.shutdown()

    run(scenario)


def test_calls_waiting_behind_a_hung_thread_get_a_replacement_at_the_write_off() -> None:
    async def scenario() -> None:
        pool = LoopThreadPool(1)
        hang = Hang()
        hung = pool.submit(hang)
        await hang.wait_started()
        waiting = pool.submit(lambda: "waited")
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the only thread is busy
        await time_out(hung, pool)
        assert await waiting == "waited"
        hang.release.set()
        pool.shutdown()

    run(scenario)


def test_a_call_that_timed_out_while_queued_never_runs() -> None:
    async def scenario() -> None:
        pool = LoopThreadPool(1)
        hang = Hang()
        first = pool.submit(hang)
        await hang.wait_started()
        ran = threading.Event()
        queued = pool.submit(ran.set)
        await time_out(queued, pool)
        assert pool.hung == 0  # it had no thread to write off
        hang.release.set()
        assert await first == "late"
        assert await pool.submit(lambda: "next") == "next"  # behind the skipped call
        assert not ran.is_set()
        pool.shutdown()

    run(scenario)


def test_the_pool_is_exhausted_once_every_allowed_thread_hangs() -> None:
    async def scenario() -> None:
        exhausted: list[int] = []
        pool = LoopThreadPool(2, replacements=1, on_exhausted=lambda: exhausted.append(1))
        hangs = [Hang() for _ in range(3)]
        for number, hang in enumerate(hangs, 1):
            future = pool.submit(hang)
            await hang.wait_started()
            await time_out(future, pool)
            assert exhausted == ([1] if number == 3 else [])
        assert pool.exhausted and pool.hung == 3
        late = pool.submit(lambda: "after")
        await asyncio.sleep(0.05)
        assert not late.done()  # no thread left, and none may be started
        hangs[0].release.set()  # one comes back: it serves again
        assert await late == "after"
        assert not pool.exhausted
        for hang in hangs:
            hang.release.set()
        pool.shutdown()

    run(scenario)


def test_a_written_off_thread_that_returns_leaves_when_the_pool_has_enough() -> None:
    async def scenario() -> None:
        pool = LoopThreadPool(1)
        hang = Hang()
        hung = pool.submit(hang)
        await hang.wait_started()
        await time_out(hung, pool)
        names = {await pool.submit(lambda: threading.current_thread().name) for _ in range(5)}
        hang.release.set()
        # The replacement keeps serving; the returned thread leaves instead of a second one.
        for _ in range(200):
            if not any(t.name == hang.thread_name for t in threading.enumerate()):
                break
            await asyncio.sleep(0.05)
        assert not any(t.name == hang.thread_name for t in threading.enumerate())
        assert hang.thread_name not in names and len(names) == 1
        assert await pool.submit(lambda: threading.current_thread().name) in names
        assert pool.hung == 0
        pool.shutdown()

    run(scenario)


@pytest.mark.parametrize(
    "error", [SystemExit(3), KeyboardInterrupt(), GeneratorExit(), asyncio.CancelledError()]
)
def test_what_a_call_raises_reaches_its_future_as_is(error: BaseException) -> None:
    def fail() -> None:
        raise error

    async def scenario() -> None:
        pool = LoopThreadPool(1)
        with pytest.raises(type(error)) as raised:
            await pool.submit(fail)
        assert raised.value is error
        assert await pool.submit(lambda: "still serving") == "still serving"
        pool.shutdown()

    run(scenario)


def test_stop_iteration_from_a_call_fails_it_instead_of_breaking_the_batch() -> None:
    def fail() -> None:
        next(iter([]))

    async def scenario() -> None:
        pool = LoopThreadPool(1)
        with pytest.raises(RuntimeError, match="StopIteration"):
            await pool.submit(fail)
        assert await pool.submit(lambda: "still serving") == "still serving"
        pool.shutdown()

    run(scenario)
