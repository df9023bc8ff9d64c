"""The embedded store's schema versions: an older store is brought up to date when opened,
with nothing lost, and a store from a newer funchost is refused with a clear error."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from funchost.storage import sqlite_queues as queues
from funchost.storage.sqlite import SqliteStorage
from funchost.storage.sqlite_blobs import CHUNK
from funchost.storage.sqlite_db import BASE_SCHEMA, VERSION, open_store

BIG = bytes(range(256)) * (9 * 1024 * 1024 // 256 + 7)  # over two chunks, not a whole one


def make_version_0_store(path: Path) -> None:
    """A store as the first releases wrote it: the base layout, user_version 0."""
    db = sqlite3.connect(path)
    db.executescript(BASE_SCHEMA)
    db.execute("INSERT INTO queues (name) VALUES ('orders')")
    db.execute(
        "INSERT INTO messages (queue, id, content, inserted, expires, visible)"
        " VALUES ('orders', 'm1', 'hello', 1, 9e12, 0)"
    )
    db.execute("INSERT INTO containers (name) VALUES ('photos')")
    db.execute(
        "INSERT INTO blobs (container, name, data, etag, modified) VALUES"
        " ('photos', 'a.txt', x'6869', '\"0x1\"', 1)"
    )
    db.execute(
        "INSERT INTO blobs (container, name, data, etag, modified, lease_id, lease_expires)"
        " VALUES ('photos', 'big.bin', ?, '\"0x2\"', 1, 'lease-1', 9e9)",
        (BIG,),
    )
    db.commit()
    db.close()


def test_a_version_0_store_is_migrated_on_open_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "storage.db"
    make_version_0_store(path)

    async def check() -> None:
        store = SqliteStorage(path)
        try:
            got = await store.receive_messages("orders", 5, 30)
            assert [m.content for m in got] == ["hello"]
            found = await store.get_blob("photos", "a.txt")
            assert found is not None and found[0] == b"hi"
            big = await store.get_blob("photos", "big.bin")
            assert big is not None and big[0] == BIG and big[1].length == len(BIG)
            assert big[1].lease_state == "leased"
            assert not await store.acquire_lease("photos", "big.bin", "other", 15)
            assert await store.run(lambda db: queues.properties(db, "orders")) == ({}, 1)
        finally:
            await store.close()

    asyncio.run(check())
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
    # The large blob now lives in chunks, no longer in one value of its row.
    assert db.execute("SELECT data FROM blobs WHERE name = 'big.bin'").fetchone()[0] is None
    assert db.execute("SELECT max(length(data)) FROM chunks").fetchone()[0] == CHUNK
    db.close()


def test_two_stores_opening_an_old_store_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "storage.db"
    make_version_0_store(path)

    async def open_two() -> None:
        first, second = await asyncio.gather(
            asyncio.to_thread(SqliteStorage, path), asyncio.to_thread(SqliteStorage, path)
        )
        await first.close()
        await second.close()

    asyncio.run(open_two())


def test_a_store_of_a_newer_funchost_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "storage.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.close()
    with pytest.raises(sqlite3.DatabaseError, match="newer funchost"):
        SqliteStorage(path)


def _steps(db: sqlite3.Connection, operation: Callable[[], object]) -> int:
    """How many SQLite virtual machine steps (in thousands) `operation` takes."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    db.set_progress_handler(count, 1000)
    try:
        operation()
    finally:
        db.set_progress_handler(None, 0)
    return steps


def test_receive_and_peek_cost_the_same_on_a_deep_queue(tmp_path: Path) -> None:
    """A receive or peek reads the queue's first visible messages (and a receive its expired
    ones) by index: its cost does not grow with the messages waiting behind them."""
    db = open_store(tmp_path / "storage.db")
    queues.create(db, "deep", None)
    for _ in range(20_000):
        queues.send(db, "deep", "work", 0, None)
    queues.send(db, "deep", "hidden", 3600, None)  # not visible yet: never returned
    receive = _steps(db, lambda: queues.receive(db, "deep", 32, 30))
    peek = _steps(db, lambda: queues.peek(db, "deep", 32))
    # Reading or sorting the 20,000 messages takes hundreds of thousands of steps.
    assert receive < 20 and peek < 20, (receive, peek)
    taken = queues.receive(db, "deep", 32, 30)
    assert len(taken) == 32 and taken[0].content == "work"
    # No index by visibility: hiding a received message rewrites its row only.
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"messages_by_seq", "messages_by_expiry"} <= indexes
    assert "messages_by_visibility" not in indexes
    db.close()
