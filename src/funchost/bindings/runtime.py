"""What storage-backed bindings run on: `BindingRuntime` (one per host) and `FunctionBindings`
(the input and output bindings of one function).

The runtime gives bindings their storage accounts, the host's identity (receipts and locks are
kept per host id, shared by every instance of the app), a way to run a function, and change
notices: when this host writes to a queue or container, the listeners watching it wake at once
instead of at their next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from azure.functions import meta

from funchost.bindings.expressions import (
    BindingExpressionError,
    BindingTemplate,
    resolve_settings,
)
from funchost.bindings.kinds import BindingKind, kind_for
from funchost.clock import REAL_TIME, Clock
from funchost.indexing.spec import BindingSpec, FunctionSpec, ParamSpec
from funchost.invocation.invoker import InvocationResult, TriggerEvent
from funchost.storage.accounts import StorageAccounts
from funchost.storage.base import Storage

if TYPE_CHECKING:
    from funchost.durable.api import DurableApi
    from funchost.hostjson import HostOptions

logger = logging.getLogger("funchost.bindings")

Invoke = Callable[[FunctionSpec, TriggerEvent], Awaitable[InvocationResult]]


class Listener(Protocol):
    """A trigger's source of events: started with the host, stopped (and drained) with it."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class BackgroundListener:
    """A listener whose work is one task, `run()`, which returns once `stopping` is set.

    `wake` interrupts its waits: set on stop, and by whatever else the listener watches.
    A listener that polls a source (a queue, a container) calls `polling()` before and
    `polled()` after each look at it, and keeps the work it started in `_in_flight`: with
    them, `poll_now()` tells the test host's `run_until_idle` when nothing is left to do.
    """

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.polls = 0
        self._in_poll = False
        self._poll_waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task running `run()`, once started."""
        return self._task

    @property
    def in_flight(self) -> frozenset[asyncio.Task[None]]:
        """The work this listener started (invocations, receipts) that is still running."""
        return frozenset(self._in_flight)

    @property
    def busy(self) -> bool:
        return bool(self._in_flight)

    def polling(self) -> None:
        self._in_poll = True

    def polled(self) -> None:
        self._in_poll = False
        self.polls += 1
        if self._poll_waiters:
            waiting = []
            for target, future in self._poll_waiters:
                if target <= self.polls:
                    if not future.done():
                        future.set_result(None)
                else:
                    waiting.append((target, future))
            self._poll_waiters = waiting

    async def poll_now(self) -> None:
        """Wake the listener and return once it has looked at its source afresh: a whole
        poll that began after this call (the one under way may have missed a change)."""
        target = self.polls + (2 if self._in_poll else 1)
        future = asyncio.get_running_loop().create_future()
        self._poll_waiters.append((target, future))
        self.wake.set()
        await future

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self._task is not None:
            await self._task
        await self.drain()

    async def run(self) -> None:
        raise NotImplementedError

    async def drain(self) -> None:
        """Wait for the work already started (after `run` has returned)."""

    async def pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less if `wake` is set."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)


class ChangeNotifier:
    """Events that listeners wait on, set when this host writes to what they watch."""

    def __init__(self) -> None:
        self._watchers: dict[tuple[str, str], set[asyncio.Event]] = {}

    def watch(self, account: str, resource: str) -> asyncio.Event:
        event = asyncio.Event()
        self._watchers.setdefault((account, resource), set()).add(event)
        return event

    def unwatch(self, account: str, resource: str, event: asyncio.Event) -> None:
        watchers = self._watchers.get((account, resource))
        if watchers is not None:
            watchers.discard(event)

    def notify(self, account: str, resource: str) -> None:
        for event in self._watchers.get((account, resource), ()):
            event.set()

    def notify_account(self, account: str) -> None:
        """Something outside this host changed the account: wake every watcher of it."""
        for (watched, _), events in self._watchers.items():
            if watched == account:
                for event in events:
                    event.set()


class BindingRuntime:
    def __init__(
        self,
        accounts: StorageAccounts,
        settings: Mapping[str, str],
        host_options: HostOptions,
        host_id: str,
        instance_id: str,
        clock: Clock = REAL_TIME,
    ) -> None:
        self.accounts = accounts
        self.clock = clock  # what timers go by
        self.settings = settings
        self.host_options = host_options
        self.host_id = host_id
        self.instance_id = instance_id
        self.changes = ChangeNotifier()
        self.invoke: Invoke | None = None  # set by the host that owns this runtime
        self.durable: DurableApi | None = None  # the app's task hub API, when it has one
        self._templates: dict[tuple[int, str], BindingTemplate] = {}
        self._created: set[tuple[str, str]] = set()  # (account, resource) outputs made
        self._followed: set[str] = set()  # accounts whose outside changes wake the listeners

    def template(self, binding: BindingSpec, prop: str) -> BindingTemplate:
        """The binding property `prop` with its `%Setting%`s resolved, parsed once."""
        key = (id(binding), prop)
        template = self._templates.get(key)
        if template is None:
            text = resolve_settings(str(binding.get(prop) or ""), self.settings)
            template = self._templates[key] = BindingTemplate(text)
        return template

    def account_key(self, binding: BindingSpec) -> str:
        """The identity of the binding's storage account, for change notices."""
        return self.connection_key(binding.get("connection"))

    def connection_key(self, name: str | None) -> str:
        """The identity of the storage account of connection setting `name`."""
        connection = self.accounts.connection(name)
        return "" if connection is None else f"{connection.queue_endpoint}|{connection.account}"

    async def ensure(
        self,
        account: str,
        resource: str,
        create: Callable[[str], Awaitable[None]],
        name: str,
    ) -> None:
        """Create the queue or container an output writes to, once per host and account."""
        if (account, resource) not in self._created:
            await create(name)
            self._created.add((account, resource))

    async def storage(self, binding: BindingSpec) -> Storage:
        return await self.accounts.get(binding.get("connection"))

    async def listener_storage(
        self,
        spec: FunctionSpec,
        stopping: asyncio.Event,
        prepare: Callable[[Storage], Awaitable[None]],
    ) -> Storage | None:
        """The trigger's storage, once reachable and `prepare`d (queues or containers created).

        Until then the listener's error is logged (once per distinct error) and retried with a
        growing delay, up to a minute, while every other function keeps serving. None if the
        host stops first.
        """
        delay, last_error = 1.0, ""
        while not stopping.is_set():
            try:
                storage = await self.storage(spec.trigger)
                await prepare(storage)
                self._follow(storage, self.account_key(spec.trigger))
                if last_error:
                    logger.info("The listener for function 'Functions.%s' started.", spec.name)
                return storage
            except Exception as exc:
                error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                if error != last_error:
                    logger.error(
                        "The listener for function 'Functions.%s' was unable to start. %s",
                        spec.name,
                        error,
                    )
                    last_error = error
            try:
                await asyncio.wait_for(stopping.wait(), delay)
            except TimeoutError:
                delay = min(60.0, delay * 2)
        return None

    def _follow(self, storage: Storage, account: str) -> None:
        """Wake the account's listeners when someone else changes it, once per account."""
        if account not in self._followed:
            self._followed.add(account)
            storage.follow_changes(lambda: self.changes.notify_account(account))

    async def run(self, spec: FunctionSpec, event: TriggerEvent) -> InvocationResult:
        assert self.invoke is not None, "the runtime has no host"
        return await self.invoke(spec, event)


