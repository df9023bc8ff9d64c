"""The embedded store's queues and messages, as SQL on the store's one connection.

Every function runs on the store's thread (funchost.storage.sqlite) and is one statement or one
transaction, so a message is never half-sent, handed to two receivers or lost by a crash after
it was acknowledged. Semantics follow Azure Queue storage: a receive hides messages for a
visibility timeout, counts the dequeue and issues a new pop receipt, which an update or delete
must present; expired messages are never returned.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum

from funchost.storage.base import (
    MessageNotFound,
    PopReceiptMismatch,
    QueueNotFound,
    StoredMessage,
)
from funchost.storage.sqlite_db import store_time, transaction

# Azure writes a message that never expires (`messagettl=-1`) as expiring at the end of 9999.
NEVER = 253402300799.0


class QueueCreated(Enum):
    CREATED = "created"
    EXISTS = "exists"  # with the same metadata: not an error in Azure
    CONFLICT = "conflict"  # with other metadata: QueueAlreadyExists


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(min(t, NEVER), UTC)


def _message(row: sqlite3.Row) -> StoredMessage:
    return StoredMessage(
        id=row["id"],
        content=row["content"],
        insertion_time=_time(row["inserted"]),
        expiration_time=_time(row["expires"]),
        next_visible_time=_time(row["visible"]),
        dequeue_count=row["dequeue_count"],
        pop_receipt=row["pop_receipt"],
    )


def require(db: sqlite3.Connection, queue: str) -> None:
    if db.execute("SELECT 1 FROM queues WHERE name = ?", (queue,)).fetchone() is None:
        raise QueueNotFound(f"queue {queue!r} does not exist")


def create(db: sqlite3.Connection, queue: str, metadata: Mapping[str, str] | None) -> QueueCreated:
    """Create `queue`; an existing queue is EXISTS when `metadata` is None or its own, else
    CONFLICT."""
    wanted = json.dumps(dict(metadata or {}), sort_keys=True)
    with transaction(db):
        row = db.execute("SELECT metadata FROM queues WHERE name = ?", (queue,)).fetchone()
        if row is None:
            db.execute("INSERT INTO queues (name, metadata) VALUES (?, ?)", (queue, wanted))
            return QueueCreated.CREATED
    if metadata is None or json.dumps(json.loads(row[0]), sort_keys=True) == wanted:
        return QueueCreated.EXISTS
    return QueueCreated.CONFLICT


def delete(db: sqlite3.Connection, queue: str) -> bool:
    """Delete `queue` and its messages; False if there was none."""
    with transaction(db):
        if not db.execute("DELETE FROM queues WHERE name = ?", (queue,)).rowcount:
            return False
        db.execute("DELETE FROM messages WHERE queue = ?", (queue,))
    return True


def names(db: sqlite3.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT name FROM queues ORDER BY name")]


def page(
    db: sqlite3.Connection, prefix: str, marker: str, limit: int
) -> tuple[list[tuple[str, dict[str, str]]], str]:
    """Up to `limit` queues whose name starts with `prefix`, from `marker` on, in name order,
    with their metadata; and the marker of the next page ("" when this is the last)."""
    rows = db.execute(
        "SELECT name, metadata FROM queues WHERE substr(name, 1, ?) = ? AND name >= ?"
        " ORDER BY name LIMIT ?",
        (len(prefix), prefix, marker, limit + 1),
    ).fetchall()
    found = [(r[0], json.loads(r[1])) for r in rows[:limit]]
    return found, rows[limit][0] if len(rows) > limit else ""


def properties(db: sqlite3.Connection, queue: str) -> tuple[dict[str, str], int]:
    """The queue's metadata and its approximate message count (expired ones aside)."""
    row = db.execute("SELECT metadata FROM queues WHERE name = ?", (queue,)).fetchone()
    if row is None:
        raise QueueNotFound(f"queue {queue!r} does not exist")
    return json.loads(row[0]), length(db, queue)


def set_metadata(db: sqlite3.Connection, queue: str, metadata: Mapping[str, str]) -> None:
    changed = db.execute(
        "UPDATE queues SET metadata = ? WHERE name = ?", (json.dumps(dict(metadata)), queue)
    ).rowcount
    if not changed:
        raise QueueNotFound(f"queue {queue!r} does not exist")


def length(db: sqlite3.Connection, queue: str) -> int:
    row = db.execute(
        "SELECT count(*) FROM messages WHERE queue = ? AND expires > ?", (queue, store_time(db))
    ).fetchone()
    return int(row[0])


