"""An inline store (the storage endpoint's): calls run on the event loop while nothing waits on
the store's thread; a call that meets the database locked by another process waits on the
thread without blocking the loop, and the calls after it follow it, in order."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

from funchost.storage import sqlite_queues as queues
from funchost.storage.sqlite import SqliteStorage


def test_an_inline_store_runs_its_calls_on_the_event_loop(tmp_path: Path) -> None:
    async def check() -> None:
        store = SqliteStorage(tmp_path / "storage.db", inline=True)
        try:
            await store.create_queue("work")
            where = await store.run(lambda db: threading.get_ident())
            assert where == threading.get_ident()
        finally:
            await store.close()

    asyncio.run(check())


def test_a_call_meeting_another_process_lock_waits_on_the_thread_and_keeps_order(
    tmp_path: Path,
) -> None:
    path = tmp_path / "storage.db"

    async def check() -> None:
        store = SqliteStorage(path, inline=True)
        try:
            await store.create_queue("work")
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.create_task(tick())
            sent = asyncio.create_task(store.send_message("work", "first"))
            await asyncio.sleep(0)
            loop_thread = threading.get_ident()
            # Made while the send waits: it must follow it, on the thread, not overtake it.
            after = asyncio.create_task(
                store.run(lambda db: (threading.get_ident(), queues.length(db, "work")))
            )
            started = time.monotonic()
            await asyncio.sleep(0.3)
            assert not sent.done() and not after.done()
            other.execute("COMMIT")
            other.close()
            await sent
            thread, length = await after
            assert length == 1 and thread != loop_thread
            assert time.monotonic() - started >= 0.3
            assert ticks >= 15  # the event loop ran meanwhile
            ticker.cancel()
            # Nothing waits on the thread any more: back on the event loop.
            assert await store.run(lambda db: threading.get_ident()) == loop_thread
            got = await store.receive_messages("work", 5, 30)
            assert [m.content for m in got] == ["first"]
        finally:
            await store.close()

    asyncio.run(check())
