"""The binding kinds funchost runs beyond HTTP, found by binding type from one small table.

A kind is one object (`BindingKind`) in the module that owns it: it checks a binding's
configuration at load time, starts the listener of a trigger, reads an input and writes an
output, and builds what the admin API feeds its trigger. Modules are imported on first use, so
an HTTP-only app never loads the storage SDKs. A function with a binding of any other type
(e.g. `cosmosDBTrigger`, `table`) fails to load with the host's "not registered" message
(`unregistered_types`), as on a host without that binding extension.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from funchost.errors import ConfigError
from funchost.indexing.spec import BindingSpec, FunctionSpec, ParamSpec
from funchost.storage.connections import resolve_connection

if TYPE_CHECKING:
    from funchost.bindings.runtime import BindingRuntime, Listener
    from funchost.invocation.invoker import TriggerEvent

# binding type (lower case) -> "module:attribute" of its BindingKind
KINDS: dict[str, str] = {
    "queuetrigger": "funchost.bindings.queue:QUEUE",
    "queue": "funchost.bindings.queue:QUEUE",
    "timertrigger": "funchost.bindings.timer:TIMER",
    "blobtrigger": "funchost.bindings.blob:BLOB",
    "blob": "funchost.bindings.blob:BLOB",
    "warmuptrigger": "funchost.bindings.warmup:WARMUP",
    "orchestrationtrigger": "funchost.durable.bindings:ORCHESTRATION",
    "activitytrigger": "funchost.durable.bindings:ACTIVITY",
    "entitytrigger": "funchost.durable.bindings:ENTITY",
    "durableclient": "funchost.durable.bindings:CLIENT",
    "orchestrationclient": "funchost.durable.bindings:CLIENT",
}

#: Binding types (lower case) funchost runs itself, outside the kinds table.
HTTP_TYPES = frozenset({"httptrigger", "http"})

NOT_REGISTERED = (
    "The binding type(s) '{types}' are not registered. Please ensure the type is correct and "
    "the binding extension is installed."
)


def unregistered_types(bindings: Sequence[BindingSpec]) -> str | None:
    """The host's error for the binding types among `bindings` that funchost does not run,
    or None when it runs them all. Types are named as written, each once, input bindings
    (the trigger among them) before output bindings, joined by ", " as the host does."""
    ordered = [b for b in bindings if b.direction != "out"] + [
        b for b in bindings if b.direction == "out"
    ]
    missing: list[str] = []
    for binding in ordered:
        lowered = binding.type.lower()
        if lowered in HTTP_TYPES or lowered in KINDS or binding.type in missing:
            continue
        missing.append(binding.type)
    if not missing:
        return None
    return NOT_REGISTERED.format(types=", ".join(missing))


class BindingKind:
    """What funchost does for one binding type; a kind implements the parts it has."""

    #: Whether bindings of this kind use a storage account (their `connection`).
    uses_storage = True
    #: The properties of its input and output bindings that hold binding expressions.
    expressions: tuple[str, ...] = ()

    def check(self, binding: BindingSpec, settings: Mapping[str, str]) -> None:
        """Raise ValueError or ConfigError (with the host's message) for a binding that
        cannot work. Its connection setting is checked before, for every kind that uses
        storage."""

    def listener(self, runtime: BindingRuntime, spec: FunctionSpec) -> Listener | None:
        return None

    async def read(
        self,
        runtime: BindingRuntime,
        binding: BindingSpec,
        param: ParamSpec | None,
        event: TriggerEvent,
    ) -> Any:
        raise NotImplementedError(f"'{binding.type}' is not an input binding funchost runs")

    async def write(
        self, runtime: BindingRuntime, binding: BindingSpec, datum: Any, event: TriggerEvent
    ) -> None:
        raise NotImplementedError(f"'{binding.type}' is not an output binding funchost runs")

    async def admin_event(
        self, runtime: BindingRuntime, spec: FunctionSpec, value: str
    ) -> TriggerEvent:
        from funchost.bindings.triggers import string_event

        return string_event(value)


@functools.cache
def kind_for(binding_type: str) -> BindingKind | None:
    target = KINDS.get(binding_type.lower())
    if target is None:
        return None
    module, _, attribute = target.partition(":")
    kind: BindingKind = getattr(importlib.import_module(module), attribute)
    return kind


def binding_problem(
    spec: FunctionSpec, settings: Mapping[str, str], connection_strings: Mapping[str, str]
) -> str | None:
    """Why `spec`'s bindings cannot work with these settings, or None when they can."""
    for binding in spec.bindings:
        kind = kind_for(binding.type)
        if kind is None:
            continue
        try:
            if kind.uses_storage:
                resolve_connection(binding.get("connection"), settings, connection_strings)
            kind.check(binding, settings)
        except (ValueError, ConfigError) as exc:
            return str(exc)
    return None
