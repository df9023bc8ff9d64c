"""History events as the library reads them (spec §2.1), and the status shapes of the HTTP API
(spec §5, §6).

Events are stored exactly as sent to the orchestrator, so every replay sees the same
`Timestamp` texts and `current_utc_datetime` stays deterministic.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

EXECUTION_STARTED = 0
EXECUTION_COMPLETED = 1
EXECUTION_TERMINATED = 3
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
SUB_ORCHESTRATION_CREATED = 7
SUB_ORCHESTRATION_COMPLETED = 8
SUB_ORCHESTRATION_FAILED = 9
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
EXECUTION_SUSPENDED = 19
EXECUTION_RESUMED = 20
ORCHESTRATOR_COMPLETED = 13
EVENT_SENT = 14
EVENT_RAISED = 15

EVENT_NAMES = {
    0: "ExecutionStarted",
    1: "ExecutionCompleted",
    3: "ExecutionTerminated",
    4: "TaskScheduled",
    5: "TaskCompleted",
    6: "TaskFailed",
    7: "SubOrchestrationInstanceCreated",
    8: "SubOrchestrationInstanceCompleted",
    9: "SubOrchestrationInstanceFailed",
    10: "TimerCreated",
    11: "TimerFired",
    12: "OrchestratorStarted",
    13: "OrchestratorCompleted",
    14: "EventSent",
    15: "EventRaised",
    19: "ExecutionSuspended",
    20: "ExecutionResumed",
}

# DTFx's OrchestrationStatus numbers, for ExecutionCompleted events.
STATUS_NUMBERS = {"Completed": 1, "Failed": 3, "Terminated": 5}


def timestamp(moment: datetime | None = None) -> str:
    """UTC, with milliseconds and `Z`, as every stored event's `Timestamp`."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def status_time(text: str) -> str:
    """A stored timestamp in the status API's form, `yyyy-MM-ddTHH:mm:ssZ`."""
    return text[:19] + "Z"


def event(
    event_type: int, when: str | None = None, event_id: int = -1, **fields: Any
) -> dict[str, Any]:
    return {
        "EventType": event_type,
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": when or timestamp(),
        **fields,
    }


def execution_started(name: str, input_text: str | None, instance_id: str) -> dict[str, Any]:
    return event(
        EXECUTION_STARTED,
        Name=name,
        Version="",
        Input=input_text,
        OrchestrationInstance={"InstanceId": instance_id},
    )


def orchestration_context(
    instance_id: str,
    input_text: str | None,
    past: list[dict[str, Any]],
    new: list[dict[str, Any]],
    now: str,
    parent_instance_id: str | None = None,
) -> str:
    """The orchestration trigger's value for one episode: past events marked played, then an
    `OrchestratorStarted` at `now`, then the new events. Schema V2 (`upperSchemaVersion` 1):
    the library answers with one flat transcript."""
    played = [{**e, "IsPlayed": True} for e in past]
    started = event(ORCHESTRATOR_STARTED, now)
    return json.dumps(
        {
            "history": [*played, started, *new],
            "input": input_text,
            "instanceId": instance_id,
            "isReplaying": bool(past),
            "parentInstanceId": parent_instance_id,
            "upperSchemaVersion": 1,
        }
    )


def orchestrator_input(stored: str | None) -> str | None:
    """The input text an orchestrator gets for a stored input value (spec §2.1): a string is
    already the JSON text the library's client encoded; any other value is encoded."""
    if stored is None:
        return None
    value = json.loads(stored)
    return value if isinstance(value, str) else json.dumps(value)


def parsed(text: str | None) -> Any:
    """A stored text as the status API shows it: JSON parsed, else the text itself."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def history_events(
    events: list[dict[str, Any]], show_output: bool, show_input: bool
) -> list[dict[str, Any]]:
    """The stored history in the extension's `historyEvents` shape (spec §5)."""
    scheduled: dict[int, dict[str, Any]] = {}
    for e in events:
        if e["EventType"] in (TASK_SCHEDULED, SUB_ORCHESTRATION_CREATED):
            scheduled[e["EventId"]] = e
    folded: set[int] = set()
    shaped: list[dict[str, Any]] = []
    for e in events:
        kind = e["EventType"]
        if kind in (ORCHESTRATOR_STARTED, ORCHESTRATOR_COMPLETED):
            continue
        if kind in (TASK_SCHEDULED, SUB_ORCHESTRATION_CREATED):
            continue  # placed below, at its completion, or at the end while running
        out = {k: v for k, v in e.items() if k not in ("EventId", "IsPlayed", "EventType")}
        out = {"EventType": EVENT_NAMES.get(kind, str(kind)), **out}
        if kind == EXECUTION_STARTED:
            out["FunctionName"] = out.pop("Name", None)
            out.pop("OrchestrationInstance", None)
            out.pop("Version", None)
            out["Input"] = parsed(out.get("Input"))
        elif kind in (
            TASK_COMPLETED,
            TASK_FAILED,
            SUB_ORCHESTRATION_COMPLETED,
            SUB_ORCHESTRATION_FAILED,
        ):
            task = scheduled.get(out.pop("TaskScheduledId", -1))
            if task is not None:
                folded.add(task["EventId"])
                out["FunctionName"] = task.get("Name")
                out["ScheduledTime"] = task["Timestamp"]
                if show_input:
                    out["Input"] = parsed(task.get("Input"))
            if kind in (TASK_COMPLETED, SUB_ORCHESTRATION_COMPLETED):
                result = out.pop("Result", None)
                if show_output:
                    out["Result"] = parsed(result)
        elif kind == EXECUTION_COMPLETED:
            result = out.pop("Result", None)
            if show_output:
                out["Result"] = parsed(result)
        elif kind == TIMER_FIRED:
            out.pop("TimerId", None)
        elif kind == EVENT_RAISED:
            out["Input"] = parsed(out.get("Input"))
        if not show_input:
            out.pop("Input", None)
        shaped.append(out)
    for task_id, task in scheduled.items():
        if task_id not in folded:
            out = {
                "EventType": EVENT_NAMES[task["EventType"]],
                "Timestamp": task["Timestamp"],
                "Name": task.get("Name"),
            }
            if show_input:
                out["Input"] = parsed(task.get("Input"))
            shaped.append(out)
    return shaped
