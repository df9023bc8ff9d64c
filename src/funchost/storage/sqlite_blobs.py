"""The embedded store's containers and blobs, as SQL on the store's one connection.

A blob's bytes are kept one of two ways, neither ever whole in memory or in one large value:
- a blob written in one piece of at most `INLINE` bytes is kept in its own row (`blobs.data`);
- any other blob is a list of pieces (`pieces`, in order): each piece is a block of a committed
  block list, or the one piece of a larger single write, and its bytes are a *content*: rows of
  `chunks`, `CHUNK` bytes each but the last. A large body is written chunk by chunk as it
  arrives (`new_content`, `append_chunk`) and becomes visible only when the transaction that
  links it to its blob commits; staged blocks (`blocks`) are contents too, and a committed
  block list moves them into `pieces` without copying a byte.
A content that nothing links is garbage: dropped in the transaction that unlinks it, or, for an
upload cut off by a crash, by `collect_orphans` once it has been idle for an hour.

Semantics follow Azure Blob storage: ETags change with every write; conditions (`If-Match`,
`If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`) and leases are checked in the
same transaction as the write; failures are `BlobRefused` with Azure's error code.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from funchost.storage.base import BlobInfo, BlobRefused, ContainerNotFound
from funchost.storage.sqlite_db import transaction

CHUNK = 4 * 1024 * 1024
INLINE = 256 * 1024
ORPHAN_AGE = 3600.0
NEVER = 253402300799.0  # the end of 9999: an infinite lease
MAX_UNCOMMITTED = 100_000
MAX_COMMITTED = 50_000


def _time(t: float) -> datetime:
    return datetime.fromtimestamp(min(t, NEVER), UTC)


def new_etag() -> str:
    return f'"0x8DE{uuid.uuid4().hex[:13].upper()}"'


# -- conditions and leases


@dataclass(frozen=True)
class Conditions:
    """A request's conditional headers, and the lease id it presents."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: float | None = None
    if_unmodified_since: float | None = None
    lease_id: str | None = None


NO_CONDITIONS = Conditions()


def _etags(header: str) -> list[str]:
    return [e.strip() for e in header.split(",")]


def check_conditions(row: sqlite3.Row | None, conditions: Conditions, *, read: bool) -> None:
    """Azure's answer when the blob (`row`, None if missing) fails the request's conditions:
    ConditionNotMet (412), BlobAlreadyExists for a write with `If-None-Match: *`, or for a
    read the NotModified refusal that becomes 304."""
    c = conditions
    if row is None:
        if c.if_match is not None:
            raise BlobRefused("ConditionNotMet")
        return
    etag, modified = row["etag"], int(row["modified"])
    if c.if_match is not None and c.if_match != "*" and etag not in _etags(c.if_match):
        raise BlobRefused("ConditionNotMet")
    if c.if_unmodified_since is not None and modified > c.if_unmodified_since:
        raise BlobRefused("ConditionNotMet")
    if c.if_none_match is not None and (c.if_none_match == "*" or etag in _etags(c.if_none_match)):
        if read:
            raise BlobRefused("NotModified")
        raise BlobRefused("BlobAlreadyExists" if c.if_none_match == "*" else "ConditionNotMet")
    if c.if_modified_since is not None and modified <= c.if_modified_since:
        raise BlobRefused("NotModified" if read else "ConditionNotMet")


def lease_state(row: sqlite3.Row, now: float) -> str:
    """available, leased, expired, breaking or broken."""
    if row["lease_break"] is not None:
        return "breaking" if now < row["lease_break"] else "broken"
    if row["lease_id"] is None:
        return "available"
    return "leased" if now < row["lease_expires"] else "expired"


def check_lease(row: sqlite3.Row | None, lease_id: str | None, now: float, *, write: bool) -> None:
    """A write to a leased blob must present its lease; a lease id presented must be the
    blob's active lease."""
    if row is None:
        if lease_id is not None:
            raise BlobRefused("LeaseNotPresentWithBlobOperation")
        return
    state = lease_state(row, now)
    active = state in ("leased", "breaking")
    if lease_id is None:
        if active and write:
            raise BlobRefused("LeaseIdMissing")
        return
    if not active:
        raise BlobRefused("LeaseNotPresentWithBlobOperation")
    if lease_id.lower() != row["lease_id"].lower():
        raise BlobRefused("LeaseIdMismatchWithBlobOperation")


