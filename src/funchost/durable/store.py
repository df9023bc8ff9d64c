"""The task hub's durable state in SQLite, beside the embedded store's own file.

One row per instance (status, input, output, custom status), its history per execution, an
inbox of events not yet seen by an episode, and activity work items. Episodes and work items
are claimed with a lease, so the processes of `funchost serve --workers N` sharing the file
never run one instance, or one work item, twice at once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    hub TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    input TEXT, output TEXT, custom_status TEXT, created TEXT NOT NULL, updated TEXT NOT NULL,
    lease REAL NOT NULL DEFAULT 0, PRIMARY KEY (hub, id));
CREATE TABLE IF NOT EXISTS history (
    hub TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL,
    PRIMARY KEY (hub, id, seq));
CREATE TABLE IF NOT EXISTS inbox (
    n INTEGER PRIMARY KEY AUTOINCREMENT, hub TEXT NOT NULL, id TEXT NOT NULL,
    event TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox (hub, id);
CREATE TABLE IF NOT EXISTS work (
    n INTEGER PRIMARY KEY AUTOINCREMENT, hub TEXT NOT NULL, instance TEXT NOT NULL,
    task_id INTEGER NOT NULL, name TEXT NOT NULL, input TEXT, lease REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS timers (
    n INTEGER PRIMARY KEY AUTOINCREMENT, hub TEXT NOT NULL, instance TEXT NOT NULL,
    fire_at REAL NOT NULL, event TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS timers_by_time ON timers (hub, fire_at);
CREATE TABLE IF NOT EXISTS entities (
    hub TEXT NOT NULL, id TEXT NOT NULL, state TEXT, lease REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (hub, id));
CREATE TABLE IF NOT EXISTS entity_ops (
    n INTEGER PRIMARY KEY AUTOINCREMENT, hub TEXT NOT NULL, entity TEXT NOT NULL,
    op TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parents (
    hub TEXT NOT NULL, child TEXT NOT NULL, parent TEXT NOT NULL, task_id INTEGER NOT NULL,
    PRIMARY KEY (hub, child));
"""

TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})


@dataclass(frozen=True)
class InstanceRow:
    id: str
    name: str
    status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created: str
    updated: str


@dataclass(frozen=True)
class WorkItem:
    n: int
    instance: str
    task_id: int
    name: str
    input: str | None


