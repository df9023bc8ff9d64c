"""What each trigger kind feeds the invoker when a function is run from the admin API.

Storage-backed triggers (queue, blob, timer listeners) register their own event builders
here as they are added; a kind not listed receives the input as a plain string, as the real
host does for triggers it cannot interpret.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from azure.functions import meta

from funchost.indexing.spec import FunctionSpec
from funchost.invocation.invoker import TriggerEvent

ADMIN_REASON = "This function was programmatically called via the host APIs."

AdminEventBuilder = Callable[[FunctionSpec, str], TriggerEvent]


def _timer_event(spec: FunctionSpec, value: str) -> TriggerEvent:
    body = {"Schedule": {"AdjustForDST": True}, "ScheduleStatus": None, "IsPastDue": False}
    return TriggerEvent(meta.Datum(json.dumps(body), "json"), reason=ADMIN_REASON)


def _string_event(spec: FunctionSpec, value: str) -> TriggerEvent:
    return TriggerEvent(meta.Datum(value, "string"), reason=ADMIN_REASON)


ADMIN_EVENT_BUILDERS: dict[str, AdminEventBuilder] = {
    "timertrigger": _timer_event,
}


def admin_event(spec: FunctionSpec, value: str) -> TriggerEvent:
    builder = ADMIN_EVENT_BUILDERS.get(spec.trigger.type.lower(), _string_event)
    return builder(spec, value)