# -- records


@dataclass(frozen=True)
class ContainerRecord:
    name: str
    etag: str
    last_modified: datetime
    metadata: dict[str, str] = field(default_factory=dict)


BLOB_FIELDS = (
    "container, name, etag, modified, created, length, content_type, headers, metadata,"
    " lease_id, lease_expires, lease_duration, lease_break, data IS NOT NULL AS inline"
)


def _blob(row: sqlite3.Row, now: float) -> BlobInfo:
    state = lease_state(row, now)
    return BlobInfo(
        container=row["container"],
        name=row["name"],
        etag=row["etag"],
        last_modified=_time(row["modified"]),
        length=row["length"],
        content_type=row["content_type"],
        metadata=json.loads(row["metadata"]),
        created=_time(row["created"]),
        headers=json.loads(row["headers"]),
        lease_state=state,
        lease_infinite=state == "leased" and row["lease_duration"] == -1,
    )


def _row(db: sqlite3.Connection, container: str, name: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        f"SELECT {BLOB_FIELDS} FROM blobs WHERE container = ? AND name = ?", (container, name)
    ).fetchone()
    return row


def _require_container(db: sqlite3.Connection, container: str) -> None:
    if db.execute("SELECT 1 FROM containers WHERE name = ?", (container,)).fetchone() is None:
        raise ContainerNotFound(f"container {container!r} does not exist")


def _require_blob(db: sqlite3.Connection, container: str, name: str) -> sqlite3.Row:
    row = _row(db, container, name)
    if row is None:
        _require_container(db, container)
        raise BlobRefused("BlobNotFound")
    return row


# -- containers


def create_container(db: sqlite3.Connection, name: str, metadata: Mapping[str, str]) -> bool:
    """Create the container; False if it exists."""
    created = db.execute(
        "INSERT OR IGNORE INTO containers (name, metadata, etag, modified) VALUES (?, ?, ?, ?)",
        (name, json.dumps(dict(metadata)), new_etag(), time.time()),
    ).rowcount
    return bool(created)


def delete_container(db: sqlite3.Connection, name: str) -> None:
    with transaction(db):
        if not db.execute("DELETE FROM containers WHERE name = ?", (name,)).rowcount:
            raise ContainerNotFound(f"container {name!r} does not exist")
        contents = [
            r[0]
            for r in db.execute(
                "SELECT content FROM pieces WHERE container = ? UNION"
                " SELECT content FROM blocks WHERE container = ?",
                (name, name),
            )
        ]
        db.execute("DELETE FROM blobs WHERE container = ?", (name,))
        db.execute("DELETE FROM pieces WHERE container = ?", (name,))
        db.execute("DELETE FROM blocks WHERE container = ?", (name,))
        _drop_unlinked(db, contents)


def _container(row: sqlite3.Row) -> ContainerRecord:
    return ContainerRecord(
        row["name"],
        row["etag"] or '"0x8DE0000000000000"',
        _time(row["modified"] or 0.0),
        json.loads(row["metadata"]),
    )


