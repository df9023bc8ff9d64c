"""The embedded store: queues, blobs and leases in one SQLite database in WAL mode.

Several host processes on one machine share it safely: every change is one transaction, and a
receive selects and hides its messages in one `BEGIN IMMEDIATE` transaction, so no message is
handed to two receivers. Committed transactions are in the write-ahead log before a call
returns, so a message acknowledged as sent survives the host being killed (kill -9); with
`synchronous=NORMAL`, a power loss can lose the last transactions, as WAL mode documents.

SQLite calls block, so they run on one thread of this store's own, with one connection; the
event loop never waits on the database lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from funchost.storage import sqlite_queues as queues
from funchost.storage.base import (
    DEFAULT_MESSAGE_TTL,
    BlobExists,
    BlobInfo,
    ContainerNotFound,
    LeaseHeld,
    Storage,
    StorageError,
    StoredMessage,
)
from funchost.storage.sqlite_db import open_store, transaction

T = TypeVar("T")


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _blob(row: sqlite3.Row) -> BlobInfo:
    return BlobInfo(
        container=row["container"],
        name=row["name"],
        etag=row["etag"],
        last_modified=_time(row["modified"]),
        length=row["length"],
        content_type=row["content_type"],
        metadata=json.loads(row["metadata"]),
    )


def _etag(data: bytes, modified: float) -> str:
    digest = hashlib.blake2b(data, digest_size=8, key=repr(modified).encode()[:64])
    return f'"0x{digest.hexdigest().upper()}"'


def _require(db: sqlite3.Connection, table: str, name: str, missing: type[StorageError]) -> None:
    """Raise `missing` unless `table` (queues or containers) has a row named `name`."""
    if db.execute(f"SELECT 1 FROM {table} WHERE name = ?", (name,)).fetchone() is None:
        raise missing(f"{table[:-1]} {name!r} does not exist")


BLOB_COLUMNS = "container, name, etag, modified, length(data) AS length, content_type, metadata"


class SqliteStorage(Storage):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"embedded store {path}"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="funchost-sqlite")
        self._db: sqlite3.Connection | None = None
        # The connection is made, and always used, on the store's thread.
        self._executor.submit(self._open).result()

    # -- plumbing
    def _open(self) -> None:
        self._db = open_store(self.path)

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._db
        assert db is not None, "the store is closed"
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, db)

    @staticmethod
    def _transaction(db: sqlite3.Connection, fn: Callable[[], T]) -> T:
        with transaction(db):
            return fn()

    async def close(self) -> None:
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
        receipt = message.pop_receipt or ""
        await self._run(lambda db: queues.delete_message(db, queue, message.id, receipt))

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
        def run(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR IGNORE INTO containers (name) VALUES (?)", (container,))

        await self._run(run)

    async def list_containers(self) -> list[str]:
        def run(db: sqlite3.Connection) -> list[str]:
            return [r[0] for r in db.execute("SELECT name FROM containers ORDER BY name")]

        return await self._run(run)

    @staticmethod
    def _require_container(db: sqlite3.Connection, container: str) -> None:
        _require(db, "containers", container, ContainerNotFound)

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
        def run(db: sqlite3.Connection) -> BlobInfo:
            def write() -> BlobInfo:
                self._require_container(db, container)
                modified = time.time()
                existing = db.execute(
                    "SELECT lease_id, lease_expires FROM blobs WHERE container = ? AND name = ?",
                    (container, name),
                ).fetchone()
                if existing is not None and if_none_match:
                    raise BlobExists(f"blob {container}/{name} already exists")
                if (
                    existing is not None
                    and existing["lease_id"] is not None
                    and existing["lease_expires"] > modified
                    and existing["lease_id"] != lease_id
                ):
                    raise LeaseHeld(f"blob {container}/{name} is leased")
                row = db.execute(
                    "INSERT INTO blobs (container, name, data, etag, modified, content_type,"
                    " metadata) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (container, name) DO UPDATE SET data = excluded.data,"
                    " etag = excluded.etag, modified = excluded.modified,"
                    " content_type = excluded.content_type, metadata = excluded.metadata"
                    f" RETURNING {BLOB_COLUMNS}",
                    (
                        container,
                        name,
                        data,
                        _etag(data, modified),
                        modified,
                        content_type,
                        json.dumps(dict(metadata or {})),
                    ),
                ).fetchone()
                return _blob(row)

            return self._transaction(db, write)

        return await self._run(run)

    def blob_url(self, container: str, name: str) -> str:
        return f"embedded://{container}/{quote(name)}"

    async def get_blob(self, container: str, name: str) -> tuple[bytes, BlobInfo] | None:
        def run(db: sqlite3.Connection) -> tuple[bytes, BlobInfo] | None:
            row = db.execute(
                f"SELECT data, {BLOB_COLUMNS} FROM blobs WHERE container = ? AND name = ?",
                (container, name),
            ).fetchone()
            return None if row is None else (bytes(row["data"]), _blob(row))

        return await self._run(run)

    async def blob_info(self, container: str, name: str) -> BlobInfo | None:
        def run(db: sqlite3.Connection) -> BlobInfo | None:
            row = db.execute(
                f"SELECT {BLOB_COLUMNS} FROM blobs WHERE container = ? AND name = ?",
                (container, name),
            ).fetchone()
            return None if row is None else _blob(row)

        return await self._run(run)

    async def list_blobs(self, container: str, prefix: str = "") -> list[BlobInfo]:
        def run(db: sqlite3.Connection) -> list[BlobInfo]:
            self._require_container(db, container)
            rows = db.execute(
                f"SELECT {BLOB_COLUMNS} FROM blobs WHERE container = ? AND substr(name, 1, ?) = ?"
                " ORDER BY name",
                (container, len(prefix), prefix),
            ).fetchall()
            return [_blob(r) for r in rows]

        return await self._run(run)

    async def delete_blob(self, container: str, name: str) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "DELETE FROM blobs WHERE container = ? AND name = ?", (container, name)
            )
            return cursor.rowcount > 0

        return await self._run(run)

    # -- leases
    async def acquire_lease(
        self, container: str, name: str, lease_id: str, duration: float
    ) -> bool:
        def run(db: sqlite3.Connection) -> bool:
            def take() -> bool:
                self._require_container(db, container)
                now = time.time()
                db.execute(
                    "INSERT OR IGNORE INTO blobs (container, name, data, etag, modified)"
                    " VALUES (?, ?, x'', ?, ?)",
                    (container, name, _etag(b"", now), now),
                )
                taken = db.execute(
                    "UPDATE blobs SET lease_id = ?, lease_expires = ?"
                    " WHERE container = ? AND name = ?"
                    " AND (lease_id IS NULL OR lease_id = ? OR lease_expires <= ?)",
                    (lease_id, now + duration, container, name, lease_id, now),
                ).rowcount
                return taken > 0

            return self._transaction(db, take)

        return await self._run(run)

    async def release_lease(self, container: str, name: str, lease_id: str) -> None:
        def run(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE blobs SET lease_id = NULL, lease_expires = NULL"
                " WHERE container = ? AND name = ? AND lease_id = ?",
                (container, name, lease_id),
            )

        await self._run(run)
