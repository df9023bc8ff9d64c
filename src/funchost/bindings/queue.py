"""Queue storage: the `queueTrigger` listener and the `queue` output binding.

The listener follows the host's QueueListener (spec §5): it fetches up to `batchSize` messages,
fetches again when no more than `newBatchThreshold` are in flight, and backs off exponentially
(randomized, from 100 ms to `maxPollingInterval`) while the queue is empty; a message this host
sends to the queue wakes it at once. A success deletes the message; a failure makes it visible
again after `visibilityTimeout`, or moves it to `<queue>-poison` once its dequeue count reaches
`maxDequeueCount`.

funchost's choice, beyond the real host: a received message is hidden for `MESSAGE_LEASE`
seconds, renewed while its function runs, so the messages of a host that dies are visible again
to the others (or to the restarted host) within that time, not after 10 minutes. The setting
FUNCHOST_QUEUE_MESSAGE_LEASE changes it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import random
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.functions import meta

from funchost.bindings.converters import payload_datum
from funchost.bindings.expressions import BindingData, BindingTemplate, resolve_settings
from funchost.bindings.kinds import BindingKind
from funchost.bindings.runtime import BackgroundListener, BindingRuntime
from funchost.bindings.triggers import ADMIN_REASON
from funchost.hostjson import QueueOptions
from funchost.indexing.spec import BindingSpec, FunctionSpec
from funchost.invocation.invoker import TriggerEvent
from funchost.storage.base import MessageNotFound, Storage, StoredMessage
from funchost.storage.names import queue_name

logger = logging.getLogger("funchost.queues")

MESSAGE_LEASE = 30.0
LEASE_SETTING = "FUNCHOST_QUEUE_MESSAGE_LEASE"
MIN_POLL = 0.1
POISON_SUFFIX = "-poison"


def trigger_queue(binding: BindingSpec, settings: Mapping[str, str]) -> str:
    """The queue a trigger listens on: settings resolved, lower-cased, validated."""
    text = resolve_settings(str(binding.get("queueName") or ""), settings)
    if "{" in text or "}" in text:
        raise ValueError(f"Queue trigger name '{text}' cannot contain binding parameters.")
    return queue_name(text.lower())


def message_lease(settings: Mapping[str, str]) -> float:
    """Seconds a received message stays hidden between renewals (FUNCHOST_QUEUE_MESSAGE_LEASE)."""
    raw = settings.get(LEASE_SETTING)
    if not raw:
        return MESSAGE_LEASE
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 1 <= seconds <= 600:
        raise ValueError(
            f"{LEASE_SETTING} must be a number of seconds from 1 to 600, found {raw!r}"
        )
    return seconds


def resource(queue: str) -> str:
    return f"queue:{queue}"


# -- message text <-> the value a function sees


def decode_content(content: str, encoding: str) -> str | bytes:
    """The message as the function sees it: base64 decoded (text when it is UTF-8)."""
    if encoding == "none":
        return content
    raw = base64.b64decode(content.encode("ascii"), validate=True)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw


def encode_content(body: str | bytes, encoding: str) -> str:
    if encoding == "none":
        return body if isinstance(body, str) else body.decode("utf-8")
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return base64.b64encode(raw).decode("ascii")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def message_event(
    spec: FunctionSpec, message: StoredMessage, body: str | bytes, queue: str
) -> TriggerEvent:
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    metadata = {
        "QueueTrigger": meta.Datum(text, "string"),
        "DequeueCount": meta.Datum(message.dequeue_count, "int"),
        "ExpirationTime": meta.Datum(_iso(message.expiration_time), "string"),
        "Id": meta.Datum(message.id, "string"),
        "InsertionTime": meta.Datum(_iso(message.insertion_time), "string"),
        "NextVisibleTime": meta.Datum(_iso(message.next_visible_time), "string"),
        "PopReceipt": meta.Datum(message.pop_receipt or "", "string"),
    }
    data = BindingData({name: datum.value for name, datum in metadata.items()})
    # As in the host, a JSON message's own properties win over trigger metadata of the same
    # name: `{id}` is the message's "id", not the queue message id.
    data.add_json_properties(body)
    trigger = spec.trigger
    param = next((p for p in spec.params if p.binding is trigger), None)
    return TriggerEvent(
        payload_datum(body, trigger.data_type or trigger.get("dataType"), param and param.pytype),
        metadata,
        reason=f"New queue message detected on '{queue}'.",
        binding_data=data,
    )


def output_messages(datum: meta.Datum) -> list[str | bytes]:
    """One message per element of a list; a `QueueMessage` gives its body."""
    if datum.type == "string":
        return [datum.value]
    if datum.type == "bytes":
        return [bytes(datum.value)]
    if datum.type in ("int", "double"):
        return [str(datum.value)]
    if datum.type == "json":
        value = json.loads(datum.value)
        items = value if isinstance(value, list) else [value]
        messages: list[str | bytes] = []
        for item in items:
            if isinstance(item, str):
                messages.append(item)
            elif isinstance(item, dict) and "body" in item and set(item) <= {"id", "body"}:
                messages.append(str(item["body"]))
            else:
                messages.append(json.dumps(item))
        return messages
    raise TypeError(f"a queue output cannot take a value of type {datum.type!r}")


class QueueListener(BackgroundListener):
    def __init__(self, runtime: BindingRuntime, spec: FunctionSpec) -> None:
        super().__init__()
        self.runtime = runtime
        self.spec = spec
        self.options: QueueOptions = runtime.host_options.queues
        self.queue = trigger_queue(spec.trigger, runtime.settings)
        self.account = runtime.account_key(spec.trigger)
        self.lease = message_lease(runtime.settings)
        self.wake = runtime.changes.watch(self.account, resource(self.queue))
        self._slot = asyncio.Event()

    async def drain(self) -> None:
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))
        self.runtime.changes.unwatch(self.account, resource(self.queue), self.wake)

    async def _prepare(self, storage: Storage) -> None:
        await storage.create_queue(self.queue)

    async def run(self) -> None:
        storage = await self.runtime.listener_storage(self.spec, self.stopping, self._prepare)
        if storage is None:
            return
        options = self.options
        delay = MIN_POLL
        while not self.stopping.is_set():
            while len(self._in_flight) > options.new_batch_threshold:
                self._slot.clear()
                await self._slot.wait()
            self.wake.clear()
            self.polling()
            try:
                messages = await storage.receive_messages(
                    self.queue, options.batch_size, self.lease
                )
            except Exception as exc:
                logger.warning("Polling queue '%s' failed: %s", self.queue, exc)
                messages = []
            if messages:
                delay = MIN_POLL
                for message in messages:
                    task = asyncio.get_running_loop().create_task(self._process(storage, message))
                    self._in_flight.add(task)
                    task.add_done_callback(self._done)
                self.polled()
                continue
            self.polled()
            wait = min(options.max_polling_interval, random.uniform(delay * 0.8, delay * 1.2))
            await self.pause(wait)
            delay = MIN_POLL if self.wake.is_set() else min(options.max_polling_interval, delay * 2)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "Processing a message of queue '%s' failed", self.queue, exc_info=task.exception()
            )

    async def _process(self, storage: Storage, message: StoredMessage) -> None:
        options = self.options
        if message.dequeue_count > options.max_dequeue_count:
            # Its host died while running it on the last allowed attempt.
            await self._poison(storage, message)
            return
        try:
            body = decode_content(message.content, options.message_encoding)
        except (binascii.Error, ValueError):
            logger.warning(
                "Message decoding has failed! Check MessageEncoding settings. MessageId=%s.",
                message.id,
            )
            await self._poison(storage, message)
            return
        held = [message]
        finished = asyncio.Event()

        async def extend(jump: float) -> None:  # the clock jumps (funchost.clock)
            with contextlib.suppress(Exception):
                held[0] = await storage.update_visibility(self.queue, held[0], self.lease + jump)

        renewal = asyncio.get_running_loop().create_task(self._renew(storage, held, finished))
        try:
            with self.runtime.clock.holding(extend):
                result = await self.runtime.run(
                    self.spec, message_event(self.spec, message, body, self.queue)
                )
        finally:
            finished.set()
            await renewal
        current = held[0]
        try:
            if result.succeeded:
                await storage.delete_message(self.queue, current)
            elif current.dequeue_count >= options.max_dequeue_count:
                await self._poison(storage, current)
            else:
                await storage.update_visibility(self.queue, current, options.visibility_timeout)
        except MessageNotFound:
            logger.warning(
                "Message %s of queue '%s' was no longer held by this host when its function "
                "finished; another host may run it again.",
                message.id,
                self.queue,
            )

    async def _renew(
        self, storage: Storage, held: list[StoredMessage], finished: asyncio.Event
    ) -> None:
        while True:
            try:
                await asyncio.wait_for(finished.wait(), self.lease / 3)
                return
            except TimeoutError:
                pass
            try:
                held[0] = await storage.update_visibility(self.queue, held[0], self.lease)
            except Exception as exc:
                logger.warning("Renewing message %s failed: %s", held[0].id, exc)

    async def _poison(self, storage: Storage, message: StoredMessage) -> None:
        poison = self.queue + POISON_SUFFIX
        logger.warning(
            "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
            self.options.max_dequeue_count,
            poison,
        )
        await storage.create_queue(poison)
        await storage.send_message(poison, message.content)
        self.runtime.changes.notify(self.account, resource(poison))
        await storage.delete_message(self.queue, message)


class QueueBinding(BindingKind):
    expressions = ("queueName",)

    def check(self, binding: BindingSpec, settings: Mapping[str, str]) -> None:
        if binding.is_trigger:
            trigger_queue(binding, settings)
            message_lease(settings)
            return
        template = BindingTemplate(resolve_settings(str(binding.get("queueName") or ""), settings))
        if not template.has_parameters:
            queue_name(template.bind(None).lower())

    def listener(self, runtime: BindingRuntime, spec: FunctionSpec) -> QueueListener:
        return QueueListener(runtime, spec)

    async def write(
        self, runtime: BindingRuntime, binding: BindingSpec, datum: Any, event: TriggerEvent
    ) -> None:
        template = runtime.template(binding, "queueName")
        queue = queue_name(template.bind(event.binding_data).lower())
        messages = output_messages(datum)
        storage = await runtime.storage(binding)
        account = runtime.account_key(binding)
        await runtime.ensure(account, resource(queue), storage.create_queue, queue)
        encoding = runtime.host_options.queues.message_encoding
        for body in messages:
            await storage.send_message(queue, encode_content(body, encoding))
        runtime.changes.notify(account, resource(queue))

    async def admin_event(
        self, runtime: BindingRuntime, spec: FunctionSpec, value: str
    ) -> TriggerEvent:
        now = datetime.now(UTC)
        message = StoredMessage(
            id=str(uuid.uuid4()),
            content=value,
            insertion_time=now,
            expiration_time=now,
            next_visible_time=now,
            dequeue_count=1,
            pop_receipt=None,
        )
        event = message_event(spec, message, value, trigger_queue(spec.trigger, runtime.settings))
        event.reason = ADMIN_REASON
        return event


QUEUE = QueueBinding()