def container_properties(db: sqlite3.Connection, name: str) -> ContainerRecord:
    row = db.execute("SELECT * FROM containers WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise ContainerNotFound(f"container {name!r} does not exist")
    return _container(row)


def set_container_metadata(
    db: sqlite3.Connection, name: str, metadata: Mapping[str, str]
) -> ContainerRecord:
    row = db.execute(
        "UPDATE containers SET metadata = ?, etag = ?, modified = ? WHERE name = ? RETURNING *",
        (json.dumps(dict(metadata)), new_etag(), time.time(), name),
    ).fetchone()
    if row is None:
        raise ContainerNotFound(f"container {name!r} does not exist")
    return _container(row)


def container_page(
    db: sqlite3.Connection, prefix: str, marker: str, limit: int
) -> tuple[list[ContainerRecord], str]:
    rows = db.execute(
        "SELECT * FROM containers WHERE substr(name, 1, ?) = ? AND name >= ? ORDER BY name LIMIT ?",
        (len(prefix), prefix, marker, limit + 1),
    ).fetchall()
    return [_container(r) for r in rows[:limit]], rows[limit]["name"] if len(rows) > limit else ""


# -- contents


def new_content(db: sqlite3.Connection) -> int:
    """A new, empty content: garbage until a transaction links it to a blob or block."""
    row = db.execute(
        "INSERT INTO contents (size, written) VALUES (0, ?) RETURNING id", (time.time(),)
    ).fetchone()
    return int(row[0])


def append_chunk(db: sqlite3.Connection, content: int, seq: int, data: bytes) -> None:
    with transaction(db):
        db.execute("INSERT INTO chunks (content, seq, data) VALUES (?, ?, ?)", (content, seq, data))
        db.execute(
            "UPDATE contents SET size = size + ?, written = ? WHERE id = ?",
            (len(data), time.time(), content),
        )


def read_chunk(db: sqlite3.Connection, content: int, seq: int) -> bytes:
    row = db.execute(
        "SELECT data FROM chunks WHERE content = ? AND seq = ?", (content, seq)
    ).fetchone()
    return b"" if row is None else bytes(row[0])


def drop_content(db: sqlite3.Connection, content: int) -> None:
    """Drop a content no transaction linked (an upload that failed its conditions)."""
    with transaction(db):
        _drop_unlinked(db, [content])


def _drop_unlinked(db: sqlite3.Connection, contents: Iterable[int | None]) -> None:
    for content in {c for c in contents if c is not None}:
        linked = db.execute(
            "SELECT 1 FROM pieces WHERE content = ? UNION ALL"
            " SELECT 1 FROM blocks WHERE content = ? LIMIT 1",
            (content, content),
        ).fetchone()
        if linked is None:
            db.execute("DELETE FROM chunks WHERE content = ?", (content,))
            db.execute("DELETE FROM contents WHERE id = ?", (content,))


def collect_orphans(db: sqlite3.Connection, now: float | None = None) -> int:
    """Drop contents nothing links that have been idle for ORPHAN_AGE (uploads cut off by a
    crash), and staged blocks older than a week, as Azure does; how many contents went."""
    now = time.time() if now is None else now
    with transaction(db):
        stale_blocks = db.execute(
            "DELETE FROM blocks WHERE staged < ? RETURNING content", (now - 7 * 24 * 3600,)
        ).fetchall()
        orphans = db.execute(
            "SELECT id FROM contents WHERE written < ? AND id NOT IN"
            " (SELECT content FROM pieces WHERE content IS NOT NULL) AND id NOT IN"
            " (SELECT content FROM blocks WHERE content IS NOT NULL)",
            (now - ORPHAN_AGE,),
        ).fetchall()
        _drop_unlinked(db, [r[0] for r in stale_blocks] + [r[0] for r in orphans])
    return len(orphans)


# -- blobs


@dataclass(frozen=True)
class Piece:
    """A part of a blob's bytes: in its row (`data`) or a content's chunks."""

    size: int
    data: bytes | None = None
    content: int | None = None


@dataclass(frozen=True)
class BlobWrite:
    """What a write sets besides the bytes."""

    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # cache-control, content-md5, ...
    metadata: Mapping[str, str] = field(default_factory=dict)


def _replace(
    db: sqlite3.Connection,
    container: str,
    name: str,
    existing: sqlite3.Row | None,
    write: BlobWrite,
    data: bytes | None,
    length: int,
    now: float,
) -> sqlite3.Row:
    """Write the blob's row (keeping its lease and creation time); the caller has replaced its
    pieces."""
    row: sqlite3.Row = db.execute(
        "INSERT INTO blobs (container, name, data, etag, modified, created, length,"
        " content_type, headers, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (container, name) DO UPDATE SET data = excluded.data,"
        " etag = excluded.etag, modified = excluded.modified, length = excluded.length,"
        " content_type = excluded.content_type, headers = excluded.headers,"
        f" metadata = excluded.metadata RETURNING {BLOB_FIELDS}",
        (
            container,
            name,
            data,
            new_etag(),
            now,
            existing["created"] if existing is not None else now,
            length,
            write.content_type,
            json.dumps(dict(write.headers)),
            json.dumps(dict(write.metadata)),
        ),
    ).fetchone()
    return row


def _unlink(db: sqlite3.Connection, container: str, name: str) -> list[int | None]:
    """Remove the blob's pieces and staged blocks; their contents, for `_drop_unlinked`."""
    return [
        r[0]
        for r in db.execute(
            "DELETE FROM pieces WHERE container = ? AND name = ? RETURNING content",
            (container, name),
        )
    ] + [
        r[0]
        for r in db.execute(
            "DELETE FROM blocks WHERE container = ? AND name = ? RETURNING content",
            (container, name),
        )
    ]


def _writable(
    db: sqlite3.Connection, container: str, name: str, conditions: Conditions, now: float
) -> sqlite3.Row | None:
    _require_container(db, container)
    row = _row(db, container, name)
    check_conditions(row, conditions, read=False)
    check_lease(row, conditions.lease_id, now, write=True)
    return row


def check_put(db: sqlite3.Connection, container: str, name: str, conditions: Conditions) -> None:
    """Refuse early a write that would fail, before its body is read."""
    _writable(db, container, name, conditions, time.time())


def put(
    db: sqlite3.Connection,
    container: str,
    name: str,
    piece: Piece,
    write: BlobWrite,
    conditions: Conditions = NO_CONDITIONS,
) -> BlobInfo:
    """Write the whole blob from one piece: its bytes (at most INLINE of them) or a content
    written beforehand, which this transaction links; the blob's staged blocks go."""
    with transaction(db):
        now = time.time()
        existing = _writable(db, container, name, conditions, now)
        dropped = _unlink(db, container, name)
        inline = piece.data if piece.content is None else None
        row = _replace(db, container, name, existing, write, inline, piece.size, now)
        if piece.content is not None:
            db.execute(
                "INSERT INTO pieces (container, name, seq, block_id, content, size)"
                " VALUES (?, ?, 0, NULL, ?, ?)",
                (container, name, piece.content, piece.size),
            )
        _drop_unlinked(db, dropped)
        return _blob(row, now)


def read_plan(
    db: sqlite3.Connection, container: str, name: str, conditions: Conditions = NO_CONDITIONS
) -> tuple[BlobInfo, list[Piece]]:
    """The blob and its pieces in order, for reading any range of it chunk by chunk."""
    now = time.time()
    row = db.execute(
        f"SELECT data, {BLOB_FIELDS} FROM blobs WHERE container = ? AND name = ?",
        (container, name),
    ).fetchone()
    if row is None:
        _require_container(db, container)
        raise BlobRefused("BlobNotFound")
    check_conditions(row, conditions, read=True)
    check_lease(row, conditions.lease_id, now, write=False)
    if row["data"] is not None:
        return _blob(row, now), [Piece(row["length"], data=bytes(row["data"]))]
    pieces = [
        Piece(r["size"], content=r["content"])
        for r in db.execute(
            "SELECT size, content FROM pieces WHERE container = ? AND name = ? ORDER BY seq",
            (container, name),
        )
    ]
    return _blob(row, now), pieces


def properties(
    db: sqlite3.Connection, container: str, name: str, conditions: Conditions = NO_CONDITIONS
) -> BlobInfo:
    row = _require_blob(db, container, name)
    check_conditions(row, conditions, read=True)
    now = time.time()
    check_lease(row, conditions.lease_id, now, write=False)
    return _blob(row, now)


def _update(
    db: sqlite3.Connection,
    container: str,
    name: str,
    conditions: Conditions,
    assignments: str,
    values: tuple[object, ...],
) -> BlobInfo:
    with transaction(db):
        row = _require_blob(db, container, name)
        now = time.time()
        check_conditions(row, conditions, read=False)
        check_lease(row, conditions.lease_id, now, write=True)
        updated = db.execute(
            f"UPDATE blobs SET {assignments}, etag = ?, modified = ?"
            f" WHERE container = ? AND name = ? RETURNING {BLOB_FIELDS}",
            (*values, new_etag(), now, container, name),
        ).fetchone()
        return _blob(updated, now)


def set_headers(
    db: sqlite3.Connection,
    container: str,
    name: str,
    content_type: str | None,
    headers: Mapping[str, str],
    conditions: Conditions = NO_CONDITIONS,
) -> BlobInfo:
    return _update(
        db,
        container,
        name,
        conditions,
        "content_type = ?, headers = ?",
        (content_type, json.dumps(dict(headers))),
    )


def set_metadata(
    db: sqlite3.Connection,
    container: str,
    name: str,
    metadata: Mapping[str, str],
    conditions: Conditions = NO_CONDITIONS,
) -> BlobInfo:
    return _update(db, container, name, conditions, "metadata = ?", (json.dumps(dict(metadata)),))


def delete(
    db: sqlite3.Connection, container: str, name: str, conditions: Conditions = NO_CONDITIONS
) -> None:
    with transaction(db):
        row = _require_blob(db, container, name)
        now = time.time()
        check_conditions(row, conditions, read=False)
        check_lease(row, conditions.lease_id, now, write=True)
        dropped = _unlink(db, container, name)
        db.execute("DELETE FROM blobs WHERE container = ? AND name = ?", (container, name))
        _drop_unlinked(db, dropped)


# -- blocks


def stage_block(
    db: sqlite3.Connection,
    container: str,
    name: str,
    block_id: str,
    piece: Piece,
    lease_id: str | None,
) -> None:
    """Stage a block (its bytes or a content written beforehand), replacing a staged block of
    the same id. A staged block is never part of the blob until a block list commits it."""
    with transaction(db):
        _require_container(db, container)
        now = time.time()
        check_lease(_row(db, container, name), lease_id, now, write=True)
        count = db.execute(
            "SELECT count(*) FROM blocks WHERE container = ? AND name = ?", (container, name)
        ).fetchone()[0]
        if count >= MAX_UNCOMMITTED:
            raise BlobRefused("BlockCountExceedsLimit")
        content = piece.content
        if content is None:
            content = new_content(db)
            db.execute(
                "INSERT INTO chunks (content, seq, data) VALUES (?, 0, ?)", (content, piece.data)
            )
            db.execute("UPDATE contents SET size = ? WHERE id = ?", (piece.size, content))
        old = db.execute(
            "DELETE FROM blocks WHERE container = ? AND name = ? AND block_id = ?"
            " RETURNING content",
            (container, name, block_id),
        ).fetchone()
        db.execute(
            "INSERT INTO blocks (container, name, block_id, content, size, staged)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (container, name, block_id, content, piece.size, now),
        )
        if old is not None:
            _drop_unlinked(db, [old[0]])


def commit_blocks(
    db: sqlite3.Connection,
    container: str,
    name: str,
    entries: list[tuple[str, str]],
    write: BlobWrite,
    conditions: Conditions = NO_CONDITIONS,
) -> BlobInfo:
    """Commit a block list: each entry is (where, block id), where "Latest" takes the staged
    block if there is one else the committed one, "Uncommitted" only a staged block,
    "Committed" only a block of the current list. Unknown blocks: InvalidBlockList. The
    blob's other staged blocks and its blocks left out of the list go."""
    if len(entries) > MAX_COMMITTED:
        raise BlobRefused("InvalidBlockList")
    with transaction(db):
        now = time.time()
        existing = _writable(db, container, name, conditions, now)
        staged = {
            r["block_id"]: (r["content"], r["size"])
            for r in db.execute(
                "SELECT block_id, content, size FROM blocks WHERE container = ? AND name = ?",
                (container, name),
            )
        }
        committed = {
            r["block_id"]: (r["content"], r["size"])
            for r in db.execute(
                "SELECT block_id, content, size FROM pieces WHERE container = ? AND name = ?"
                " AND block_id IS NOT NULL",
                (container, name),
            )
        }
        chosen: list[tuple[str, int, int]] = []
        for where, block_id in entries:
            found = None
            if where in ("Latest", "Uncommitted"):
                found = staged.get(block_id)
            if found is None and where in ("Latest", "Committed"):
                found = committed.get(block_id)
            if found is None:
                raise BlobRefused("InvalidBlockList")
            chosen.append((block_id, found[0], found[1]))
        dropped = _unlink(db, container, name)
        db.executemany(
            "INSERT INTO pieces (container, name, seq, block_id, content, size)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(container, name, i, b, c, s) for i, (b, c, s) in enumerate(chosen)],
        )
        length = sum(size for _, _, size in chosen)
        row = _replace(db, container, name, existing, write, None, length, now)
        _drop_unlinked(db, dropped)
        return _blob(row, now)


def block_list(
    db: sqlite3.Connection, container: str, name: str, lease_id: str | None = None
) -> tuple[BlobInfo | None, list[tuple[str, int]], list[tuple[str, int]]]:
    """The blob (None if it has only staged blocks), its committed and its staged blocks."""
    _require_container(db, container)
    now = time.time()
    row = _row(db, container, name)
    check_lease(row, lease_id, now, write=False)
    committed = [
        (r[0], r[1])
        for r in db.execute(
            "SELECT block_id, size FROM pieces WHERE container = ? AND name = ?"
            " AND block_id IS NOT NULL ORDER BY seq",
            (container, name),
        )
    ]
    staged = [
        (r[0], r[1])
        for r in db.execute(
            "SELECT block_id, size FROM blocks WHERE container = ? AND name = ? ORDER BY staged",
            (container, name),
        )
    ]
    if row is None and not staged:
        raise BlobRefused("BlobNotFound")
    return (None if row is None else _blob(row, now)), committed, staged


# -- leases


@dataclass(frozen=True)
class LeaseResult:
    lease_id: str | None
    seconds_left: int | None  # for a break: until the lease is broken
    info: BlobInfo


LEASE_COLUMNS = "lease_id = ?, lease_expires = ?, lease_duration = ?, lease_break = ?"


def lease(
    db: sqlite3.Connection,
    container: str,
    name: str,
    action: str,
    lease_id: str | None,
    *,
    proposed_id: str | None = None,
    duration: float = -1,
    break_period: float | None = None,
    conditions: Conditions = NO_CONDITIONS,
) -> LeaseResult:
    """Azure's lease actions on a blob: acquire, renew, change, release, break."""
    with transaction(db):
        row = _require_blob(db, container, name)
        check_conditions(row, conditions, read=False)
        now = time.time()
        state = lease_state(row, now)
        current = (row["lease_id"] or "").lower()
        matches = lease_id is not None and lease_id.lower() == current
        new: tuple[object, ...] | None = None
        result_id: str | None = row["lease_id"]
        seconds: int | None = None
        if action == "acquire":
            if state == "breaking":
                raise BlobRefused("LeaseIsBreakingAndCannotBeAcquired")
            wanted = proposed_id or str(uuid.uuid4())
            if state == "leased" and wanted.lower() != current:
                raise BlobRefused("LeaseAlreadyPresent")
            expires = NEVER if duration == -1 else now + duration
            new, result_id = (wanted, expires, duration, None), wanted
        elif action == "renew":
            if state in ("breaking", "broken"):
                raise BlobRefused("LeaseIsBrokenAndCannotBeRenewed")
            if state == "available":
                raise BlobRefused("LeaseNotPresentWithLeaseOperation")
            if not matches:
                raise BlobRefused("LeaseIdMismatchWithLeaseOperation")
            length = row["lease_duration"]
            new = (row["lease_id"], NEVER if length == -1 else now + length, length, None)
        elif action == "change":
            if state == "breaking":
                raise BlobRefused("LeaseIsBreakingAndCannotBeChanged")
            if state != "leased":
                raise BlobRefused("LeaseNotPresentWithLeaseOperation")
            if not matches and (proposed_id or "").lower() != current:
                raise BlobRefused("LeaseIdMismatchWithLeaseOperation")
            result_id = proposed_id
            new = (proposed_id, row["lease_expires"], row["lease_duration"], None)
        elif action == "release":
            if state == "available":
                raise BlobRefused("LeaseNotPresentWithLeaseOperation")
            if not matches:
                raise BlobRefused("LeaseIdMismatchWithLeaseOperation")
            new, result_id = (None, None, None, None), None
        elif action == "break":
            if state == "available":
                raise BlobRefused("LeaseNotPresentWithLeaseOperation")
            if state in ("expired", "broken"):
                new, seconds = (
                    (row["lease_id"], row["lease_expires"], row["lease_duration"], now),
                    0,
                )
            else:
                left = (row["lease_break"] if state == "breaking" else row["lease_expires"]) - now
                if row["lease_duration"] == -1 and state == "leased":
                    left = 0 if break_period is None else break_period
                elif break_period is not None:
                    left = min(left, break_period)
                left = max(0.0, left)
                new = (row["lease_id"], row["lease_expires"], row["lease_duration"], now + left)
                seconds = int(left + 0.999)
            result_id = None
        else:
            raise ValueError(f"unknown lease action {action!r}")
        updated = db.execute(
            f"UPDATE blobs SET {LEASE_COLUMNS} WHERE container = ? AND name = ?"
            f" RETURNING {BLOB_FIELDS}",
            (*new, container, name),
        ).fetchone()
        return LeaseResult(result_id, seconds, _blob(updated, now))


def take_lease(
    db: sqlite3.Connection, container: str, name: str, lease_id: str, duration: float
) -> bool:
    """The bindings' lease (timer locks, blob receipts): take or extend the lease on the blob,
    created empty if missing; False while another lease id holds it."""
    with transaction(db):
        _require_container(db, container)
        now = time.time()
        db.execute(
            "INSERT OR IGNORE INTO blobs (container, name, data, etag, modified, created, length)"
            " VALUES (?, ?, x'', ?, ?, ?, 0)",
            (container, name, new_etag(), now, now),
        )
        taken = db.execute(
            f"UPDATE blobs SET {LEASE_COLUMNS} WHERE container = ? AND name = ?"
            " AND (lease_id IS NULL OR lower(lease_id) = lower(?) OR lease_expires <= ?"
            " OR (lease_break IS NOT NULL AND lease_break <= ?))",
            (lease_id, now + duration, duration, None, container, name, lease_id, now, now),
        ).rowcount
        return taken > 0


def drop_lease(db: sqlite3.Connection, container: str, name: str, lease_id: str) -> None:
    db.execute(
        f"UPDATE blobs SET {LEASE_COLUMNS} WHERE container = ? AND name = ?"
        " AND lower(lease_id) = lower(?)",
        (None, None, None, None, container, name, lease_id),
    )


# -- copies


def copy(
    db: sqlite3.Connection,
    source: tuple[str, str],
    target: tuple[str, str],
    metadata: Mapping[str, str] | None,
    conditions: Conditions = NO_CONDITIONS,
    source_conditions: Conditions = NO_CONDITIONS,
) -> BlobInfo:
    """Copy a blob within the store, synchronously: its bytes (chunks copied in SQL, never
    through memory), properties and, unless `metadata` is given, its metadata."""
    with transaction(db):
        now = time.time()
        info, pieces = read_plan(db, *source, source_conditions)
        existing = _writable(db, *target, conditions, now)
        container, name = target
        dropped = _unlink(db, container, name)
        inline = pieces[0].data if len(pieces) == 1 and pieces[0].data is not None else None
        for seq, piece in enumerate(pieces if inline is None else []):
            content = new_content(db)
            db.execute(
                "INSERT INTO chunks (content, seq, data)"
                " SELECT ?, seq, data FROM chunks WHERE content = ?",
                (content, piece.content),
            )
            db.execute("UPDATE contents SET size = ? WHERE id = ?", (piece.size, content))
            db.execute(
                "INSERT INTO pieces (container, name, seq, block_id, content, size)"
                " VALUES (?, ?, ?, NULL, ?, ?)",
                (container, name, seq, content, piece.size),
            )
        write = BlobWrite(
            info.content_type, info.headers, info.metadata if metadata is None else metadata
        )
        row = _replace(db, container, name, existing, write, inline, info.length, now)
        _drop_unlinked(db, dropped)
        return _blob(row, now)


# -- listing


def blob_page(
    db: sqlite3.Connection,
    container: str,
    prefix: str,
    delimiter: str,
    marker: str,
    limit: int,
) -> tuple[list[BlobInfo | str], str]:
    """Up to `limit` entries from `marker` on, in name order: blobs, and with a `delimiter`
    the prefixes that group the names past it (one entry each); and the next marker."""
    _require_container(db, container)
    now = time.time()
    found: list[BlobInfo | str] = []
    cursor = marker
    while len(found) <= limit:
        rows = db.execute(
            f"SELECT {BLOB_FIELDS} FROM blobs WHERE container = ? AND substr(name, 1, ?) = ?"
            " AND name >= ? ORDER BY name LIMIT ?",
            (container, len(prefix), prefix, cursor, limit + 1 - len(found)),
        ).fetchall()
        if not rows:
            break
        for row in rows:
            name = row["name"]
            cut = name.find(delimiter, len(prefix)) if delimiter else -1
            if cut == -1:
                found.append(_blob(row, now))
                cursor = name + "\x00"
            else:
                group = name[: cut + len(delimiter)]
                found.append(group)
                # Skip the rest of the group: the next name after every name it starts.
                cursor = group[:-1] + chr(ord(group[-1]) + 1)
                break
            if len(found) > limit:
                break
    if len(found) > limit:
        last = found[limit]
        return found[:limit], last if isinstance(last, str) else last.name
    return found, ""