class FunctionBindings:
    """The storage-backed input and output bindings of one function (a `FunctionIO`)."""

    def __init__(self, runtime: BindingRuntime, spec: FunctionSpec) -> None:
        self.runtime = runtime
        self.inputs: list[tuple[BindingSpec, ParamSpec | None, BindingKind]] = []
        self.outputs: list[tuple[BindingSpec, BindingKind]] = []
        for binding in spec.bindings:
            if binding is spec.trigger:
                continue
            kind = kind_for(binding.type)
            if kind is None:
                continue
            if binding.direction == "in":
                param = next((p for p in spec.params if p.binding is binding), None)
                self.inputs.append((binding, param, kind))
            elif binding.direction == "out":
                self.outputs.append((binding, kind))
        names: set[str] = set()
        bindings = [(b, k) for b, _, k in self.inputs] + self.outputs
        for binding, kind in bindings:
            for prop in kind.expressions:
                # A template that cannot be read fails its binding when it runs, with the error.
                with contextlib.suppress(BindingExpressionError):
                    names |= runtime.template(binding, prop).data_names
        #: The binding-data names its expressions read, lower-cased, known once at load.
        self.data_names = frozenset(names)

    @property
    def active(self) -> bool:
        return bool(self.inputs or self.outputs)

    async def read(self, event: TriggerEvent) -> Mapping[str, meta.Datum]:
        values = dict(event.inputs)
        for binding, param, kind in self.inputs:
            values[binding.name] = await kind.read(self.runtime, binding, param, event)
        return values

    async def write(self, outputs: Mapping[str, Any], event: TriggerEvent) -> None:
        for binding, kind in self.outputs:
            datum = outputs.get(binding.name)
            if datum is not None and getattr(datum, "type", "") is not None:
                await kind.write(self.runtime, binding, datum, event)
