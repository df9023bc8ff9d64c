"""The Invoker: runs one invocation of any function, whatever triggered it.

It decodes inputs with the library's converters, builds the Context, runs extension hooks,
calls async code on the event loop and sync code in the thread pool, applies the function
timeout and retry policy, and encodes outputs. It knows nothing of HTTP or storage: triggers
hand it a `TriggerEvent` and take back an `InvocationResult`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import azure.functions as func
from azure.functions import meta

from funchost.bindings import converters
from funchost.bindings.outputs import encode_output
from funchost.clock import REAL_TIME, Clock
from funchost.indexing.spec import FunctionSpec, RetrySpec
from funchost.invocation import extensions
from funchost.invocation.context import (
    Context,
    RetryContext,
    TraceContext,
    child_traceparent,
)
from funchost.invocation.deadlines import Deadlines
from funchost.invocation.logs import INVOCATION_TAGS, LOG_LEVELS, THREAD_LOCAL, Tag
from funchost.invocation.threadpool import LoopThreadPool
from funchost.timespan import format_timespan

logger = logging.getLogger("funchost.invocation")


NOT_DECODED: Any = object()
HOST_API_REASON = "This function was programmatically called via the host APIs."
EMPTY: Mapping[str, Any] = MappingProxyType({})


class TriggerEvent:
    """What a trigger hands the invoker: the trigger value and what it knows about it.

    `value` is the trigger value already decoded, when the trigger binding builds exactly what
    its converter would (the HTTP request); otherwise the invoker decodes `datum`.
    """

    __slots__ = (
        "binding_data",
        "datum",
        "inputs",
        "metadata",
        "reason",
        "traceparent",
        "tracestate",
        "value",
    )

    def __init__(
        self,
        datum: meta.Datum | None,
        metadata: Mapping[str, meta.Datum] = EMPTY,
        reason: str = HOST_API_REASON,
        traceparent: str | None = None,
        tracestate: str = "",
        inputs: Mapping[str, meta.Datum] = EMPTY,
        value: Any = NOT_DECODED,
        binding_data: Any = None,
    ) -> None:
        self.datum = datum
        self.metadata = metadata
        self.reason = reason
        self.traceparent = traceparent
        self.tracestate = tracestate
        self.inputs = inputs
        self.value = value
        # What binding expressions of this invocation read (`bindings.expressions.BindingData`).
        self.binding_data = binding_data


class FunctionIO(Protocol):
    """A function's input and output bindings beyond its trigger (blobs, queues): inputs are
    read before the call, outputs written after it succeeds, both inside the invocation, so
    their errors fail it like the function's own."""

    async def read(self, event: TriggerEvent) -> Mapping[str, meta.Datum]: ...

    async def write(self, outputs: Mapping[str, Any], event: TriggerEvent) -> None: ...


class InvocationResult:
    """The outcome. Outputs are already encoded by their binding's encoder
    (`funchost.bindings.outputs`), keyed by binding name; `$return` is the return value."""

    __slots__ = ("error", "invocation_id", "outputs", "succeeded", "timed_out")

    def __init__(self, invocation_id: str, succeeded: bool = False) -> None:
        self.invocation_id = invocation_id
        self.succeeded = succeeded
        self.outputs: dict[str, Any] = {}
        self.error: BaseException | None = None
        self.timed_out = False

    @property
    def return_value(self) -> Any:
        return self.outputs.get("$return")


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
    call: Callable[..., Any],
    args: dict[str, Any],
    context: Context | None,
    with_extensions: bool,
    tag: Tag,
) -> Any:
    INVOCATION_TAGS.enter_thread(tag)
    try:
        if context is not None:
            THREAD_LOCAL.invocation_id = context.invocation_id
        if context is None or not with_extensions:
            return call(**args)
        extensions.run_invocation_hooks(extensions.PRE_APP, context, args)
        extensions.run_invocation_hooks(extensions.PRE_FUNC, context, args)
        result = call(**args)
        extensions.run_invocation_hooks(extensions.POST_FUNC, context, args, result)
        extensions.run_invocation_hooks(extensions.POST_APP, context, args, result)
        return result
    finally:
        INVOCATION_TAGS.leave_thread()


