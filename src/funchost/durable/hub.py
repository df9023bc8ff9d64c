"""A task hub at work: it starts instances, runs orchestrator episodes and activities, and
answers the client operations of the management API.

`HubWorker` is the hub's listener: it claims instances with new events and runs one episode
for each (one at a time per instance, by lease), and claims activity work items and runs them
concurrently, up to `maxConcurrentActivityFunctions`. A write by this process wakes it at once;
writes by other processes are seen at the next poll (`POLL_SECONDS`). Durable timers are rows
in the store, fired by whichever process looks first once they are due; the worker sleeps no
longer than until the next one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.functions import meta

from funchost.bindings.expressions import resolve_settings
from funchost.bindings.runtime import BackgroundListener
from funchost.durable import history as h
from funchost.durable.episode import (
    HTTP_ACTIVITY,
    EpisodeError,
    Outcome,
    apply_answer,
    failure_state,
)
from funchost.durable.http_calls import call_http
from funchost.durable.store import TERMINAL, DurableStore, InstanceRow, WorkItem
from funchost.errors import ConfigError
from funchost.indexing.spec import FunctionSpec
from funchost.invocation.invoker import InvocationResult, TriggerEvent

logger = logging.getLogger("funchost.durable")

POLL_SECONDS = 1.0
DEFAULT_HUB = "TestHubName"
INVALID_ID = re.compile(r"[/\\#?\x00-\x1f\x7f]")

Run = Callable[[FunctionSpec, TriggerEvent], Awaitable[InvocationResult]]


class InstanceIdError(ValueError):
    pass


def check_instance_id(instance_id: str) -> None:
    """The extension's rule for instance ids (spec §4.3)."""
    if not instance_id or len(instance_id) > 256:
        raise InstanceIdError("Instance ID lengths must be between 1 and 256 characters.")
    if instance_id.startswith("@") or INVALID_ID.search(instance_id):
        raise InstanceIdError(
            f"Instance ID '{instance_id}' contains invalid characters: it may not start with "
            "'@' or contain '/', '\\', '#', '?' or control characters."
        )


def _get(section: Mapping[str, Any], key: str) -> Any:
    """A host.json property, its name matched without regard to case as the host does."""
    lowered = key.lower()
    return next((v for k, v in section.items() if k.lower() == lowered), None)


def durable_section(extensions: Mapping[str, Any]) -> Mapping[str, Any]:
    """host.json `extensions.durableTask`, empty when absent."""
    section = _get(extensions, "durableTask")
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ConfigError("host.json: extensions.durableTask must be a JSON object")
    return section


def max_activities(section: Mapping[str, Any]) -> int:
    value = _get(section, "maxConcurrentActivityFunctions")
    if value is None:
        return 10
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            "host.json: extensions.durableTask.maxConcurrentActivityFunctions must be a whole "
            f"number greater than 0, found {value!r}"
        )
    return value


HUB_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,44}")


def hub_name(extensions: Mapping[str, Any], settings: Mapping[str, str]) -> str:
    """host.json `extensions.durableTask.hubName` (`%Setting%`s resolved), checked as the
    extension checks it; else the site name made valid (`WEBSITE_SITE_NAME`), else
    `TestHubName`."""
    section = durable_section(extensions)
    name = _get(section, "hubName")
    if name:
        text = resolve_settings(str(name), settings)
        if not HUB_NAME.fullmatch(text):
            raise ConfigError(
                f"Task hub name '{text}' should contain only alphanumeric characters, start "
                "with a letter, and have length between 3 and 45."
            )
        return text
    site = "".join(c for c in settings.get("WEBSITE_SITE_NAME", "") if c.isascii() and c.isalnum())
    if not site:
        return DEFAULT_HUB
    if site[0].isdigit():
        site = "t" + site
    return site[:45].ljust(3, "0")


def _value_text(result: InvocationResult) -> Any:
    value = result.return_value
    return getattr(value, "value", value)


