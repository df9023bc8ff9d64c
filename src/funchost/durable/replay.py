"""Task numbers for transcripts with retries, found by replaying the history (spec §2.2).

A retried call gets one number for its first attempt when yielded, one for a retry timer when
its failure is replayed, and one for the next attempt when that timer's firing is replayed (a
timer follows the last failure too, and the call fails when it fires). Those numbers depend on
where the events lie in the history, so the transcript is walked the way the library runs the
code: each entry (one yield) gets its numbers, then history events are applied in order until
that entry is resolved. Completions for numbers not yet given are kept until the number
appears, as the library does.

Only transcripts with `call_activity_with_retry` or `call_sub_orchestrator_with_retry` (whose
attempts are sub-orchestrations) take this path; the others are numbered by
`episode._number`, which gives the same numbers when no retry is involved.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from funchost.durable import history as h

CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
RETRIED = frozenset({CALL_ACTIVITY_WITH_RETRY, CALL_SUB_ORCHESTRATOR_WITH_RETRY})
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
WAIT_FOR_EXTERNAL_EVENT = 6
WHEN_ANY = 11
WHEN_ALL = 12


@dataclass
class _Node:
    kind: int
    action: dict[str, Any]
    children: list[_Node] = field(default_factory=list)
    done: bool = False
    failed: bool = False
    attempts: int = 0  # retries: attempts scheduled so far

    def settle(self) -> None:
        """Recompute a compound's state from its children (the library's WhenAll fails at the
        first failed child; WhenAny completes with the first child done)."""
        if self.kind == WHEN_ALL:
            if any(c.failed for c in self.children):
                self.done = self.failed = True
            elif all(c.done for c in self.children):
                self.done = True
        elif self.kind == WHEN_ANY and any(c.done for c in self.children):
            self.done = True


class RetryReplay:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = [e for e in events if e.get("EventType") in _APPLIED]
        self.position = 0
        self.counter = 0
        self.calls: list[tuple[int, dict[str, Any]]] = []
        self.by_id: dict[int, _Node] = {}
        self.retry_timers: dict[int, _Node] = {}
        self.deferred: dict[int, dict[str, Any]] = {}
        self.waiting: dict[str, list[_Node]] = {}
        self.raised: dict[str, dict[str, Any]] = {}
        self.parents: dict[int, _Node] = {}  # node id -> enclosing compound

    def number(self, entries: Iterator[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
        """Every numbered call of the transcript, with the retries' attempts as activity calls
        and their timers as timer actions."""
        for action in entries:
            node = self._issue(action, None)
            while not node.done and self.position < len(self.events):
                self._apply(self.events[self.position])
                self.position += 1
        return self.calls

    def _allocate(self, node: _Node, action: dict[str, Any]) -> int:
        task_id = self.counter
        self.counter += 1
        self.by_id[task_id] = node
        self.calls.append((task_id, action))
        later = self.deferred.pop(task_id, None)
        if later is not None:
            self._apply(later)
        return task_id

    def _issue(self, action: dict[str, Any], parent: _Node | None) -> _Node:
        kind = int(action.get("actionType", -1))
        node = _Node(kind, action)
        if parent is not None:
            self.parents[id(node)] = parent
        if kind in (WHEN_ALL, WHEN_ANY):
            for child in action.get("compoundActions") or []:
                if isinstance(child, dict):
                    node.children.append(self._issue(child, node))
            node.settle()
        elif kind in RETRIED:
            node.attempts = 1
            self._allocate(node, _attempt(action))
        elif kind == CONTINUE_AS_NEW:
            self.counter += 1
            self.calls.append((-1, action))
            node.done = True
        elif kind == WAIT_FOR_EXTERNAL_EVENT:
            name = str(action.get("externalEventName") or "")
            if name in self.raised:
                node.done = True
            else:
                self.waiting.setdefault(name, []).append(node)
        else:
            self._allocate(node, action)
        return node

    def _finish(self, node: _Node, failed: bool) -> None:
        node.done, node.failed = True, failed
        parent = self.parents.get(id(node))
        while parent is not None:
            parent.settle()
            parent = self.parents.get(id(parent))

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event["EventType"]
        if kind == h.EVENT_RAISED:
            name = str(event.get("Name") or "")
            waiting = self.waiting.get(name)
            if waiting:
                self._finish(waiting.pop(), False)
            else:
                self.raised[name] = event
            return
        key = "TimerId" if kind == h.TIMER_FIRED else "TaskScheduledId"
        task_id = event.get(key)
        if not isinstance(task_id, int):
            return
        if kind == h.TIMER_FIRED and task_id in self.retry_timers:
            node = self.retry_timers.pop(task_id)
            retry = node.action.get("retryOptions") or {}
            if node.attempts >= int(retry.get("maxNumberOfAttempts") or 1):
                self._finish(node, True)
            else:
                node.attempts += 1
                self._allocate(node, _attempt(node.action))
            return
        node_or_none = self.by_id.get(task_id)
        if node_or_none is None:
            self.deferred[task_id] = event
            return
        node = node_or_none
        if node.done:
            return
        failed = kind in (h.TASK_FAILED, h.SUB_ORCHESTRATION_FAILED)
        if node.kind in RETRIED and failed:
            interval = (node.action.get("retryOptions") or {}).get(
                "firstRetryIntervalInMilliseconds"
            )
            fire_at = _parse(event["Timestamp"]) + timedelta(milliseconds=float(interval or 0))
            timer = {
                "actionType": CREATE_TIMER,
                "fireAt": fire_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "isCanceled": False,
            }
            self.retry_timers[self._allocate(node, timer)] = node
            return
        self._finish(node, failed)


_APPLIED = frozenset(
    {
        h.TASK_COMPLETED,
        h.TASK_FAILED,
        h.SUB_ORCHESTRATION_COMPLETED,
        h.SUB_ORCHESTRATION_FAILED,
        h.TIMER_FIRED,
        h.EVENT_RAISED,
    }
)


def _attempt(action: dict[str, Any]) -> dict[str, Any]:
    """One attempt of a retried call, as the plain call it is."""
    if action.get("actionType") == CALL_SUB_ORCHESTRATOR_WITH_RETRY:
        return {
            "actionType": CALL_SUB_ORCHESTRATOR,
            "functionName": action.get("functionName"),
            "input": action.get("input"),
            "instanceId": action.get("instanceId"),
        }
    return {
        "actionType": CALL_ACTIVITY,
        "functionName": action.get("functionName"),
        "input": action.get("input"),
    }


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