class DurableStore:
    """One SQLite file holding any number of task hubs. Calls are short and synchronous."""

    def __init__(self, path: Path, lease_seconds: float = 60.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout=10000")  # first: processes open it together
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.lease_seconds = lease_seconds

    def close(self) -> None:
        self._db.close()

    def _write(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, args in statements:
                    self._db.execute(sql, args)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _lease(self, update: str, args: Sequence[Any]) -> bool:
        """Run a lease-taking UPDATE: whether this caller won it (another process may have)."""
        with self._lock:
            return self._db.execute(update, args).rowcount == 1

    # -- instances

    def instance(self, hub: str, instance_id: str) -> InstanceRow | None:
        rows = self._rows(
            "SELECT id, name, status, input, output, custom_status, created, updated "
            "FROM instances WHERE hub = ? AND id = ?",
            (hub, instance_id),
        )
        return InstanceRow(*rows[0]) if rows else None

    def create(
        self,
        hub: str,
        row: InstanceRow,
        started: dict[str, Any],
        parent: tuple[str, int] | None = None,
    ) -> None:
        """Create (or replace) an instance, its ExecutionStarted event waiting in the inbox; a
        sub-orchestration with its parent instance and the parent's task number for it."""
        link: list[tuple[str, Sequence[Any]]] = []
        if parent is not None:
            link.append(
                (
                    "INSERT INTO parents (hub, child, parent, task_id) VALUES (?, ?, ?, ?)",
                    (hub, row.id, parent[0], parent[1]),
                )
            )
        self._write(
            [
                ("DELETE FROM parents WHERE hub = ? AND child = ?", (hub, row.id)),
                *link,
                ("DELETE FROM instances WHERE hub = ? AND id = ?", (hub, row.id)),
                ("DELETE FROM history WHERE hub = ? AND id = ?", (hub, row.id)),
                ("DELETE FROM inbox WHERE hub = ? AND id = ?", (hub, row.id)),
                ("DELETE FROM work WHERE hub = ? AND instance = ?", (hub, row.id)),
                ("DELETE FROM timers WHERE hub = ? AND instance = ?", (hub, row.id)),
                (
                    "INSERT INTO instances (hub, id, name, status, input, output, custom_status, "
                    "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        hub,
                        row.id,
                        row.name,
                        row.status,
                        row.input,
                        row.output,
                        row.custom_status,
                        row.created,
                        row.updated,
                    ),
                ),
                (
                    "INSERT INTO inbox (hub, id, event) VALUES (?, ?, ?)",
                    (hub, row.id, json.dumps(started)),
                ),
            ]
        )

    def instances(
        self,
        hub: str,
        created_from: str | None,
        created_to: str | None,
        statuses: Sequence[str],
        prefix: str | None,
    ) -> list[InstanceRow]:
        """The instances matching every filter given, oldest first."""
        sql = (
            "SELECT id, name, status, input, output, custom_status, created, updated "
            "FROM instances WHERE hub = ?"
        )
        args: list[Any] = [hub]
        if created_from is not None:
            sql += " AND created >= ?"
            args.append(created_from)
        if created_to is not None:
            sql += " AND created <= ?"
            args.append(created_to)
        if statuses:
            sql += f" AND status IN ({', '.join('?' for _ in statuses)})"
            args += list(statuses)
        if prefix:
            sql += " AND substr(id, 1, ?) = ?"
            args += [len(prefix), prefix]
        return [InstanceRow(*row) for row in self._rows(sql + " ORDER BY created, id", args)]

    def purge(self, hub: str, instance_ids: Sequence[str]) -> None:
        """Forget instances entirely: their rows, histories, inboxes, work and timers."""
        statements: list[tuple[str, Sequence[Any]]] = []
        for instance_id in instance_ids:
            statements += [
                ("DELETE FROM instances WHERE hub = ? AND id = ?", (hub, instance_id)),
                ("DELETE FROM history WHERE hub = ? AND id = ?", (hub, instance_id)),
                ("DELETE FROM inbox WHERE hub = ? AND id = ?", (hub, instance_id)),
                ("DELETE FROM work WHERE hub = ? AND instance = ?", (hub, instance_id)),
                ("DELETE FROM timers WHERE hub = ? AND instance = ?", (hub, instance_id)),
                ("DELETE FROM parents WHERE hub = ? AND child = ?", (hub, instance_id)),
            ]
        if statements:
            self._write(statements)

    def parent_of(self, hub: str, instance_id: str) -> tuple[str, int] | None:
        rows = self._rows(
            "SELECT parent, task_id FROM parents WHERE hub = ? AND child = ?", (hub, instance_id)
        )
        return (str(rows[0][0]), int(rows[0][1])) if rows else None

    def deliver(self, hub: str, instance_id: str, event: dict[str, Any]) -> None:
        self._write(
            [
                (
                    "INSERT INTO inbox (hub, id, event) VALUES (?, ?, ?)",
                    (hub, instance_id, json.dumps(event)),
                )
            ]
        )

    def history(self, hub: str, instance_id: str) -> list[dict[str, Any]]:
        rows = self._rows(
            "SELECT event FROM history WHERE hub = ? AND id = ? ORDER BY seq", (hub, instance_id)
        )
        return [json.loads(r[0]) for r in rows]

    # -- episodes

    def claim_ready(self, hub: str, limit: int) -> list[str]:
        """Instances with new events, not suspended and with no live lease, leased to the
        caller."""
        return self._claim(
            "SELECT DISTINCT i.id FROM inbox b JOIN instances i ON i.hub = b.hub AND i.id = b.id "
            "WHERE b.hub = ? AND i.lease < ? AND i.status != 'Suspended' LIMIT ?",
            "instances",
            hub,
            limit,
        )

    def _claim(self, select: str, table: str, hub: str, limit: int) -> list[str]:
        now = time.time()
        rows = self._rows(select, (hub, now, limit))
        update = f"UPDATE {table} SET lease = ? WHERE hub = ? AND id = ? AND lease < ?"
        until = now + self.lease_seconds
        return [i for (i,) in rows if self._lease(update, (until, hub, i, now))]

    def inbox(self, hub: str, instance_id: str) -> list[tuple[int, dict[str, Any]]]:
        rows = self._rows(
            "SELECT n, event FROM inbox WHERE hub = ? AND id = ? ORDER BY n", (hub, instance_id)
        )
        return [(n, json.loads(text)) for n, text in rows]

    def checkpoint(
        self,
        hub: str,
        instance_id: str,
        consumed: Sequence[int],
        new_events: Sequence[dict[str, Any]],
        work: Sequence[tuple[int, str, str | None]],
        status: str,
        output: str | None,
        custom_status: str | None,
        updated: str,
        timers: Sequence[tuple[float, dict[str, Any]]] = (),
    ) -> None:
        """One episode's outcome, written at once: events appended to the history, the inbox
        entries it saw removed, activities and timers (the event each delivers, at an epoch
        time) scheduled, the status set and the lease released."""
        rows = self._rows(
            "SELECT COALESCE(MAX(seq), -1) FROM history WHERE hub = ? AND id = ?",
            (hub, instance_id),
        )
        seq = int(rows[0][0]) + 1
        statements: list[tuple[str, Sequence[Any]]] = []
        for event in new_events:
            statements.append(
                (
                    "INSERT INTO history (hub, id, seq, event) VALUES (?, ?, ?, ?)",
                    (hub, instance_id, seq, json.dumps(event)),
                )
            )
            seq += 1
        for n in consumed:
            statements.append(("DELETE FROM inbox WHERE n = ?", (n,)))
        for task_id, name, text in work:
            statements.append(
                (
                    "INSERT INTO work (hub, instance, task_id, name, input) VALUES (?, ?, ?, ?, ?)",
                    (hub, instance_id, task_id, name, text),
                )
            )
        for fire_at, fired in timers:
            statements.append(
                (
                    "INSERT INTO timers (hub, instance, fire_at, event) VALUES (?, ?, ?, ?)",
                    (hub, instance_id, fire_at, json.dumps(fired)),
                )
            )
        if status in TERMINAL:
            statements += [
                ("DELETE FROM work WHERE hub = ? AND instance = ?", (hub, instance_id)),
                ("DELETE FROM timers WHERE hub = ? AND instance = ?", (hub, instance_id)),
            ]
        statements.append(
            (
                # A terminate or suspend that came during the episode stands.
                "UPDATE instances SET status = CASE WHEN status = 'Terminated' THEN status "
                "WHEN status = 'Suspended' AND ? = 'Running' THEN status ELSE ? END, "
                "output = CASE WHEN status = 'Terminated' THEN output ELSE ? END, "
                "custom_status = ?, updated = ?, lease = 0 WHERE hub = ? AND id = ?",
                (status, status, output, custom_status, updated, hub, instance_id),
            )
        )
        self._write(statements)

    def release(self, hub: str, instance_id: str) -> None:
        self._write(
            [("UPDATE instances SET lease = 0 WHERE hub = ? AND id = ?", (hub, instance_id))]
        )

    def discard_inbox(self, hub: str, consumed: Sequence[int]) -> None:
        self._write([("DELETE FROM inbox WHERE n = ?", (n,)) for n in consumed])

    def terminate(
        self,
        hub: str,
        instance_id: str,
        reason: str | None,
        updated: str,
        completed: dict[str, Any],
    ) -> None:
        rows = self._rows(
            "SELECT COALESCE(MAX(seq), -1) FROM history WHERE hub = ? AND id = ?",
            (hub, instance_id),
        )
        self._write(
            [
                (
                    "INSERT INTO history (hub, id, seq, event) VALUES (?, ?, ?, ?)",
                    (hub, instance_id, int(rows[0][0]) + 1, json.dumps(completed)),
                ),
                ("DELETE FROM inbox WHERE hub = ? AND id = ?", (hub, instance_id)),
                ("DELETE FROM work WHERE hub = ? AND instance = ?", (hub, instance_id)),
                ("DELETE FROM timers WHERE hub = ? AND instance = ?", (hub, instance_id)),
                (
                    "UPDATE instances SET status = 'Terminated', output = ?, updated = ? "
                    "WHERE hub = ? AND id = ?",
                    (reason, updated, hub, instance_id),
                ),
            ]
        )

    def continue_as_new(
        self,
        hub: str,
        instance_id: str,
        stored_input: str | None,
        started: dict[str, Any],
        custom_status: str | None,
        updated: str,
    ) -> None:
        """Start the instance's next execution: its history, inbox, work and timers replaced by
        the new `ExecutionStarted`, the lease released."""
        self._write(
            [
                ("DELETE FROM history WHERE hub = ? AND id = ?", (hub, instance_id)),
                ("DELETE FROM inbox WHERE hub = ? AND id = ?", (hub, instance_id)),
                ("DELETE FROM work WHERE hub = ? AND instance = ?", (hub, instance_id)),
                ("DELETE FROM timers WHERE hub = ? AND instance = ?", (hub, instance_id)),
                (
                    "INSERT INTO inbox (hub, id, event) VALUES (?, ?, ?)",
                    (hub, instance_id, json.dumps(started)),
                ),
                (
                    "UPDATE instances SET status = 'ContinuedAsNew', input = ?, output = NULL, "
                    "custom_status = ?, updated = ?, lease = 0 WHERE hub = ? AND id = ?",
                    (stored_input, custom_status, updated, hub, instance_id),
                ),
            ]
        )

    def set_suspended(
        self, hub: str, instance_id: str, suspended: bool, event: dict[str, Any], updated: str
    ) -> None:
        """Suspend or resume: the status and an `ExecutionSuspended`/`ExecutionResumed` event in
        the history (the library ignores both). A resumed instance runs its queued events."""
        rows = self._rows(
            "SELECT COALESCE(MAX(seq), -1) FROM history WHERE hub = ? AND id = ?",
            (hub, instance_id),
        )
        self._write(
            [
                (
                    "INSERT INTO history (hub, id, seq, event) VALUES (?, ?, ?, ?)",
                    (hub, instance_id, int(rows[0][0]) + 1, json.dumps(event)),
                ),
                (
                    "UPDATE instances SET status = ?, updated = ? WHERE hub = ? AND id = ?",
                    ("Suspended" if suspended else "Running", updated, hub, instance_id),
                ),
            ]
        )

    def rewind(
        self,
        hub: str,
        instance_id: str,
        history: Sequence[dict[str, Any]],
        work: Sequence[tuple[int, str, str | None]],
        updated: str,
    ) -> None:
        """Replace a failed instance's history and run the given activities again."""
        statements: list[tuple[str, Sequence[Any]]] = [
            ("DELETE FROM history WHERE hub = ? AND id = ?", (hub, instance_id)),
        ]
        statements += [
            (
                "INSERT INTO history (hub, id, seq, event) VALUES (?, ?, ?, ?)",
                (hub, instance_id, seq, json.dumps(event)),
            )
            for seq, event in enumerate(history)
        ]
        statements += [
            (
                "INSERT INTO work (hub, instance, task_id, name, input) VALUES (?, ?, ?, ?, ?)",
                (hub, instance_id, task_id, name, text),
            )
            for task_id, name, text in work
        ]
        statements.append(
            (
                "UPDATE instances SET status = 'Running', output = NULL, updated = ? "
                "WHERE hub = ? AND id = ?",
                (updated, hub, instance_id),
            )
        )
        self._write(statements)

    # -- entities: a row per entity that has state or operations; state NULL = not existing

    def signal_entity(self, hub: str, entity_id: str, op: dict[str, Any]) -> None:
        """Queue an operation for an entity, in arrival order."""
        self._write(
            [
                ("INSERT OR IGNORE INTO entities (hub, id) VALUES (?, ?)", (hub, entity_id)),
                (
                    "INSERT INTO entity_ops (hub, entity, op) VALUES (?, ?, ?)",
                    (hub, entity_id, json.dumps(op)),
                ),
            ]
        )

    def entity_state(self, hub: str, entity_id: str) -> str | None:
        rows = self._rows("SELECT state FROM entities WHERE hub = ? AND id = ?", (hub, entity_id))
        return None if not rows else rows[0][0]

    def claim_entities(self, hub: str, limit: int) -> list[str]:
        """Entities with queued operations and no live lease, leased to the caller."""
        return self._claim(
            "SELECT DISTINCT e.id FROM entity_ops o JOIN entities e ON e.hub = o.hub "
            "AND e.id = o.entity WHERE o.hub = ? AND e.lease < ? LIMIT ?",
            "entities",
            hub,
            limit,
        )

    def entity_ops(self, hub: str, entity_id: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self._rows(
            "SELECT n, op FROM entity_ops WHERE hub = ? AND entity = ? ORDER BY n LIMIT ?",
            (hub, entity_id, limit),
        )
        return [(n, json.loads(text)) for n, text in rows]

    def entity_checkpoint(
        self,
        hub: str,
        entity_id: str,
        consumed: Sequence[int],
        state: str | None,
        deliveries: Sequence[tuple[str, dict[str, Any]]],
    ) -> None:
        """A batch's outcome at once: the new state (None: deleted), the operations removed,
        the callers' responses delivered, the lease released."""
        statements: list[tuple[str, Sequence[Any]]] = [
            ("DELETE FROM entity_ops WHERE n = ?", (n,)) for n in consumed
        ]
        statements += [
            ("INSERT INTO inbox (hub, id, event) VALUES (?, ?, ?)", (hub, target, json.dumps(e)))
            for target, e in deliveries
        ]
        statements.append(
            (
                "UPDATE entities SET state = ?, lease = 0 WHERE hub = ? AND id = ?",
                (state, hub, entity_id),
            )
        )
        self._write(statements)

    def release_entity(self, hub: str, entity_id: str) -> None:
        self._write([("UPDATE entities SET lease = 0 WHERE hub = ? AND id = ?", (hub, entity_id))])

    # -- timers

    def fire_due_timers(self, hub: str, now: float) -> float | None:
        """Deliver the events of the timers due at `now`, each once (taken in one transaction,
        so two processes never both fire one); the epoch time of the next timer, if any."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                due = self._db.execute(
                    "SELECT n, instance, event FROM timers WHERE hub = ? AND fire_at <= ?",
                    (hub, now),
                ).fetchall()
                for n, instance, event in due:
                    self._db.execute(
                        "INSERT INTO inbox (hub, id, event) VALUES (?, ?, ?)",
                        (hub, instance, event),
                    )
                    self._db.execute("DELETE FROM timers WHERE n = ?", (n,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            row = self._db.execute(
                "SELECT MIN(fire_at) FROM timers WHERE hub = ?", (hub,)
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    # -- activities

    def claim_work(self, hub: str, limit: int) -> list[WorkItem]:
        now = time.time()
        rows = self._rows(
            "SELECT n, instance, task_id, name, input FROM work WHERE hub = ? AND lease < ? "
            "ORDER BY n LIMIT ?",
            (hub, now, limit),
        )
        update = "UPDATE work SET lease = ? WHERE n = ? AND lease < ?"
        until = now + self.lease_seconds
        return [WorkItem(*row) for row in rows if self._lease(update, (until, row[0], now))]

    def renew_work(self, n: int) -> None:
        self._write(
            [("UPDATE work SET lease = ? WHERE n = ?", (time.time() + self.lease_seconds, n))]
        )

    def finish_work(self, hub: str, item: WorkItem, event: dict[str, Any]) -> None:
        """An activity's result, delivered to its instance in the same transaction that removes
        the work item (nothing when the instance has ended or was replaced meanwhile)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cursor = self._db.execute("DELETE FROM work WHERE n = ?", (item.n,))
                if cursor.rowcount == 1:
                    self._db.execute(
                        "INSERT INTO inbox (hub, id, event) VALUES (?, ?, ?)",
                        (hub, item.instance, json.dumps(event)),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def has_work(self, hub: str) -> bool:
        return bool(self._rows("SELECT 1 FROM work WHERE hub = ? LIMIT 1", (hub,))) or bool(
            self._rows("SELECT 1 FROM inbox WHERE hub = ? LIMIT 1", (hub,))
        )
