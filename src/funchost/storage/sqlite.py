"""The embedded store: queues, blobs and leases in one SQLite database in WAL mode.

Several host processes on one machine share it safely: every change is one transaction, and a
receive selects and hides its messages in one `BEGIN IMMEDIATE` transaction, so no message is
handed to two receivers. Committed transactions are in the write-ahead log before a call
returns, so a message acknowledged as sent survives the host being killed (kill -9); with
`synchronous=NORMAL`, a power loss can lose the last transactions, as WAL mode documents.

SQLite calls block, so they run on one thread of this store's own, with one connection; the
event loop never waits on the database lock. A store opened `inline` (the storage endpoint's
process, whose event loop does nothing but storage) runs each call on the event loop itself
while no call is waiting on that thread: most calls take tens of microseconds, and handing each
to a thread and back cost more than the call. A call that meets the database locked by another
process (it gives up at once inline) goes to the thread and waits there, and later calls follow
it there until it is done, so calls never overlap and run in the order they were made; every
store operation is one statement or one transaction, so one that met the lock changed nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from funchost.clock import REAL_TIME, Clock
from funchost.storage import sqlite_blobs as blobs
from funchost.storage import sqlite_queues as queues
from funchost.storage.base import (
    DEFAULT_MESSAGE_TTL,
    BlobExists,
    BlobInfo,
    BlobRefused,
    ContainerNotFound,
    LeaseHeld,
    Storage,
    StoredMessage,
)
from funchost.storage.sqlite_db import BUSY_TIMEOUT_MS, open_store, transaction

T = TypeVar("T")


# How often the store looks for commits made through other connections.
CHANGE_POLL = 0.02


def _data_version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA data_version").fetchone()[0])


def _busy(error: sqlite3.OperationalError) -> bool:
    """The database is locked by another connection (SQLITE_BUSY and its extended codes)."""
    return getattr(error, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_BUSY


def _waiting(fn: Callable[[sqlite3.Connection], T], db: sqlite3.Connection) -> T:
    """`fn` on the store's thread of an inline store, waiting for the database lock as long as
    a store that is not inline does."""
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        return fn(db)
    finally:
        db.execute("PRAGMA busy_timeout=0")


class SqliteStorage(Storage):
    def __init__(self, path: Path, *, inline: bool = False, clock: Clock = REAL_TIME) -> None:
        self.path = path
        self.clock = clock
        self.description = f"embedded store {path}"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="funchost-sqlite")
        self._db: sqlite3.Connection | None = None
        self._followers: list[Callable[[], None]] = []
        self._following: asyncio.Task[None] | None = None
        self._inline = inline
        self._last_job: Future[Any] | None = None  # the last call handed to the thread
        # Deletes of messages waiting for the next batch, and the task writing the batches
        # (delete_message).
        self._deletes: list[tuple[tuple[str, str, str], asyncio.Future[None]]] = []
        self._deleting: asyncio.Task[None] | None = None
        # The connection is made on the store's thread, and used there (and, inline, on the
        # event loop while the thread has nothing to do).
        self._executor.submit(self._open).result()

    # -- plumbing
    def _open(self) -> None:
        self._db = open_store(self.path, inline=self._inline)
        if self.clock is not REAL_TIME:
            self._db.clock = self.clock.time  # type: ignore[attr-defined]

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        assert db is not None, "the store is closed"
        if not self._inline:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, db)
        if self._last_job is None or self._last_job.done():
            try:
                return fn(db)
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
        job = self._executor.submit(_waiting, fn, db)
        self._last_job = job
        return await asyncio.wrap_future(job)

    @staticmethod
    def _transaction(db: sqlite3.Connection, fn: Callable[[], T]) -> T:
        with transaction(db):
            return fn()

    def follow_changes(self, callback: Callable[[], None]) -> None:
        """Other connections' commits (other processes, other apps, the storage endpoint) are
        seen within CHANGE_POLL seconds: SQLite's `data_version` changes with each, and
        asking for it is one cheap statement."""
        self._followers.append(callback)
        if self._following is None:
            self._following = asyncio.get_running_loop().create_task(self._follow())

    def changed(self) -> None:
        """This process changed the store through this object (the storage endpoint in a
        host): tell the followers now, as `data_version` does for other connections."""
        for callback in self._followers:
            callback()

    async def _follow(self) -> None:
        last = await self._run(_data_version)
        while True:
            await asyncio.sleep(CHANGE_POLL)
            version = await self._run(_data_version)
            if version != last:
                last = version
                for callback in self._followers:
                    callback()

    async def close(self) -> None:
        if self._deleting is not None:  # the deletes already asked for are written first
            await asyncio.shield(self._deleting)
        following, self._following = self._following, None
        if following is not None:
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=False)

    # -- queues
    async def create_queue(self, queue: str) -> None:
        await self._run(lambda db: queues.create(db, queue, None))

    async def list_queues(self) -> list[str]:
        return await self._run(queues.names)

    async def send_message(
        self,
        queue: str,
        content: str,
        *,
        visibility_delay: float = 0.0,
        time_to_live: float = DEFAULT_MESSAGE_TTL,
    ) -> StoredMessage:
        return await self._run(
            lambda db: queues.send(db, queue, content, visibility_delay, time_to_live)
        )

    async def receive_messages(
        self, queue: str, max_messages: int, visibility_timeout: float
    ) -> list[StoredMessage]:
        return await self._run(
            lambda db: queues.receive(db, queue, max_messages, visibility_timeout)
        )

    async def peek_messages(self, queue: str, max_messages: int) -> list[StoredMessage]:
        messages = await self._run(lambda db: queues.peek(db, queue, max_messages))
        return [replace(m, pop_receipt=None) for m in messages]

    async def update_visibility(
        self, queue: str, message: StoredMessage, visibility_timeout: float
    ) -> StoredMessage:
        receipt = message.pop_receipt or ""
        return await self._run(
            lambda db: queues.update(db, queue, message.id, receipt, visibility_timeout)
        )

    async def delete_message(self, queue: str, message: StoredMessage) -> None:
        """Delete `message` once its function is done with it. Deletes made while a batch of
        them is being written go together in the next batch, one transaction for all: a commit
        for each message cost more than all of a trigger's other store work (a queue drained
        at about 5,200 messages a second, its store thread busy deleting half the time)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._deletes.append(((queue, message.id, message.pop_receipt or ""), done))
        if self._deleting is None:
            self._deleting = loop.create_task(self._delete_batches())
        await done

    async def _delete_batches(self) -> None:
        batch: list[tuple[tuple[str, str, str], asyncio.Future[None]]] = []
        try:
            while self._deletes:
                batch, self._deletes = self._deletes, []
                deletes = [delete for delete, _ in batch]
                try:
                    outcomes = await self._run(partial(queues.delete_messages, deletes=deletes))
                except Exception as exc:  # the transaction failed: none of them was deleted
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for (_, done), outcome in zip(batch, outcomes, strict=True):
                    if done.done():
                        continue  # its caller stopped waiting
                    if outcome is None:
                        done.set_result(None)
                    else:
                        done.set_exception(outcome)
        except asyncio.CancelledError:  # the store closing under them: nobody is left waiting
            for _, done in (*batch, *self._deletes):
                done.cancel()
            self._deletes = []
            raise
        finally:
            self._deleting = None

    async def queue_length(self, queue: str) -> int:
        def run(db: sqlite3.Connection) -> int:
            queues.require(db, queue)
            return queues.length(db, queue)

        return await self._run(run)

    async def run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run `operation` on the store's thread with its connection: how the storage
        endpoint (funchost.endpoint) reaches the operations beyond the Storage interface, the
        functions of funchost.storage.sqlite_queues with their arguments bound."""
        return await self._run(operation)

    # -- blobs
    async def create_container(self, container: str) -> None:
        await self._run(lambda db: blobs.create_container(db, container, {}))

    async def list_containers(self) -> list[str]:
        def run(db: sqlite3.Connection) -> list[str]:
            return [r[0] for r in db.execute("SELECT name FROM containers ORDER BY name")]

        return await self._run(run)

    async def put_blob(
        self,
        container: str,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_none_match: bool = False,
        lease_id: str | None = None,
    ) -> BlobInfo:
        conditions = blobs.Conditions(
            if_none_match="*" if if_none_match else None, lease_id=lease_id
        )
        write = blobs.BlobWrite(content_type, {}, dict(metadata or {}))
        try:
            if len(data) <= blobs.INLINE:
                piece = blobs.Piece(len(data), data=data)
            else:
                piece = await self.write_content(_pieces_of(data))
            return await self._run(
                lambda db: blobs.put(db, container, name, piece, write, conditions)
            )
        except BlobRefused as refused:
            if refused.code == "BlobAlreadyExists":
                raise BlobExists(f"blob {container}/{name} already exists") from None
            if refused.code.startswith("Lease"):
                raise LeaseHeld(f"blob {container}/{name} is leased") from None
            raise

    async def write_content(self, parts: AsyncIterator[bytes] | Iterator[bytes]) -> blobs.Piece:
        """Write bytes, as they come, into a new content of CHUNK-sized chunks: nothing links
        it yet, so it is invisible until a blob write or staged block links it (or garbage
        if none ever does)."""
        content = await self._run(blobs.new_content)
        size = seq = 0
        pending = bytearray()
        try:
            async for part in _as_async(parts):
                pending += part
                while len(pending) >= blobs.CHUNK:
                    chunk = bytes(pending[: blobs.CHUNK])
                    del pending[: blobs.CHUNK]
                    await self._append(content, seq, chunk)
                    seq += 1
                    size += len(chunk)
            if pending or seq == 0:
                chunk = bytes(pending)
                await self._append(content, seq, chunk)
                size += len(chunk)
        except BaseException:
            await self._run(lambda db: blobs.drop_content(db, content))
            raise
        return blobs.Piece(size, content=content)

    async def _append(self, content: int, seq: int, chunk: bytes) -> None:
        await self._run(lambda db: blobs.append_chunk(db, content, seq, chunk))

    async def _read_chunk(self, content: int, seq: int) -> bytes:
        return await self._run(lambda db: blobs.read_chunk(db, content, seq))

    async def read_pieces(
        self, pieces: list[blobs.Piece], start: int = 0, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """The bytes `start` to `end` (exclusive) of a blob's pieces, a chunk at a time."""
        offset = 0
        for piece in pieces:
            piece_end = offset + piece.size
            stop = piece_end if end is None else min(end, piece_end)
            if stop > offset and piece_end > start:
                low = max(start, offset) - offset
                high = stop - offset
                if piece.data is not None:
                    yield piece.data[low:high]
                else:
                    assert piece.content is not None
                    for seq in range(low // blobs.CHUNK, (high - 1) // blobs.CHUNK + 1):
                        chunk = await self._read_chunk(piece.content, seq)
                        base = seq * blobs.CHUNK
                        yield chunk[max(low - base, 0) : high - base]
            offset = piece_end
            if end is not None and offset >= end:
                return

    def blob_url(self, container: str, name: str) -> str:
        return f"embedded://{container}/{quote(name)}"

    async def get_blob(self, container: str, name: str) -> tuple[bytes, BlobInfo] | None:
        try:
            info, pieces = await self._run(lambda db: blobs.read_plan(db, container, name))
        except (BlobRefused, ContainerNotFound):
            return None
        data = b"".join([part async for part in self.read_pieces(pieces)])
        return data, info

    async def blob_info(self, container: str, name: str) -> BlobInfo | None:
        try:
            return await self._run(lambda db: blobs.properties(db, container, name))
        except (BlobRefused, ContainerNotFound):
            return None

    async def list_blobs(self, container: str, prefix: str = "") -> list[BlobInfo]:
        found, _ = await self._run(lambda db: blobs.blob_page(db, container, prefix, "", "", 2**62))
        return [b for b in found if isinstance(b, BlobInfo)]

    async def delete_blob(self, container: str, name: str) -> bool:
        try:
            await self._run(lambda db: blobs.delete(db, container, name))
        except (BlobRefused, ContainerNotFound):
            return False
        return True

    # -- leases
    async def acquire_lease(
        self, container: str, name: str, lease_id: str, duration: float
    ) -> bool:
        return await self._run(lambda db: blobs.take_lease(db, container, name, lease_id, duration))

    async def release_lease(self, container: str, name: str, lease_id: str) -> None:
        await self._run(lambda db: blobs.drop_lease(db, container, name, lease_id))


def _pieces_of(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for offset in range(0, len(data), blobs.CHUNK):
        yield bytes(view[offset : offset + blobs.CHUNK])


async def _as_async(parts: AsyncIterator[bytes] | Iterator[bytes]) -> AsyncIterator[bytes]:
    if isinstance(parts, Iterator):
        for part in parts:
            yield part
    else:
        async for part in parts:
            yield part