@dataclass(frozen=True)
class DurableFunctions:
    """An app's orchestrators, activities and entities, by lower-cased registered name."""

    orchestrators: dict[str, FunctionSpec]
    activities: dict[str, FunctionSpec]
    entities: dict[str, FunctionSpec] = field(default_factory=dict)

    @classmethod
    def of(cls, specs: list[FunctionSpec]) -> DurableFunctions:
        orchestrators, activities, entities = {}, {}, {}
        for spec in specs:
            kind = spec.trigger.type.lower()
            if kind == "orchestrationtrigger":
                orchestrators[str(spec.trigger.get("orchestration") or spec.name).lower()] = spec
            elif kind == "activitytrigger":
                activities[str(spec.trigger.get("activity") or spec.name).lower()] = spec
            elif kind == "entitytrigger":
                entities[str(spec.trigger.get("entityName") or spec.name).lower()] = spec
        return cls(orchestrators, activities, entities)


class TaskHub:
    def __init__(
        self,
        store: DurableStore,
        name: str,
        functions: DurableFunctions,
        run: Run,
        max_activities: int = 10,
    ) -> None:
        self.store = store
        self.name = name
        self.functions = functions
        self.run = run
        self.max_activities = max_activities
        self.worker = HubWorker(self)

    # -- client operations

    def start(
        self,
        name: str,
        instance_id: str | None,
        input_text: str | None,
        parent: tuple[str, int] | None = None,
    ) -> str:
        """Create an instance of orchestrator `name` (replacing a finished one of that id);
        `parent` is the instance and task number a sub-orchestration reports to."""
        spec = self.functions.orchestrators.get(name.lower())
        if spec is None:
            known = ", ".join(f"'{s.name}'" for s in self.functions.orchestrators.values())
            extra = (
                f"The following are the known orchestrator functions: {known}."
                if known
                else "No orchestrator functions are currently registered!"
            )
            raise LookupError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                f"function. Additional info: {extra}"
            )
        if instance_id is None:
            instance_id = uuid.uuid4().hex
        check_instance_id(instance_id)
        existing = self.store.instance(self.name, instance_id)
        if existing is not None and existing.status not in TERMINAL:
            raise FileExistsError(
                f"An Orchestration instance with the status {existing.status} already exists."
            )
        registered = str(spec.trigger.get("orchestration") or spec.name)
        now = h.timestamp()
        row = InstanceRow(instance_id, registered, "Pending", input_text, None, None, now, now)
        self.store.create(
            self.name,
            row,
            h.execution_started(registered, h.orchestrator_input(input_text), instance_id),
            parent,
        )
        self.worker.wake.set()
        return instance_id

    def raise_event(self, instance_id: str, event_name: str, data_text: str | None) -> None:
        self.store.deliver(
            self.name, instance_id, h.event(h.EVENT_RAISED, Name=event_name, Input=data_text)
        )
        self.worker.wake.set()

    def terminate(self, instance_id: str, reason: str | None) -> None:
        self.store.terminate(
            self.name,
            instance_id,
            reason,
            h.timestamp(),
            h.event(h.EXECUTION_TERMINATED, Input=reason),
        )
        self._report_to_parent(instance_id, "Terminated", reason)

    def _report_to_parent(self, instance_id: str, status: str, output: str | None) -> None:
        """A sub-orchestration that ended tells its parent: its output, or its failure (a
        terminated one fails the parent's task, so the parent never waits forever)."""
        parent = self.store.parent_of(self.name, instance_id)
        if parent is None:
            return
        parent_id, task_id = parent
        if status == "Completed":
            event = h.event(
                h.SUB_ORCHESTRATION_COMPLETED, TaskScheduledId=task_id, Result=output or "null"
            )
        else:
            reason = (
                output
                if status == "Failed"
                else (f"Sub-orchestration '{instance_id}' was terminated: {output}")
            )
            event = h.event(
                h.SUB_ORCHESTRATION_FAILED, TaskScheduledId=task_id, Reason=reason, Details=""
            )
        self.store.deliver(self.name, parent_id, event)
        self.worker.wake.set()

    def _start_children(self, instance_id: str, outcome: Outcome) -> None:
        for child, function, text, task_id in outcome.children:
            stored = None if text is None else json.dumps(text)
            try:
                self.start(function, child, stored, (instance_id, task_id))
            except (LookupError, InstanceIdError, FileExistsError) as exc:
                self.store.deliver(
                    self.name,
                    instance_id,
                    h.event(
                        h.SUB_ORCHESTRATION_FAILED,
                        TaskScheduledId=task_id,
                        Reason=str(exc),
                        Details="",
                    ),
                )

    def rewind(self, instance_id: str, reason: str | None) -> None:
        """A failed instance runs on as if its failed activities had not run yet: their
        failures and the instance's end leave the history, and they are scheduled again."""
        past = self.store.history(self.name, instance_id)
        failed = {e["TaskScheduledId"] for e in past if e.get("EventType") == h.TASK_FAILED}
        kept = [e for e in past if e.get("EventType") not in (h.TASK_FAILED, h.EXECUTION_COMPLETED)]
        work = [
            (int(e["EventId"]), str(e.get("Name")), e.get("Input"))
            for e in past
            if e.get("EventType") == h.TASK_SCHEDULED and e["EventId"] in failed
        ]
        self.store.rewind(self.name, instance_id, kept, work, h.timestamp())
        logger.info("Durable instance '%s' rewound: %s", instance_id, reason or "")
        self.worker.wake.set()

    def suspend(self, instance_id: str, reason: str | None) -> None:
        self.store.set_suspended(
            self.name,
            instance_id,
            True,
            h.event(h.EXECUTION_SUSPENDED, Reason=reason),
            h.timestamp(),
        )

    def resume(self, instance_id: str, reason: str | None) -> None:
        self.store.set_suspended(
            self.name,
            instance_id,
            False,
            h.event(h.EXECUTION_RESUMED, Reason=reason),
            h.timestamp(),
        )
        self.worker.wake.set()

    # -- episodes

    async def run_episode(self, instance_id: str) -> None:
        row = self.store.instance(self.name, instance_id)
        inbox = self.store.inbox(self.name, instance_id)
        consumed = [n for n, _ in inbox]
        if row is None or row.status in TERMINAL:
            self.store.discard_inbox(self.name, consumed)
            if row is not None:
                self.store.release(self.name, instance_id)
            return
        spec = self.functions.orchestrators.get(row.name.lower())
        past = self.store.history(self.name, instance_id)
        new = [e for _, e in inbox]
        now = h.timestamp()
        if not past and (not new or new[0].get("EventType") != h.EXECUTION_STARTED):
            self.store.release(self.name, instance_id)
            return
        if spec is None:
            self._finish(
                instance_id,
                consumed,
                past,
                new,
                now,
                "Failed",
                f"The orchestrator function '{row.name}' is not in this app.",
                None,
            )
            return
        # The ExecutionStarted event is second, right after the first OrchestratorStarted.
        parent = self.store.parent_of(self.name, instance_id)
        context = h.orchestration_context(
            instance_id,
            h.orchestrator_input(row.input),
            past,
            new,
            now,
            parent[0] if parent is not None else None,
        )
        result = await self.run(spec, TriggerEvent(meta.Datum(context, "string")))
        try:
            state = self._state(spec, result)
            outcome = apply_answer(row.name, state, past, row.custom_status, now, instance_id, new)
        except EpisodeError as exc:
            message = f"Orchestrator function '{row.name}' failed: {exc}"
            logger.error("Durable instance '%s': %s", instance_id, message)
            self._finish(
                instance_id, consumed, past, new, now, "Failed", message, row.custom_status
            )
            return
        if outcome.status == "ContinuedAsNew":
            # A fresh execution: new history from its ExecutionStarted; events not yet seen
            # are dropped, as the extension continues Python orchestrations without them.
            stored = None if outcome.continue_input is None else json.dumps(outcome.continue_input)
            started = h.execution_started(row.name, outcome.continue_input, instance_id)
            self.store.continue_as_new(
                self.name, instance_id, stored, started, outcome.custom_status, h.timestamp()
            )
            self.worker.wake.set()
            return
        events = [h.event(h.ORCHESTRATOR_STARTED, now), *new, *outcome.scheduled]
        events.append(h.event(h.ORCHESTRATOR_COMPLETED))
        if outcome.status in TERMINAL:
            events.append(self._completed(outcome.status, outcome.output))
        self.store.checkpoint(
            self.name,
            instance_id,
            consumed,
            events,
            outcome.work,
            outcome.status,
            outcome.output,
            outcome.custom_status,
            h.timestamp(),
            outcome.timers,
        )
        self._start_children(instance_id, outcome)
        for entity_id, op in outcome.entity_ops:
            self.store.signal_entity(self.name, entity_id, op)
        if outcome.status in TERMINAL:
            self._report_to_parent(instance_id, outcome.status, outcome.output)
        if outcome.work or outcome.timers or outcome.entity_ops:
            self.worker.wake.set()

    @staticmethod
    def _state(spec: FunctionSpec, result: InvocationResult) -> dict[str, Any]:
        if not result.succeeded:
            message = str(result.error) if result.error is not None else "the function failed"
            state = failure_state(message)
            if state is None:
                raise EpisodeError(message.splitlines()[0] if message else message)
            if not state.get("error"):
                state["error"] = message.partition("\n\n$OutOfProcData$")[0]
            return state
        value = _value_text(result)
        try:
            state = json.loads(value) if isinstance(value, (str, bytes)) else value
        except ValueError:
            state = None
        if not isinstance(state, dict):
            raise EpisodeError(
                f"its answer is not an orchestration state: {str(value)[:100]!r} (is it made "
                "with df.Orchestrator.create or @app.orchestration_trigger?)"
            )
        return state

    @staticmethod
    def _completed(status: str, output: str | None) -> dict[str, Any]:
        return h.event(
            h.EXECUTION_COMPLETED, OrchestrationStatus=h.STATUS_NUMBERS[status], Result=output
        )

    def _finish(
        self,
        instance_id: str,
        consumed: list[int],
        past: list[dict[str, Any]],
        new: list[dict[str, Any]],
        now: str,
        status: str,
        output: str,
        custom: str | None,
    ) -> None:
        events = [
            h.event(h.ORCHESTRATOR_STARTED, now),
            *new,
            h.event(h.ORCHESTRATOR_COMPLETED),
            self._completed(status, output),
        ]
        self.store.checkpoint(
            self.name, instance_id, consumed, events, [], status, output, custom, h.timestamp()
        )
        self._report_to_parent(instance_id, status, output)

    # -- entities

    def signal_entity(self, name: str, key: str, operation: str, input_text: str | None) -> None:
        """A client's signal: the operation queued, nobody waiting for its result."""
        op = {
            "name": operation,
            "input": input_text,
            "isSignal": True,
            "parent": None,
            "requestId": uuid.uuid4().hex,
        }
        self.store.signal_entity(self.name, entity_id(name, key), op)
        self.worker.wake.set()

    async def run_entity_batch(self, entity: str) -> None:
        """Run an entity's queued operations as one batch, in order (spec §3.2), and answer
        the orchestrations that called them."""
        ops = self.store.entity_ops(self.name, entity, ENTITY_BATCH)
        if not ops:
            self.store.release_entity(self.name, entity)
            return
        _, name, key = entity.split("@", 2)
        state = self.store.entity_state(self.name, entity)
        spec = self.functions.entities.get(name)
        results: list[tuple[bool, str]]
        if spec is None:
            error = json.dumps(f"The entity function '{name}' is not in this app.")
            results = [(True, error)] * len(ops)
        else:
            context = {
                "self": {"name": name, "key": key},
                "exists": state is not None,
                "state": state,
                "batch": [
                    {"name": op["name"], "input": op["input"], "isSignal": op["isSignal"]}
                    for _, op in ops
                ],
            }
            result = await self.run(spec, TriggerEvent(meta.Datum(json.dumps(context), "string")))
            state, results = _entity_answer(result, state, len(ops))
        deliveries = []
        for (_, op), (is_error, text) in zip(ops, results, strict=True):
            if op["isSignal"] or not op.get("parent"):
                continue
            response: dict[str, Any] = {"result": text}
            if is_error:
                response["exceptionType"] = "Exception"
            deliveries.append(
                (
                    str(op["parent"]),
                    h.event(h.EVENT_RAISED, Name=op["requestId"], Input=json.dumps(response)),
                )
            )
        self.store.entity_checkpoint(self.name, entity, [n for n, _ in ops], state, deliveries)
        self.worker.wake.set()

    # -- activities

    async def run_activity(self, item: WorkItem) -> None:
        spec = self.functions.activities.get(item.name.lower())
        if item.name == HTTP_ACTIVITY:
            event = await call_http(item)
        elif spec is None:
            event = h.event(
                h.TASK_FAILED,
                TaskScheduledId=item.task_id,
                Reason=f"The activity function '{item.name}' doesn't exist, is disabled, or is "
                "not an activity function.",
                Details=None,
            )
        else:
            renewing = asyncio.get_running_loop().create_task(self._renew(item))
            try:
                result = await self.run(
                    spec, TriggerEvent(meta.Datum(item.input or "null", "string"))
                )
            finally:
                renewing.cancel()
            if result.succeeded:
                value = _value_text(result)
                event = h.event(
                    h.TASK_COMPLETED,
                    TaskScheduledId=item.task_id,
                    Result=value if isinstance(value, str) else json.dumps(value),
                )
            else:
                error = result.error
                message = str(error) if error is not None else "the function failed"
                event = h.event(
                    h.TASK_FAILED,
                    TaskScheduledId=item.task_id,
                    Reason=f"Activity function '{item.name}' failed: {message}",
                    Details=json.dumps(
                        {
                            "ExceptionType": type(error).__name__ if error else "Exception",
                            "Message": message,
                        }
                    ),
                )
        self.store.finish_work(self.name, item, event)
        self.worker.wake.set()

    async def _renew(self, item: WorkItem) -> None:
        """Keep a running activity's work item leased, so that another process takes it only
        when this one is gone (a lease outlives its holder by at most `lease_seconds`)."""
        while True:
            await asyncio.sleep(self.store.lease_seconds / 3)
            self.store.renew_work(item.n)