async def _run_async(
    call: Callable[..., Any], args: dict[str, Any], context: Context | None, with_extensions: bool
) -> Any:
    if context is not None:
        THREAD_LOCAL.invocation_id = context.invocation_id
    if context is None or not with_extensions:
        return await call(**args)
    extensions.run_invocation_hooks(extensions.PRE_APP, context, args)
    extensions.run_invocation_hooks(extensions.PRE_FUNC, context, args)
    result = await call(**args)
    extensions.run_invocation_hooks(extensions.POST_FUNC, context, args, result)
    extensions.run_invocation_hooks(extensions.POST_APP, context, args, result)
    return result


def describe_exception(exc: BaseException) -> str:
    """`Type: message`, as the worker reports a function's exception to the host; an exception
    whose `str()` itself raises gets the worker's fixed wording instead."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:
        return "Unhandled exception in function. Could not serialize original exception message."


def retry_delay(policy: RetrySpec, attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1-based).

    Exponential backoff is the WebJobs SDK's randomized strategy: the first retry waits the
    minimum interval; retry n waits the minimum plus the minimum times 2**(n-2), give or take
    20 %, and the maximum once that reaches it (every later retry then waits the maximum too,
    since each step at least doubles the increment).
    """
    if policy.strategy == "fixedDelay":
        return policy.delay_interval
    low, high = policy.minimum_interval, max(policy.maximum_interval, policy.minimum_interval)
    if attempt <= 1:
        return low
    increment = random.uniform(0.8, 1.2) * 2.0 ** min(attempt - 2, 64) * low
    return min(high, low + increment)


class InvocationIds:
    """Invocation ids shaped like version-4 UUIDs: a random prefix per invoker and a counter.

    Unique within the process (the counter) and across processes and hosts (80 random bits),
    at a fraction of the cost of `uuid.uuid4()` on a path that runs for every request. The
    invoker formats `prefix` and `next(counter) & 0xFFFFFFFFFFFF` itself, without a call.
    """

    def __init__(self) -> None:
        h = os.urandom(10).hex()
        variant = "89ab"[int(h[16], 16) & 3]
        self.prefix = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-"
        self.counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


