"""What a function's trigger receives when it is run from the admin API or `TestHost.invoke`.

Each storage-backed kind builds its own event (`BindingKind.admin_event`): a queue function
gets the input as a message, a blob function the blob the input names, a timer function a
`TimerRequest`. A trigger kind funchost does not run receives the input as a plain string, as
the real host does for triggers it cannot interpret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from azure.functions import meta

from funchost.invocation.invoker import TriggerEvent

if TYPE_CHECKING:
    from funchost.bindings.runtime import BindingRuntime
    from funchost.indexing.spec import FunctionSpec

ADMIN_REASON = "This function was programmatically called via the host APIs."


def string_event(value: str) -> TriggerEvent:
    return TriggerEvent(meta.Datum(value, "string"), reason=ADMIN_REASON)


async def admin_event(runtime: BindingRuntime, spec: FunctionSpec, value: str) -> TriggerEvent:
    from funchost.bindings.kinds import kind_for

    kind = kind_for(spec.trigger.type)
    if kind is None:
        return string_event(value)
    return await kind.admin_event(runtime, spec, value)
