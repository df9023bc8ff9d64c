"""One orchestrator episode's answer turned into history, work and status (spec §2.2, §2.3).

The library numbers the tasks it yields itself and never sends the numbers, so they are
recomputed here the way DTFx does: walking the transcript in order, one number per activity
call (a `task_all`/`task_any` numbers its children in list order), none for a wait on an
external event. A numbered call not yet in the history is new: it gets its `TaskScheduled`
event and a work item.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from funchost.durable import history as h
from funchost.durable.replay import RetryReplay

OUT_OF_PROC_MARKER = "$OutOfProcData$:"

CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CALL_SUB_ORCHESTRATOR = 2
CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
CONTINUE_AS_NEW = 4
CREATE_TIMER = 5
CALL_ENTITY = 7
CALL_HTTP = 8
SIGNAL_ENTITY = 9
HTTP_ACTIVITY = "BuiltIn::HttpActivity"  # the name DTFx schedules durable HTTP calls under
WAIT_FOR_EXTERNAL_EVENT = 6
WHEN_ANY = 11
WHEN_ALL = 12

#: Actions funchost does not run yet, by `actionType`, named as users know them.
NOT_BUILT = {
    10: "signal_entity at a scheduled time",
}


class EpisodeError(Exception):
    """The orchestrator's answer cannot be applied; the message is the instance's output."""


@dataclass
class Outcome:
    status: str  # Running | Completed | Failed
    output: str | None = None
    custom_status: str | None = None
    scheduled: list[dict[str, Any]] = field(default_factory=list)  # new TaskScheduled events
    work: list[tuple[int, str, str | None]] = field(default_factory=list)
    timers: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (epoch, event)
    continue_input: str | None = None  # the next execution's input, with ContinuedAsNew
    # entity operations to queue: (entity id, operation)
    entity_ops: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # sub-orchestrations to start: (instance id, orchestrator, input text, task number)
    children: list[tuple[str, str, str | None, int]] = field(default_factory=list)


def _actions(state: dict[str, Any]) -> Iterator[dict[str, Any]]:
    actions = state.get("actions")
    if not isinstance(actions, list):
        raise EpisodeError("the orchestrator's answer has no list of actions")
    for group in actions:
        items = group if isinstance(group, list) else [group]
        for action in items:
            if not isinstance(action, dict):
                raise EpisodeError(
                    f"the orchestrator's answer has an action that is not an object: {action!r}"
                )
            yield action


def _has_retry(action: dict[str, Any]) -> bool:
    if action.get("actionType") in (CALL_ACTIVITY_WITH_RETRY, CALL_SUB_ORCHESTRATOR_WITH_RETRY):
        return True
    children = action.get("compoundActions") or []
    return any(isinstance(c, dict) and _has_retry(c) for c in children)


def _number(
    action: dict[str, Any], counter: list[int], calls: list[tuple[int, dict[str, Any]]]
) -> None:
    kind = action.get("actionType")
    if kind in (
        CALL_ACTIVITY,
        CALL_ACTIVITY_WITH_RETRY,
        CALL_SUB_ORCHESTRATOR,
        CALL_SUB_ORCHESTRATOR_WITH_RETRY,
        CREATE_TIMER,
        CALL_ENTITY,
        SIGNAL_ENTITY,
        CALL_HTTP,
    ):
        calls.append((counter[0], action))
        counter[0] += 1
    elif kind in (WHEN_ALL, WHEN_ANY):
        for child in action.get("compoundActions") or []:
            if isinstance(child, dict):
                _number(child, counter, calls)
    elif kind == CONTINUE_AS_NEW:
        counter[0] += 1  # numbered at call time; nothing waits for it
        calls.append((-1, action))
    elif kind == WAIT_FOR_EXTERNAL_EVENT:
        pass
    elif kind in NOT_BUILT:
        raise EpisodeError(f"funchost does not support Durable {NOT_BUILT[kind]} yet")
    else:
        raise EpisodeError(f"the orchestrator asked for an unknown action type {kind!r}")


def apply_answer(
    name: str,
    state: dict[str, Any],
    past: list[dict[str, Any]],
    previous_custom_status: str | None,
    now: str,
    instance_id: str = "",
    new: list[dict[str, Any]] | None = None,
) -> Outcome:
    """What an orchestrator's `OrchestratorState` means for its instance."""
    custom = previous_custom_status
    if "customStatus" in state:
        custom = json.dumps(state["customStatus"])
    if state.get("error"):
        return Outcome("Failed", f"Orchestrator function '{name}' failed: {state['error']}", custom)
    scheduled = {
        e["EventId"]: e
        for e in past
        if e.get("EventType")
        in (h.TASK_SCHEDULED, h.SUB_ORCHESTRATION_CREATED, h.TIMER_CREATED, h.EVENT_SENT)
    }
    calls: list[tuple[int, dict[str, Any]]] = []
    counter = [0]
    for action in _actions(state):
        _number(action, counter, calls)  # raises for actions funchost does not run
    if any(_has_retry(action) for action in _actions(state)):
        if any(a.get("actionType") in (CALL_ENTITY, SIGNAL_ENTITY) for _, a in calls):
            raise EpisodeError(
                "funchost does not support Durable entity calls and retries in one "
                "orchestration yet"
            )
        calls = RetryReplay([*past, *(new or [])]).number(_actions(state))
    outcome = Outcome("Running", custom_status=custom)
    for task_id, action in calls:
        if action.get("actionType") == CREATE_TIMER:
            _timer(name, task_id, action, scheduled.get(task_id), now, outcome)
            continue
        if action.get("actionType") in (CALL_ENTITY, SIGNAL_ENTITY):
            _entity_call(name, instance_id, task_id, action, scheduled.get(task_id), now, outcome)
            continue
        if action.get("actionType") == CONTINUE_AS_NEW:
            text = action.get("input")
            outcome.continue_input = None if text is None else str(text)
            outcome.status = "ContinuedAsNew"
            continue
        if action.get("actionType") == CALL_HTTP:
            action = {
                "actionType": CALL_ACTIVITY,
                "functionName": HTTP_ACTIVITY,
                "input": json.dumps(action.get("httpRequest") or {}),
            }
        function = str(action.get("functionName") or "")
        is_child = action.get("actionType") == CALL_SUB_ORCHESTRATOR
        expected = h.SUB_ORCHESTRATION_CREATED if is_child else h.TASK_SCHEDULED
        if task_id in scheduled:
            past_event = scheduled[task_id]
            if past_event.get("EventType") != expected or (
                str(past_event.get("Name", "")).lower() != function.lower()
            ):
                raise EpisodeError(
                    f"Non-deterministic workflow detected: orchestrator '{name}' now calls "
                    f"{'orchestrator' if is_child else 'activity'} '{function}' as task "
                    f"{task_id}, where its history has "
                    f"'{past_event.get('Name', 'a timer')}'"
                )
            continue
        text = action.get("input")
        text = None if text is None else str(text)
        if is_child:
            child = str(action.get("instanceId") or f"{instance_id}:{task_id:04d}")
            outcome.scheduled.append(
                h.event(
                    h.SUB_ORCHESTRATION_CREATED,
                    now,
                    task_id,
                    Name=function,
                    Input=text,
                    InstanceId=child,
                )
            )
            outcome.children.append((child, function, text, task_id))
            continue
        outcome.scheduled.append(h.event(h.TASK_SCHEDULED, now, task_id, Name=function, Input=text))
        outcome.work.append((task_id, function, text))
    if outcome.status == "ContinuedAsNew" and not state.get("isDone"):
        raise EpisodeError("continue_as_new was called but the orchestrator did not return")
    if state.get("isDone"):
        if outcome.status != "ContinuedAsNew":
            outcome.status = "Completed"
            outcome.output = json.dumps(state.get("output"))
        # Signals sent before returning still go out; nothing else can be waited for now.
        outcome.scheduled = [
            e
            for e in outcome.scheduled
            if e["EventType"] == h.EVENT_SENT and json.loads(e["Input"]).get("signal")
        ]
        outcome.entity_ops = [(e, op) for e, op in outcome.entity_ops if op["isSignal"]]
        outcome.work.clear()
        outcome.timers.clear()
        outcome.children.clear()
    return outcome


