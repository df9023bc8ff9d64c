"""The Invoker: runs one invocation of any function, whatever triggered it.

It decodes inputs with the library's converters, builds the Context, runs extension hooks,
calls async code on the event loop and sync code in the thread pool, applies the function
timeout and retry policy, and encodes outputs. It knows nothing of HTTP or storage: triggers
hand it a `TriggerEvent` and take back an `InvocationResult`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import random
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.functions import meta

from funchost.bindings import converters
from funchost.indexing.spec import FunctionSpec, ParamSpec, RetrySpec
from funchost.invocation import extensions
from funchost.invocation.context import (
    THREAD_LOCAL,
    Context,
    RetryContext,
    TraceContext,
    child_traceparent,
)
from funchost.invocation.logs import current_invocation, host_record
from funchost.timespan import format_timespan

logger = logging.getLogger("funchost.invocation")


@dataclass
class TriggerEvent:
    """What a trigger hands the invoker: the trigger value and what it knows about it."""

    datum: meta.Datum
    metadata: dict[str, meta.Datum] = field(default_factory=dict)
    reason: str = "This function was programmatically called via the host APIs."
    traceparent: str | None = None
    tracestate: str = ""
    inputs: dict[str, meta.Datum] = field(default_factory=dict)


@dataclass
class InvocationResult:
    invocation_id: str
    succeeded: bool
    return_value: meta.Datum | None = None
    outputs: dict[str, meta.Datum] = field(default_factory=dict)
    error: BaseException | None = None
    timed_out: bool = False


class Out(func.Out[Any]):
    """The object behind a `func.Out[T]` parameter."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class FunctionTimeoutError(Exception):
    pass


def _run_sync(
    call: Callable[..., Any], args: dict[str, Any], context: Context, with_extensions: bool
) -> Any:
    THREAD_LOCAL.invocation_id = context.invocation_id
    if not with_extensions:
        return call(**args)
    extensions.run_invocation_hooks(extensions.PRE_APP, context, args)
    extensions.run_invocation_hooks(extensions.PRE_FUNC, context, args)
    result = call(**args)
    extensions.run_invocation_hooks(extensions.POST_FUNC, context, args, result)
    extensions.run_invocation_hooks(extensions.POST_APP, context, args, result)
    return result


async def _run_async(
    call: Callable[..., Any], args: dict[str, Any], context: Context, with_extensions: bool
) -> Any:
    THREAD_LOCAL.invocation_id = context.invocation_id
    if not with_extensions:
        return await call(**args)
    extensions.run_invocation_hooks(extensions.PRE_APP, context, args)
    extensions.run_invocation_hooks(extensions.PRE_FUNC, context, args)
    result = await call(**args)
    extensions.run_invocation_hooks(extensions.POST_FUNC, context, args, result)
    extensions.run_invocation_hooks(extensions.POST_APP, context, args, result)
    return result


