"""The durable binding types as host binding kinds (spec §1).

Orchestration, activity and entity triggers have no listener of their own: the host's one
`TaskHub` feeds them. The durable client input (`durableClient`, and Durable 1.x's
`orchestrationClient`) reads as the client binding's JSON string.
"""

from __future__ import annotations

from typing import Any

from azure.functions import meta

from funchost.bindings.kinds import BindingKind
from funchost.bindings.runtime import BindingRuntime
from funchost.indexing.spec import BindingSpec, ParamSpec
from funchost.invocation.invoker import TriggerEvent


class DurableTriggerKind(BindingKind):
    uses_storage = False


class DurableClientKind(BindingKind):
    uses_storage = False

    async def read(
        self,
        runtime: BindingRuntime,
        binding: BindingSpec,
        param: ParamSpec | None,
        event: TriggerEvent,
    ) -> Any:
        api = runtime.durable
        if api is None:
            raise RuntimeError("the durable task hub is not running")
        return meta.Datum(api.client_binding(), "string")


ORCHESTRATION = DurableTriggerKind()
ACTIVITY = DurableTriggerKind()
CLIENT = DurableClientKind()
ENTITY = DurableTriggerKind()
