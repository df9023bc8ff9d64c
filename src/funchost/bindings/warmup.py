"""The warmup trigger: a function the platform runs when an instance of the app starts.

It has no listener. The host runs it from `/admin/warmup` (`funchost.http.admin.warm_up`),
which Azure calls on every new instance: only the function named `warmup` (whatever its case)
with a `warmupTrigger`, as the real host's `IsWarmupFunction`, and only on the first request a
host process gets. `POST /admin/functions/{name}` runs any warmup-triggered function, as the
admin API runs every non-HTTP trigger. Either way the function receives the
`func.WarmUpContext` that the library's converter builds; the real host sends it an empty
JSON object, and so does funchost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from azure.functions import meta

from funchost.bindings.kinds import BindingKind
from funchost.bindings.triggers import ADMIN_REASON
from funchost.invocation.invoker import TriggerEvent

if TYPE_CHECKING:
    from funchost.bindings.runtime import BindingRuntime
    from funchost.indexing.index import AppIndex
    from funchost.indexing.spec import FunctionSpec

WARMUP_FUNCTION = "warmup"
WARMUP_TRIGGER = "warmuptrigger"


def warmup_function(index: AppIndex) -> FunctionSpec | None:
    """The function `/admin/warmup` runs, if the app has one."""
    spec = index.get(WARMUP_FUNCTION)
    if spec is None or spec.trigger.type.lower() != WARMUP_TRIGGER:
        return None
    return spec


class WarmupBinding(BindingKind):
    uses_storage = False

    async def admin_event(
        self, runtime: BindingRuntime, spec: FunctionSpec, value: str
    ) -> TriggerEvent:
        # The input of an admin call is ignored: the host's binding makes a new context.
        return TriggerEvent(meta.Datum("{}", "json"), reason=ADMIN_REASON)


WARMUP = WarmupBinding()