class Invoker:
    def __init__(
        self,
        *,
        thread_count: int | None = None,
        function_timeout: float | None = None,
        extensions_enabled: bool = False,
        log_line: Callable[..., None] | None = None,
        clock: Clock = REAL_TIME,
    ) -> None:
        self.clock = clock  # retry delays go by it
        workers = thread_count or min(32, (os.cpu_count() or 1) + 4)
        self.pool = LoopThreadPool(
            workers, thread_name_prefix="funchost", on_exhausted=self._pool_exhausted
        )
        # Called on the loop when every thread the pool may have is held by a timed-out
        # function (`funchost serve` drains a supervised worker); None: the invoker logs advice.
        self.on_pool_exhausted: Callable[[], None] | None = None
        self.function_timeout = function_timeout
        self.deadlines = Deadlines(function_timeout) if function_timeout else None
        self.extensions_enabled = extensions_enabled
        # Where the Executing/Executed lines go: the console's line writer, else the logger.
        # (message, *args), formatted as `message % args` like a log record's.
        self._line: Callable[..., None] = log_line if log_line is not None else logger.info
        self.invocation_ids = InvocationIds()
        # The loop the host runs on, once started (`bind`): with it, finding the current task
        # costs no get_running_loop(), which makes a getpid() system call on Python 3.11.
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Run invocations on `loop` from now on (None: whichever loop is running)."""
        self.loop = loop

    async def shutdown(self) -> None:
        self.loop = None
        if self.deadlines is not None:
            await self.deadlines.close()
        self.pool.shutdown()

    async def invoke(
        self,
        spec: FunctionSpec,
        event: TriggerEvent,
        *,
        retry: RetrySpec | None = None,
        io: FunctionIO | None = None,
    ) -> InvocationResult:
        """Run `spec` for `event`, retrying by `retry` (a policy) when the function fails."""
        max_retries = retry.max_retry_count if retry else 0
        attempt = 0
        while True:
            result = await self.invoke_once(spec, event, attempt, max_retries, io)
            if result.succeeded or retry is None:
                return result
            # The WebJobs SDK's retry lines, in the function's category (Function.<name>).
            if max_retries != -1 and attempt >= max_retries:
                logger.error(
                    "Function execution failed after '%d' retries.",
                    attempt,
                    extra={"function_name": spec.name},
                )
                return result
            attempt += 1
            delay = retry_delay(retry, attempt)
            if LOG_LEVELS.threshold(f"Function.{spec.name}") <= logging.DEBUG:
                # A Debug line of the host, shown by host.json's levels (the worker's switch
                # for user debug records, PYTHON_ENABLE_DEBUG_LOGGING, has no say in it).
                self._line(
                    "Waiting for `%s` before retrying function execution. Next attempt: '%d'. "
                    "Max retry count: '%d'.",
                    format_timespan(delay),
                    attempt,
                    max_retries,
                )
            await self.clock.sleep(delay)

    async def invoke_once(
        self,
        spec: FunctionSpec,
        event: TriggerEvent,
        retry_count: int = 0,
        max_retries: int = 0,
        io: FunctionIO | None = None,
    ) -> InvocationResult:
        ids = self.invocation_ids
        invocation_id = f"{ids.prefix}{next(ids.counter) & 0xFFFFFFFFFFFF:012x}"
        context: Context | None = None
        if spec.requires_context or self.extensions_enabled:
            context = Context(
                invocation_id,
                spec.name,
                spec.directory,
                TraceContext(
                    child_traceparent(event.traceparent),
                    event.tracestate,
                    {"OperationName": spec.name},
                ),
                RetryContext(retry_count, max_retries),
            )
        tag = (spec.name, invocation_id)
        task = asyncio.current_task(self.loop)
        assert task is not None, "an invocation runs in an asyncio task"
        tagged = INVOCATION_TAGS.tasks
        tagged[task] = tag
        started = 0.0
        log_lines = LOG_LEVELS.function_lines(spec.name)
        if log_lines:
            started = time.perf_counter()
            self._line(
                f"Executing 'Functions.{spec.name}' (Reason='{event.reason}', Id={invocation_id})"
            )
        result = InvocationResult(invocation_id)
        try:
            inputs = event.inputs if io is None else await io.read(event)
            args, outs = self._arguments(spec, event, inputs, context)
            if spec.is_async and context is None:
                # The common case needs no wrapper coroutine: one frame less per invocation.
                awaitable = spec.callable(**args)
            else:
                awaitable = self._start(spec, args, context, tag)
            deadlines = self.deadlines
            if deadlines is None:
                value = await awaitable
            else:
                # Inline rather than in a helper coroutine: this runs for every invocation.
                deadlines.enter(task)
                try:
                    value = await awaitable
                except BaseException as exc:
                    if not deadlines.leave(task):
                        raise
                    cancelled = isinstance(exc, asyncio.CancelledError)
                    if task.uncancel() and cancelled:
                        raise  # cancelled by someone else too (the host stopping)
                    timeout = self._timeout(spec, invocation_id) if cancelled else None
                    if isinstance(awaitable, asyncio.Future):
                        # A sync function's thread cannot be stopped: the pool writes it off
                        # and discards its result.
                        self.pool.write_off(awaitable)
                    if timeout is None:
                        raise  # the function turned the cancellation into its own error
                    raise timeout from None
                if deadlines.leave(task):  # the function swallowed the cancellation
                    task.uncancel()
                    raise self._timeout(spec, invocation_id)
            rp = spec.return_param
            if not outs and rp is not None and value is not None:
                # The common case (a return value, no `func.Out` parameter) without a call.
                result.outputs["$return"] = encode_output(rp, value)
            else:
                self._collect(spec, value, outs, result)
            if io is not None:
                await io.write(result.outputs, event)
            result.succeeded = True
        except FunctionTimeoutError as exc:
            result.error, result.timed_out = exc, True
        except BaseException as exc:
            # Whatever the function raised fails this invocation only: SystemExit and
            # KeyboardInterrupt (sys.exit(), argparse), GeneratorExit, and a CancelledError the
            # function raised itself. A cancellation of this task (the host stopping, whoever
            # awaits the invocation) is not the function's failure: it goes on.
            if isinstance(exc, asyncio.CancelledError) and task.cancelling():
                logger.warning(
                    "Function 'Functions.%s' (Id: '%s') was cancelled.", spec.name, invocation_id
                )
                raise
            result.error = exc
            logger.error(
                "Exception while executing function: Functions.%s. Result: Failure\n"
                "Exception: %s\nStack: %s",
                spec.name,
                describe_exception(exc),
                "".join(traceback.format_exception(exc)).rstrip(),
            )
        finally:
            if log_lines:
                duration = int((time.perf_counter() - started) * 1000)
                outcome = "Succeeded" if result.succeeded else "Failed"
                self._line(
                    f"Executed 'Functions.{spec.name}' ({outcome}, Id={invocation_id}, "
                    f"Duration={duration}ms)"
                )
            del tagged[task]
        return result

    def _arguments(
        self,
        spec: FunctionSpec,
        event: TriggerEvent,
        inputs: Mapping[str, meta.Datum],
        context: Context | None,
    ) -> tuple[dict[str, Any], dict[str, Out]]:
        args: dict[str, Any] = {}
        outs: dict[str, Out] = {}
        for p in spec.params:
            if p.is_out:
                outs[p.name] = args[p.name] = Out()
            elif p.binding is spec.trigger:
                if event.value is not NOT_DECODED and p.converter_name == spec.trigger.type:
                    args[p.name] = event.value
                else:
                    datum = event.datum if event.datum is not None else meta.Datum(None, None)
                    args[p.name] = converters.decode(
                        p.converter_name, datum, p.pytype, event.metadata
                    )
            else:
                datum = inputs.get(p.name, meta.Datum(None, None))
                args[p.name] = converters.decode(p.converter_name, datum, p.pytype, event.metadata)
        if spec.requires_context:
            args["context"] = context
        return args, outs

    def _start(
        self, spec: FunctionSpec, args: dict[str, Any], context: Context | None, tag: Tag
    ) -> Awaitable[Any]:
        """The awaitable of the user's function: its coroutine, or its thread's future."""
        if not spec.is_async:
            return self.pool.submit(
                _run_sync, spec.callable, args, context, self.extensions_enabled, tag
            )
        if context is None:
            return spec.callable(**args)  # type: ignore[no-any-return]
        return _run_async(spec.callable, args, context, self.extensions_enabled)

    def _pool_exhausted(self) -> None:
        pool = self.pool
        logger.error(
            "The thread pool of `def` functions is exhausted: all %d of its threads "
            "(PYTHON_THREADPOOL_THREAD_COUNT=%d, and %d more started in their place) still run "
            "functions that exceeded functionTimeout, and no `def` function can run until one "
            "returns.",
            pool.max_workers + pool.replacements,
            pool.max_workers,
            pool.replacements,
        )
        if self.on_pool_exhausted is not None:
            self.on_pool_exhausted()
            return
        logger.error(
            "Restart the host to run `def` functions again, and find what the hung functions "
            "wait for (a call without a timeout?); `funchost serve --workers N` replaces a "
            "worker process in this state by itself."
        )

    def _timeout(self, spec: FunctionSpec, invocation_id: str) -> FunctionTimeoutError:
        assert self.function_timeout is not None
        message = (
            f"Timeout value of {format_timespan(self.function_timeout)} exceeded by function "
            f"'Functions.{spec.name}' (Id: '{invocation_id}'). Initiating cancellation."
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
                    result.outputs[p.name] = encode_output(p, out_value)
        rp = spec.return_param
        if rp is None:
            if value is not None:
                # The worker's words, the missing space included (two literals joined).
                raise RuntimeError(
                    f"function {spec.name!r} without a $return bindingreturned a non-None value"
                )
            return
        # The worker encodes every return value; for other types funchost writes nothing for
        # None, but the `http` converter refuses it, so an HTTP `$return` of None fails the
        # invocation (500) with the worker's message, as in Azure.
        if value is not None or rp.binding.type.lower() == "http":
            result.outputs["$return"] = encode_output(rp, value)