ENTITY_BATCH = 50


def entity_id(name: str, key: str) -> str:
    """The scheduler id of an entity: names are case-insensitive, keys are not."""
    return f"@{name.lower()}@{key}"


def _entity_answer(
    result: InvocationResult, state: str | None, count: int
) -> tuple[str | None, list[tuple[bool, str]]]:
    """The state after a batch and each operation's (is error, result text); a batch whose
    function failed, or answered garbage, leaves the state and fails every operation."""
    if not result.succeeded:
        message = str(result.error).splitlines()[0] if result.error else "the function failed"
        return state, [(True, json.dumps(message))] * count
    value = _value_text(result)
    try:
        answer = json.loads(value) if isinstance(value, (str, bytes)) else value
        exists = bool(answer["entityExists"])
        new_state = answer.get("entityState") if exists else None
        results = [(bool(r["isError"]), str(r["result"])) for r in answer["results"]]
    except (ValueError, KeyError, TypeError):
        error = json.dumps("the entity's answer is not an entity state (df.Entity.create?)")
        return state, [(True, error)] * count
    if len(results) != count:
        error = json.dumps("the entity answered a different number of operations")
        return state, [(True, error)] * count
    return new_state, results


async def _guarded(
    work: Callable[[str], Awaitable[None]],
    release: Callable[[str, str], None],
    hub: str,
    claimed: str,
) -> None:
    """Run an episode or entity batch; one that fails unexpectedly is logged and its lease
    released, so it is tried again and the others go on."""
    try:
        await work(claimed)
    except Exception:
        logger.exception("Durable '%s': the work on it failed", claimed)
        release(hub, claimed)