def _replayed(
    name: str, task_id: int, past_event: dict[str, Any] | None, expected: int, doing: str
) -> bool:
    """Whether task `task_id` is already in the history, as the same kind of task (else the
    code changed between replays: the instance fails, naming what differs)."""
    if past_event is None:
        return False
    if past_event.get("EventType") != expected:
        raise EpisodeError(
            f"Non-deterministic workflow detected: orchestrator '{name}' now {doing} as task "
            f"{task_id}, where its history has '{past_event.get('Name', 'a timer')}'"
        )
    return True


def _entity_call(
    name: str,
    instance_id: str,
    task_id: int,
    action: dict[str, Any],
    past_event: dict[str, Any] | None,
    now: str,
    outcome: Outcome,
) -> None:
    """`call_entity`/`signal_entity`: an `EventSent` carrying a request id (the call's answer
    comes back as an `EventRaised` of that name) and the operation queued for the entity."""
    if _replayed(name, task_id, past_event, h.EVENT_SENT, "calls an entity"):
        return
    entity_id = str(action.get("instanceId") or "")
    signal = action.get("actionType") == SIGNAL_ENTITY
    request_id = uuid.uuid4().hex
    operation = str(action.get("operation") or "")
    text = action.get("input")
    request = {"id": request_id, "op": operation, "signal": signal, "input": text}
    outcome.scheduled.append(
        h.event(
            h.EVENT_SENT, now, task_id, InstanceId=entity_id, Name="op", Input=json.dumps(request)
        )
    )
    op = {
        "name": operation,
        "input": None if text is None else json.dumps(text),
        "isSignal": signal,
        "parent": None if signal else instance_id,
        "requestId": request_id,
    }
    outcome.entity_ops.append((entity_id, op))


def _timer(
    name: str,
    task_id: int,
    action: dict[str, Any],
    past_event: dict[str, Any] | None,
    now: str,
    outcome: Outcome,
) -> None:
    """A `create_timer`: a `TimerCreated` event and a timer that delivers `TimerFired` with the
    timer's number at `fireAt`. A timer cancelled before it was scheduled is never scheduled."""
    if _replayed(name, task_id, past_event, h.TIMER_CREATED, "creates a timer"):
        return
    if action.get("isCanceled"):
        return
    fire_at = str(action.get("fireAt") or "")
    try:
        moment = datetime.fromisoformat(fire_at)
    except ValueError:
        raise EpisodeError(f"the timer's fireAt {fire_at!r} is not a time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    outcome.scheduled.append(h.event(h.TIMER_CREATED, now, task_id, FireAt=fire_at))
    fired = h.event(h.TIMER_FIRED, h.timestamp(moment), TimerId=task_id, FireAt=fire_at)
    outcome.timers.append((moment.timestamp(), fired))


def failure_state(message: str) -> dict[str, Any] | None:
    """The `OrchestratorState` carried by an orchestrator's exception message, if any."""
    _, marker, rest = message.partition(OUT_OF_PROC_MARKER)
    if not marker:
        return None
    try:
        state = json.loads(rest)
    except ValueError:
        return None
    return state if isinstance(state, dict) else None
