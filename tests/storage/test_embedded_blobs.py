"""The embedded store keeps large blobs in chunks: written as they arrive, read by range,
and visible only once whole."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from funchost.storage import sqlite_blobs as blobs
from funchost.storage.base import BlobRefused
from funchost.storage.sqlite import SqliteStorage

DATA = os.urandom(blobs.CHUNK * 2 + 12345)


def test_a_large_blob_round_trips_through_chunks_and_reads_by_range(tmp_path: Path) -> None:
    async def check() -> None:
        store = SqliteStorage(tmp_path / "s.db")
        try:
            await store.create_container("c")
            info = await store.put_blob("c", "big", DATA)
            assert info.length == len(DATA)
            found = await store.get_blob("c", "big")
            assert found is not None and found[0] == DATA
            _, pieces = await store.run(lambda db: blobs.read_plan(db, "c", "big"))
            for start, end in [
                (0, 1),
                (5, blobs.CHUNK + 7),
                (blobs.CHUNK, blobs.CHUNK * 2),
                (len(DATA) - 3, len(DATA)),
            ]:
                got = b"".join([p async for p in store.read_pieces(pieces, start, end)])
                assert got == DATA[start:end], (start, end)
            assert await store.delete_blob("c", "big")
        finally:
            await store.close()
        db = sqlite3.connect(tmp_path / "s.db")
        assert db.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM contents").fetchone()[0] == 0
        db.close()

    asyncio.run(check())


def test_an_upload_cut_off_is_never_visible_and_is_collected(tmp_path: Path) -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield DATA[: blobs.CHUNK + 10]
        raise ConnectionError("the client left")

    async def check() -> None:
        store = SqliteStorage(tmp_path / "s.db")
        try:
            await store.create_container("c")
            with pytest.raises(ConnectionError):
                await store.write_content(parts())
            assert await store.blob_info("c", "x") is None
            orphan = await store.run(blobs.new_content)
            await store.run(lambda db: blobs.append_chunk(db, orphan, 0, b"abc"))
            assert await store.run(lambda db: blobs.collect_orphans(db, now=1e12)) == 1
        finally:
            await store.close()
        db = sqlite3.connect(tmp_path / "s.db")
        assert db.execute("SELECT count(*) FROM chunks").fetchone()[0] == 0
        db.close()

    asyncio.run(check())


def test_a_committed_block_list_is_the_blob_and_drops_the_rest(tmp_path: Path) -> None:
    async def check() -> None:
        store = SqliteStorage(tmp_path / "s.db")
        try:
            await store.create_container("c")
            for block_id, data in [("a", b"one-"), ("b", b"two-"), ("c", b"unused")]:
                piece = blobs.Piece(len(data), data=data)
                await store.run(
                    lambda db, i=block_id, p=piece: blobs.stage_block(db, "c", "x", i, p, None)
                )
            assert await store.blob_info("c", "x") is None  # staged blocks are not a blob
            write = blobs.BlobWrite()
            await store.run(
                lambda db: blobs.commit_blocks(
                    db, "c", "x", [("Latest", "b"), ("Latest", "a")], write
                )
            )
            found = await store.get_blob("c", "x")
            assert found is not None and found[0] == b"two-one-"
            _, committed, staged = await store.run(lambda db: blobs.block_list(db, "c", "x"))
            assert (committed, staged) == ([("b", 4), ("a", 4)], [])
            with pytest.raises(BlobRefused) as refused:
                await store.run(
                    lambda db: blobs.commit_blocks(db, "c", "x", [("Uncommitted", "a")], write)
                )
            assert refused.value.code == "InvalidBlockList"
            await store.run(
                lambda db: blobs.commit_blocks(db, "c", "x", [("Committed", "a")], write)
            )
            found = await store.get_blob("c", "x")
            assert found is not None and found[0] == b"one-"
        finally:
            await store.close()
        db = sqlite3.connect(tmp_path / "s.db")
        assert db.execute("SELECT count(*) FROM contents").fetchone()[0] == 1
        db.close()

    asyncio.run(check())
