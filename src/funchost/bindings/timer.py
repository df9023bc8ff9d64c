"""The timer trigger: runs a function on its schedule, on one host of the app at a time.

A timer runs only while its host holds the lease on
`azure-webjobs-hosts/locks/{hostId}/Host.Functions.{Name}.Listener`; the holder renews it every
`LOCK_RENEW` seconds and the other hosts try to take it every `LOCK_RETRY` seconds, so a
holder that dies is replaced within `LOCK_LEASE + LOCK_RETRY` seconds (the real host: a 60 s
lease, retried each minute). A stopping host releases it at once.

With `useMonitor` (default on, off for schedules that fire more than once a minute) the
status `{Last, Next, LastUpdated}` is kept in
`azure-webjobs-hosts/timers/{hostId}/Host.Functions.{Name}/status`: when a host takes the
timer after `Next` has passed, the function runs at once with `IsPastDue` set. Otherwise
`runOnStartup` runs it once when the host starts. Invocations of one timer never overlap, and
a failing invocation never stops the schedule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.functions import meta

from funchost.bindings.expressions import resolve_settings
from funchost.bindings.kinds import BindingKind
from funchost.bindings.runtime import BackgroundListener, BindingRuntime
from funchost.bindings.schedules import Schedule, parse_schedule, schedule_zone
from funchost.bindings.triggers import ADMIN_REASON
from funchost.indexing.spec import BindingSpec, FunctionSpec
from funchost.invocation.invoker import TriggerEvent
from funchost.storage.base import Storage

logger = logging.getLogger("funchost.timers")

HOSTS_CONTAINER = "azure-webjobs-hosts"
LOCK_LEASE = 30.0
LOCK_RENEW = 10.0
LOCK_RETRY = 10.0


def timer_schedule(binding: BindingSpec, settings: Mapping[str, str]) -> Schedule:
    text = resolve_settings(str(binding.get("schedule") or ""), settings)
    return parse_schedule(text, schedule_zone(settings))


def _flag(binding: BindingSpec, name: str, default: bool) -> bool:
    value = binding.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def timer_datum(status: Mapping[str, Any] | None, past_due: bool) -> meta.Datum:
    body = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": status, "IsPastDue": past_due}
    return meta.Datum(json.dumps(body), "json")


class TimerListener(BackgroundListener):
    """`wake` is set on stop and when the lock is lost."""

    def __init__(self, runtime: BindingRuntime, spec: FunctionSpec) -> None:
        super().__init__()
        self.runtime = runtime
        self.spec = spec
        trigger = spec.trigger
        self.schedule = timer_schedule(trigger, runtime.settings)
        self.run_on_startup = _flag(trigger, "runOnStartup", False)
        self.clock = runtime.clock
        frequent = self.schedule.min_interval(self.clock.now()) < 60
        self.use_monitor = _flag(trigger, "useMonitor", True) and not frequent
        name = f"Host.Functions.{spec.name}"
        self.lock_blob = f"locks/{runtime.host_id}/{name}.Listener"
        self.status_blob = f"timers/{runtime.host_id}/{name}/status"
        self.lease_id = str(uuid.UUID(runtime.instance_id))
        self._lost = False
        self._status: dict[str, Any] | None = None
        #: Whether the timer is only waiting for its next occurrence, `next_due` (None: it
        #: has none); `state_changed` is set whenever that changes (for the test host).
        self.idle = False
        self.next_due: datetime | None = None
        self.state_changed = asyncio.Event()

    def _waiting(self, idle: bool, due: datetime | None = None) -> None:
        self.idle, self.next_due = idle, due
        self.state_changed.set()

    async def _prepare(self, storage: Storage) -> None:
        await storage.create_container(HOSTS_CONTAINER)

    async def run(self) -> None:
        storage = await self.runtime.listener_storage(self.spec, self.stopping, self._prepare)
        if storage is None:
            return
        startup = True
        while not self.stopping.is_set():
            try:
                held = await storage.acquire_lease(
                    HOSTS_CONTAINER, self.lock_blob, self.lease_id, LOCK_LEASE
                )
            except Exception as exc:
                logger.warning("Timer '%s': taking its lock failed: %s", self.spec.name, exc)
                held = False
            if not held:
                await self.pause(LOCK_RETRY)
                continue
            self._lost = False
            self.wake.clear()
            if self.stopping.is_set():
                self.wake.set()
            holding = asyncio.get_running_loop().create_task(self._hold(storage))
            try:
                await self._schedule(storage, startup)
            finally:
                holding.cancel()
                if not self._lost:
                    try:
                        await storage.release_lease(HOSTS_CONTAINER, self.lock_blob, self.lease_id)
                    except Exception as exc:
                        logger.warning(
                            "Timer '%s': releasing its lock failed: %s", self.spec.name, exc
                        )
            startup = False

    async def _hold(self, storage: Storage) -> None:
        """Renew the lock; when it cannot be renewed before it expires, give the timer up."""
        renewed = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(LOCK_RENEW)
            try:
                if await storage.acquire_lease(
                    HOSTS_CONTAINER, self.lock_blob, self.lease_id, LOCK_LEASE
                ):
                    renewed = asyncio.get_running_loop().time()
                    continue
            except Exception as exc:
                logger.warning("Timer '%s': renewing its lock failed: %s", self.spec.name, exc)
                if asyncio.get_running_loop().time() - renewed < LOCK_LEASE - LOCK_RENEW:
                    continue
            logger.warning(
                "Timer '%s': its lock was lost; another host runs it now.", self.spec.name
            )
            self._lost = True
            self.wake.set()
            return

    async def _read_status(self, storage: Storage) -> dict[str, Any] | None:
        found = await storage.get_blob(HOSTS_CONTAINER, self.status_blob)
        if found is None:
            return None
        try:
            status = json.loads(found[0])
        except ValueError:
            return None
        return status if isinstance(status, dict) else None

    async def _write_status(self, storage: Storage, status: dict[str, Any]) -> None:
        self._status = status
        if not self.use_monitor:
            return
        try:
            await storage.put_blob(
                HOSTS_CONTAINER,
                self.status_blob,
                json.dumps(status).encode(),
                content_type="application/json",
            )
        except Exception as exc:
            logger.warning("Timer '%s': saving its status failed: %s", self.spec.name, exc)

    async def _schedule(self, storage: Storage, startup: bool) -> None:
        if self.use_monitor:
            self._status = await self._read_status(storage)
        now = self.clock.now()
        recorded_next = _parse((self._status or {}).get("Next"))
        if recorded_next is not None and now > recorded_next:
            await self._fire(storage, recorded_next, past_due=True)
        elif startup and self.run_on_startup:
            await self._fire(storage, now, past_due=False)
        while not self.wake.is_set():
            now = self.clock.now()
            due = self.schedule.next_after(now)
            if due is None:
                self._waiting(True)
                try:
                    await self.wake.wait()
                finally:
                    self._waiting(False)
                return
            status = dict(self._status or {})
            if _parse(status.get("Next")) != due:
                await self._write_status(
                    storage,
                    {"Last": status.get("Last"), "Next": _iso(due), "LastUpdated": _iso(now)},
                )
            while not self.wake.is_set():
                remaining = (due - self.clock.now()).total_seconds()
                if remaining <= 0:
                    break
                self._waiting(True, due)
                try:
                    await self.clock.wait(self.wake, remaining)
                finally:
                    self._waiting(False)
            if self.wake.is_set():
                return
            await self._fire(storage, due, past_due=False)

    async def _fire(self, storage: Storage, occurrence: datetime, past_due: bool) -> None:
        status = dict(self._status) if self._status else None
        fired = self.clock.now()
        event = TriggerEvent(timer_datum(status, past_due), reason=f"Timer fired at {_iso(fired)}")
        try:
            await self.runtime.run(self.spec, event)
        except Exception:
            logger.exception("Timer '%s': the invocation failed", self.spec.name)
        now = self.clock.now()
        await self._write_status(
            storage,
            {
                "Last": _iso(occurrence),
                "Next": _iso(self.schedule.next_after(now)),
                "LastUpdated": _iso(now),
            },
        )


class TimerBinding(BindingKind):
    def check(self, binding: BindingSpec, settings: Mapping[str, str]) -> None:
        timer_schedule(binding, settings)

    def listener(self, runtime: BindingRuntime, spec: FunctionSpec) -> TimerListener:
        return TimerListener(runtime, spec)

    async def admin_event(
        self, runtime: BindingRuntime, spec: FunctionSpec, value: str
    ) -> TriggerEvent:
        return TriggerEvent(timer_datum(None, False), reason=ADMIN_REASON)


TIMER = TimerBinding()
