"""The embedded store's database: its schema, the migrations of older stores, transactions.

A store records its schema version in SQLite's `user_version`. Opening a store brings it to the
current version by its migrations in order, in one transaction that reads the version again
once it holds the write lock: several processes may open an old store at once, and only one
migrates it, with nothing lost. Version 0 is the layout of the first releases.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000

# The layout of version 0, created when missing; later versions change it by migrations.
BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    content TEXT NOT NULL,
    inserted REAL NOT NULL,
    expires REAL NOT NULL,
    visible REAL NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    pop_receipt TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue, visible, seq);
CREATE TABLE IF NOT EXISTS containers (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS blobs (
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    etag TEXT NOT NULL,
    modified REAL NOT NULL,
    content_type TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    lease_id TEXT,
    lease_expires REAL,
    PRIMARY KEY (container, name)
);
"""


def _v1_queue_metadata(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE queues ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'")


def _v2_service_properties(db: sqlite3.Connection) -> None:
    # A service's properties document (Blob or Queue: logging, metrics, CORS), as last set.
    db.execute("CREATE TABLE service_properties (service TEXT PRIMARY KEY, document TEXT NOT NULL)")


def _v3_chunked_blobs(db: sqlite3.Connection) -> None:
    """Blobs as pieces of chunked contents (funchost.storage.sqlite_blobs), with their HTTP
    headers, creation time and lease states; containers with metadata. Blobs written before
    are kept in their rows; those over the inline size move into chunks."""
    db.execute("ALTER TABLE containers ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'")
    db.execute("ALTER TABLE containers ADD COLUMN etag TEXT")
    db.execute("ALTER TABLE containers ADD COLUMN modified REAL")
    db.execute("ALTER TABLE blobs RENAME TO blobs_v2")
    db.execute(
        """CREATE TABLE blobs (
            container TEXT NOT NULL,
            name TEXT NOT NULL,
            data BLOB,
            etag TEXT NOT NULL,
            modified REAL NOT NULL,
            created REAL NOT NULL,
            length INTEGER NOT NULL,
            content_type TEXT,
            headers TEXT NOT NULL DEFAULT '{}',
            metadata TEXT NOT NULL DEFAULT '{}',
            lease_id TEXT,
            lease_expires REAL,
            lease_duration REAL,
            lease_break REAL,
            PRIMARY KEY (container, name)
        )"""
    )
    db.execute(
        "INSERT INTO blobs (container, name, data, etag, modified, created, length,"
        " content_type, metadata, lease_id, lease_expires, lease_duration)"
        " SELECT container, name, data, etag, modified, modified, length(data), content_type,"
        " metadata, lease_id, lease_expires, CASE WHEN lease_id IS NULL THEN NULL ELSE 60 END"
        " FROM blobs_v2"
    )
    db.execute("DROP TABLE blobs_v2")
    db.execute(
        "CREATE TABLE contents (id INTEGER PRIMARY KEY, size INTEGER NOT NULL,"
        " written REAL NOT NULL)"
    )
    db.execute(
        "CREATE TABLE chunks (content INTEGER NOT NULL, seq INTEGER NOT NULL,"
        " data BLOB NOT NULL, PRIMARY KEY (content, seq))"
    )
    db.execute(
        "CREATE TABLE pieces (container TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL,"
        " block_id TEXT, content INTEGER NOT NULL, size INTEGER NOT NULL,"
        " PRIMARY KEY (container, name, seq))"
    )
    db.execute("CREATE INDEX pieces_by_content ON pieces (content)")
    db.execute(
        "CREATE TABLE blocks (container TEXT NOT NULL, name TEXT NOT NULL,"
        " block_id TEXT NOT NULL, content INTEGER NOT NULL, size INTEGER NOT NULL,"
        " staged REAL NOT NULL, PRIMARY KEY (container, name, block_id))"
    )
    db.execute("CREATE INDEX blocks_by_content ON blocks (content)")
    _move_large_blobs(db)


def _move_large_blobs(db: sqlite3.Connection) -> None:
    from funchost.storage.sqlite_blobs import CHUNK, INLINE

    large = db.execute(
        "SELECT container, name, length FROM blobs WHERE length > ?", (INLINE,)
    ).fetchall()
    for container, name, length in large:
        content = db.execute(
            "INSERT INTO contents (size, written) VALUES (?, 0) RETURNING id", (length,)
        ).fetchone()[0]
        for seq, offset in enumerate(range(0, length, CHUNK)):
            db.execute(
                "INSERT INTO chunks (content, seq, data) SELECT ?, ?, substr(data, ?, ?)"
                " FROM blobs WHERE container = ? AND name = ?",
                (content, seq, offset + 1, CHUNK, container, name),
            )
        db.execute(
            "INSERT INTO pieces (container, name, seq, block_id, content, size)"
            " VALUES (?, ?, 0, NULL, ?, ?)",
            (container, name, content, length),
        )
        db.execute(
            "UPDATE blobs SET data = NULL WHERE container = ? AND name = ?", (container, name)
        )


def _v4_message_order(db: sqlite3.Connection) -> None:
    """Messages by queue in the order they were sent, and by expiry: a receive or peek reads
    the first visible messages of its queue and a receive removes its expired ones, each
    without reading (or sorting) the whole queue. The index by visibility, which nothing
    reads any more, goes: a receive's update of a message's visibility no longer rewrites it."""
    db.execute("CREATE INDEX messages_by_seq ON messages (queue, seq)")
    db.execute("CREATE INDEX messages_by_expiry ON messages (queue, expires)")
    db.execute("DROP INDEX IF EXISTS messages_by_visibility")


# Migration N brings a store from version N to N + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _v1_queue_metadata,
    _v2_service_properties,
    _v3_chunked_blobs,
    _v4_message_order,
]
VERSION = len(MIGRATIONS)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def transaction(db: sqlite3.Connection) -> _Transaction:
    """`with transaction(db):` one `BEGIN IMMEDIATE` transaction, rolled back on any error
    (the connection is in autocommit mode otherwise)."""
    return _Transaction(db)


class StoreConnection(sqlite3.Connection):
    """A connection to the store, with the clock its queue operations go by
    (`funchost.clock`): real time unless the store's owner sets another."""

    clock: Callable[[], float] = staticmethod(time.time)


def store_time(db: sqlite3.Connection) -> float:
    """Now, by the clock of the store behind `db`."""
    clock: Callable[[], float] = getattr(db, "clock", time.time)
    return clock()


def open_store(path: Path, *, inline: bool = False) -> sqlite3.Connection:
    """Connect to the store at `path` (created if missing), in WAL mode, at the current
    schema version. `inline` (funchost.storage.sqlite): usable from any thread, and not
    waiting for the database lock once open."""
    db = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=not inline,
        factory=StoreConnection,
    )
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    found = _version(db)
    if found > VERSION:
        db.close()
        raise sqlite3.DatabaseError(
            f"{path} was written by a newer funchost (store version {found}; this funchost "
            f"reads up to {VERSION}): upgrade funchost to open it"
        )
    if found < VERSION:
        with transaction(db):
            _create_base(db)
            # The version read again: another process may have migrated the store meanwhile.
            for number in range(_version(db), VERSION):
                MIGRATIONS[number](db)
            db.execute(f"PRAGMA user_version = {VERSION}")
    if inline:
        db.execute("PRAGMA busy_timeout=0")
    return db


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _create_base(db: sqlite3.Connection) -> None:
    # executescript would commit the open transaction: run the statements one by one.
    for statement in BASE_SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