def retry_delay(policy: RetrySpec, attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1-based)."""
    if policy.strategy == "fixedDelay":
        return policy.delay_interval
    low, high = policy.minimum_interval, max(policy.maximum_interval, policy.minimum_interval)
    # Exponential growth from the minimum, randomized, capped at the maximum (as the host).
    base = low * (2 ** (attempt - 1))
    return min(high, random.uniform(base * 0.8, base * 1.2)) if base else 0.0


class Invoker:
    def __init__(
        self,
        *,
        thread_count: int | None = None,
        function_timeout: float | None = None,
        extensions_enabled: bool = False,
    ) -> None:
        workers = thread_count or min(32, (os.cpu_count() or 1) + 4)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="funchost")
        self.function_timeout = function_timeout
        self.extensions_enabled = extensions_enabled

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def invoke(
        self, spec: FunctionSpec, event: TriggerEvent, *, retry: RetrySpec | None = None
    ) -> InvocationResult:
        """Run `spec` for `event`, retrying by `retry` (a policy) when the function fails."""
        max_retries = retry.max_retry_count if retry else 0
        attempt = 0
        while True:
            result = await self.invoke_once(spec, event, attempt, max_retries)
            if result.succeeded or retry is None:
                return result
            if max_retries != -1 and attempt >= max_retries:
                return result
            attempt += 1
            await asyncio.sleep(retry_delay(retry, attempt))

    async def invoke_once(
        self, spec: FunctionSpec, event: TriggerEvent, retry_count: int = 0, max_retries: int = 0
    ) -> InvocationResult:
        invocation_id = str(uuid.uuid4())
        trace = TraceContext(
            child_traceparent(event.traceparent), event.tracestate, {"OperationName": spec.name}
        )
        context = Context(
            invocation_id,
            spec.name,
            spec.directory,
            trace,
            RetryContext(retry_count, max_retries),
        )
        token = current_invocation.set((spec.name, invocation_id))
        started = time.perf_counter()
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "Executing 'Functions.%s' (Reason='%s', Id=%s)",
                spec.name,
                event.reason,
                invocation_id,
            )
        result = InvocationResult(invocation_id, succeeded=False)
        try:
            args, outs = self._arguments(spec, event, context)
            value = await self._call(spec, args, context)
            self._collect(spec, value, outs, result)
            result.succeeded = True
        except FunctionTimeoutError as exc:
            result.error, result.timed_out = exc, True
        except Exception as exc:
            result.error = exc
            logger.error(
                "Exception while executing function: Functions.%s. Result: Failure\n"
                "Exception: %s: %s\nStack: %s",
                spec.name,
                type(exc).__name__,
                exc,
                "".join(traceback.format_exception(exc)).rstrip(),
            )
        finally:
            duration = int((time.perf_counter() - started) * 1000)
            host_record(
                logger,
                f"Executed 'Functions.{spec.name}' "
                f"({'Succeeded' if result.succeeded else 'Failed'}, Id={invocation_id}, "
                f"Duration={duration}ms)",
            )
            current_invocation.reset(token)
        return result

    def _arguments(
        self, spec: FunctionSpec, event: TriggerEvent, context: Context
    ) -> tuple[dict[str, Any], dict[str, Out]]:
        args: dict[str, Any] = {}
        outs: dict[str, Out] = {}
        for p in spec.params:
            if p.is_out:
                outs[p.name] = args[p.name] = Out()
            elif p.binding is spec.trigger:
                args[p.name] = converters.decode(
                    p.converter_name, event.datum, p.pytype, event.metadata
                )
            else:
                datum = event.inputs.get(p.name, meta.Datum(None, None))
                args[p.name] = converters.decode(p.converter_name, datum, p.pytype, event.metadata)
        if spec.requires_context:
            args["context"] = context
        return args, outs

    async def _call(self, spec: FunctionSpec, args: dict[str, Any], context: Context) -> Any:
        timeout = self.function_timeout
        if spec.is_async:
            coro = _run_async(spec.callable, args, context, self.extensions_enabled)
            if timeout is None:
                return await coro
            try:
                # A deadline on the current task, not a new task per invocation (wait_for).
                async with asyncio.timeout(timeout):
                    return await coro
            except TimeoutError:
                raise self._timeout(spec, context, timeout) from None
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self.executor,
            contextvars.copy_context().run,
            _run_sync,
            spec.callable,
            args,
            context,
            self.extensions_enabled,
        )
        if timeout is None:
            return await future
        try:
            # The thread cannot be stopped; its result is discarded when it ends.
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise self._timeout(spec, context, timeout) from None

    def _timeout(
        self, spec: FunctionSpec, context: Context, timeout: float
    ) -> FunctionTimeoutError:
        message = (
            f"Timeout value of {format_timespan(timeout)} exceeded by function "
            f"'Functions.{spec.name}' (Id: '{context.invocation_id}'). Initiating cancellation."
        )
        logger.error(message)
        return FunctionTimeoutError(message)

    def _collect(
        self, spec: FunctionSpec, value: Any, outs: Mapping[str, Out], result: InvocationResult
    ) -> None:
        for p in spec.params:
            if p.is_out:
                out_value = outs[p.name].get()
                if out_value is not None:
                    result.outputs[p.name] = _encode(p, out_value)
        rp = spec.return_param
        if rp is None:
            if value is not None:
                raise RuntimeError(
                    f"function {spec.name!r} without a $return binding returned a non-None value"
                )
            return
        if value is not None:
            result.return_value = _encode(rp, value)


def _encode(param: ParamSpec, value: Any) -> meta.Datum:
    return converters.encode(param.converter_name, value, param.pytype)