def send(
    db: sqlite3.Connection, queue: str, content: str, visibility_delay: float, ttl: float | None
) -> StoredMessage:
    """Add a message, visible after `visibility_delay` seconds, expiring after `ttl` seconds
    (None: never)."""
    now = store_time(db)
    random = os.urandom(32)
    message_id = str(uuid.UUID(bytes=random[:16], version=4))
    receipt = random[16:].hex()  # Azure's answer to a put carries one: it may update or delete
    expires = NEVER if ttl is None else now + ttl
    with transaction(db):
        require(db, queue)
        db.execute(
            "INSERT INTO messages (queue, id, content, inserted, expires, visible, pop_receipt)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (queue, message_id, content, now, expires, now + visibility_delay, receipt),
        )
    return StoredMessage(
        id=message_id,
        content=content,
        insertion_time=_time(now),
        expiration_time=_time(expires),
        next_visible_time=_time(now + visibility_delay),
        dequeue_count=0,
        pop_receipt=receipt,
    )


def receive(
    db: sqlite3.Connection, queue: str, max_messages: int, visibility_timeout: float
) -> list[StoredMessage]:
    with transaction(db):
        require(db, queue)
        now = store_time(db)
        db.execute("DELETE FROM messages WHERE queue = ? AND expires <= ?", (queue, now))
        rows = db.execute(
            "SELECT seq FROM messages INDEXED BY messages_by_seq"
            " WHERE queue = ? AND visible <= ? ORDER BY seq LIMIT ?",
            (queue, now, max_messages),
        ).fetchall()
        taken = [
            db.execute(
                "UPDATE messages SET visible = ?, pop_receipt = ?,"
                " dequeue_count = dequeue_count + 1 WHERE seq = ? RETURNING *",
                (now + visibility_timeout, uuid.uuid4().hex, row["seq"]),
            ).fetchone()
            for row in rows
        ]
    return [_message(r) for r in taken]


def peek(db: sqlite3.Connection, queue: str, max_messages: int) -> list[StoredMessage]:
    require(db, queue)
    now = store_time(db)
    rows = db.execute(
        "SELECT * FROM messages INDEXED BY messages_by_seq"
        " WHERE queue = ? AND visible <= ? AND expires > ? ORDER BY seq LIMIT ?",
        (queue, now, now, max_messages),
    ).fetchall()
    return [_message(r) for r in rows]


def _missing(db: sqlite3.Connection, queue: str, message_id: str) -> MessageNotFound:
    """Why a message could not be changed: gone (or never there), or a stale pop receipt."""
    exists = db.execute(
        "SELECT 1 FROM messages WHERE queue = ? AND id = ? AND expires > ?",
        (queue, message_id, store_time(db)),
    ).fetchone()
    if exists is None:
        return MessageNotFound(f"message {message_id} in queue {queue!r} is gone")
    return PopReceiptMismatch(f"message {message_id} in queue {queue!r} has another pop receipt")


def update(
    db: sqlite3.Connection,
    queue: str,
    message_id: str,
    pop_receipt: str,
    visibility_timeout: float,
    content: str | None = None,
) -> StoredMessage:
    """Hide the message for `visibility_timeout` seconds from now and, given `content`,
    replace its text; the result carries the new pop receipt."""
    now = store_time(db)
    row = db.execute(
        "UPDATE messages SET visible = ?, pop_receipt = ?, content = coalesce(?, content)"
        " WHERE queue = ? AND id = ? AND pop_receipt = ? AND expires > ? RETURNING *",
        (now + visibility_timeout, uuid.uuid4().hex, content, queue, message_id, pop_receipt, now),
    ).fetchone()
    if row is None:
        raise _missing(db, queue, message_id)
    return _message(row)


def delete_message(db: sqlite3.Connection, queue: str, message_id: str, pop_receipt: str) -> None:
    deleted = db.execute(
        "DELETE FROM messages WHERE queue = ? AND id = ? AND pop_receipt = ?",
        (queue, message_id, pop_receipt),
    ).rowcount
    if not deleted:
        raise _missing(db, queue, message_id)


def delete_messages(
    db: sqlite3.Connection, deletes: Sequence[tuple[str, str, str]]
) -> list[MessageNotFound | None]:
    """Delete each (queue, message id, pop receipt) in one transaction: for each, None, or why
    it could not be deleted (the others are deleted all the same)."""
    outcomes: list[MessageNotFound | None] = []
    with transaction(db):
        for queue, message_id, pop_receipt in deletes:
            try:
                delete_message(db, queue, message_id, pop_receipt)
            except MessageNotFound as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
    return outcomes


def clear(db: sqlite3.Connection, queue: str) -> None:
    with transaction(db):
        require(db, queue)
        db.execute("DELETE FROM messages WHERE queue = ?", (queue,))
