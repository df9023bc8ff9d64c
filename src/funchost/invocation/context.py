"""The `context` argument users receive: azure.functions.Context and its parts."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

import azure.functions as func

from funchost.invocation.logs import THREAD_LOCAL

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


class TraceContext(func._abc.TraceContext):
    def __init__(self, trace_parent: str, trace_state: str, attributes: Mapping[str, str]) -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state
        self._attributes = dict(attributes)

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes

    # Deprecated spellings the worker still exposes.
    Traceparent = trace_parent
    Tracestate = trace_state
    Attributes = attributes


class RetryContext(func._abc.RetryContext):
    def __init__(self, retry_count: int, max_retry_count: int, rpc_exception: Any = None) -> None:
        self._retry_count = retry_count
        self._max_retry_count = max_retry_count
        self._rpc_exception = rpc_exception

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return self._max_retry_count

    @property
    def exception(self) -> Any:
        return self._rpc_exception

    @property
    def rpc_exception(self) -> Any:
        return self._rpc_exception


class Context(func.Context):
    def __init__(
        self,
        invocation_id: str,
        function_name: str,
        function_directory: str,
        trace_context: TraceContext,
        retry_context: RetryContext,
    ) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = trace_context
        self._retry_context = retry_context

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        # Annotated in the library as type[threading.local]; the worker passes an instance.
        return THREAD_LOCAL

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> RetryContext:
        return self._retry_context


def child_traceparent(incoming: str | None) -> str:
    """A traceparent for this invocation: a new span in the caller's trace, or a new trace."""
    span = os.urandom(8).hex()
    if incoming:
        m = _TRACEPARENT.match(incoming.strip().lower())
        if m and m.group(2) != "0" * 32 and m.group(3) != "0" * 16 and m.group(1) != "ff":
            return f"00-{m.group(2)}-{span}-{m.group(4)}"
    return f"00-{os.urandom(16).hex()}-{span}-01"