class HubWorker(BackgroundListener):
    def __init__(self, hub: TaskHub) -> None:
        super().__init__()
        self.hub = hub

    async def run(self) -> None:
        hub = self.hub
        while not self.stopping.is_set():
            self.wake.clear()
            self.polling()
            pause = POLL_SECONDS
            try:
                next_timer = hub.store.fire_due_timers(hub.name, time.time())
                if next_timer is not None:
                    pause = min(pause, max(0.0, next_timer - time.time()))
                for instance_id in hub.store.claim_ready(hub.name, 50):
                    await _guarded(hub.run_episode, hub.store.release, hub.name, instance_id)
                for entity in hub.store.claim_entities(hub.name, 50):
                    await _guarded(hub.run_entity_batch, hub.store.release_entity, hub.name, entity)
                room = hub.max_activities - len(self._in_flight)
                if room > 0:
                    for item in hub.store.claim_work(hub.name, room):
                        task = asyncio.get_running_loop().create_task(hub.run_activity(item))
                        self._in_flight.add(task)
                        task.add_done_callback(self._done)
            except Exception:
                logger.exception("The durable task hub '%s' could not be read", hub.name)
            self.polled()
            if not self.wake.is_set():
                await self.pause(pause)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("A durable activity failed to finish: %s", task.exception())
        self.wake.set()

    async def drain(self) -> None:
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))
