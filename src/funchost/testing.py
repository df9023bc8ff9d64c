"""Testing function apps in-process: `TestHost` and the `function_host` pytest fixture.

`TestHost` runs the same `Host` and ASGI application that `funchost start` serves, on an event
loop in a background thread, and talks to it through httpx without sockets. Loading user code
changes `os.environ`, `sys.path` and `sys.modules`; all three are put back when the host stops,
so tests of different apps do not see each other.

    from funchost.testing import TestHost

    def test_hello():
        with TestHost("path/to/app") as host:
            assert host.client.get("/api/hello?name=x").text == "Hello, x!"
            result = host.invoke("nightly_job")        # a non-HTTP function, awaited
            assert result.succeeded, result

            host.queue("orders").send("42")            # the app's own embedded store
            host.run_until_idle()                      # every trigger it sets off, done
            assert host.queue("processed").peek() == ["42"]

Triggered invocations are recorded (`host.invocations`, `Invocation`), and so is what they log
(`host.logs`). `run_until_idle` knows when the app has nothing left to do from the listeners
themselves: each queue and blob listener is woken and waited for until it has polled its
source once more, afresh, and started nothing; no sleeping, no polling interval to wait out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import sysconfig
import tempfile
import threading
import traceback
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from azure.functions import meta

import funchost
from funchost.bindings import blob as blob_binding
from funchost.bindings import queue as queue_binding
from funchost.bindings import timer as timer_binding
from funchost.bindings.triggers import admin_event
from funchost.clock import VirtualClock
from funchost.config import DEVELOPMENT, STATE_DIR_SETTING, load_config
from funchost.host import Host
from funchost.http.app import HostApp
from funchost.indexing.loader import APP_PACKAGE
from funchost.indexing.spec import FunctionSpec
from funchost.invocation.invoker import InvocationResult, TriggerEvent
from funchost.invocation.logs import INVOCATION_TAGS
from funchost.storage.base import Storage
from funchost.storage.names import blob_path, queue_name
from funchost.storage.sqlite import SqliteStorage

T = TypeVar("T")

# How long `clock.advance` waits for the timers to be scheduled (their lock taken).
SCHEDULING_TIMEOUT = 10.0
# Azure's limit on the messages one peek returns; the embedded store returns them all.
AZURE_PEEK_LIMIT = 32
_HOST_DIRS = (
    str(Path(funchost.__file__).parent) + os.sep,
    str(Path(sysconfig.get_paths()["stdlib"]).resolve()) + os.sep,
)


def _user_traceback(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the first frame outside funchost and the standard library (the
    invoker, the thread pool, asyncio): the user's frames first. The whole one if none is."""
    frame = tb
    while frame is not None:
        filename = frame.tb_frame.f_code.co_filename
        if not filename.startswith(_HOST_DIRS):
            return frame
        frame = frame.tb_next
    return tb


def _plain_value(value: Any) -> Any:
    """A value as its binding encoded it, back as the Python value it stands for."""
    if isinstance(value, meta.Datum):
        if value.type == "json" and isinstance(value.value, str):
            return json.loads(value.value)
        return value.value
    return value


class Invocation:
    """One run of a function that the test host saw: what ran it and how it ended.

    `outcome` is "succeeded", "failed" or "timed out"; `exception` is what the function raised,
    its traceback starting at the user's own frames; `logs` the records it logged (the host's
    lines about it included). `raise_error()` raises that exception in the test.
    """

    __test__ = False

    def __init__(
        self, function: str, trigger: str, result: InvocationResult, logs: list[logging.LogRecord]
    ) -> None:
        self.function = function
        self.trigger = trigger
        self.result = result
        self.invocation_id = result.invocation_id
        self.logs = logs
        self.exception = result.error
        if self.exception is not None:
            self.exception.__traceback__ = _user_traceback(self.exception.__traceback__)

    @property
    def succeeded(self) -> bool:
        return self.result.succeeded

    @property
    def outcome(self) -> str:
        if self.result.succeeded:
            return "succeeded"
        return "timed out" if self.result.timed_out else "failed"

    @property
    def error(self) -> BaseException | None:
        """The same as `exception` (the name `InvocationResult` uses)."""
        return self.exception

    @property
    def timed_out(self) -> bool:
        return self.result.timed_out

    @property
    def outputs(self) -> dict[str, Any]:
        """The output bindings' values by binding name (`$return`: the return value)."""
        return {name: _plain_value(value) for name, value in self.result.outputs.items()}

    @property
    def return_value(self) -> Any:
        return _plain_value(self.result.return_value)

    def raise_error(self) -> Invocation:
        """Raise the function's exception, if it raised one; else return this record."""
        __tracebackhide__ = True
        if self.exception is not None:
            raise self.exception
        return self

    def __repr__(self) -> str:
        text = f"<Invocation {self.function} ({self.trigger}) {self.outcome}"
        if self.result.succeeded:
            if self.result.return_value is not None:
                text += f", returned {self.return_value!r}"
        elif self.exception is not None:
            text += f": {type(self.exception).__name__}: {self.exception}"
            frames = traceback.extract_tb(self.exception.__traceback__)
            if frames:
                text += f" (at {frames[-1].filename}:{frames[-1].lineno})"
        return text + ">"


@dataclass(frozen=True)
class QueueMessage:
    """A message of a queue as `TestQueue.messages()` shows it, its body decoded."""

    id: str
    body: str | bytes
    dequeue_count: int
    insertion_time: datetime
    expiration_time: datetime
    next_visible_time: datetime


class TestQueue:
    """A queue of the app's storage (connection `connection`, AzureWebJobsStorage by default),
    encoded as host.json's `messageEncoding` says, as the app's bindings read and write it."""

    __test__ = False

    def __init__(self, test_host: TestHost, name: str, connection: str | None = None) -> None:
        self._test_host = test_host
        self.name = queue_name(name.lower())
        self.connection = connection

    def _encoding(self) -> str:
        return self._test_host.host.runtime.host_options.queues.message_encoding

    def send(self, body: str | bytes) -> None:
        """Add a message; a listener on the queue wakes at once."""

        async def send() -> None:
            storage = await self._test_host._storage(self.connection)
            await storage.create_queue(self.name)
            await storage.send_message(
                self.name, queue_binding.encode_content(body, self._encoding())
            )
            self._test_host._notify(self.connection, queue_binding.resource(self.name))

        self._test_host.run(send())

    def messages(self) -> list[QueueMessage]:
        """The visible messages, oldest first, with their metadata (none are dequeued)."""

        async def peek() -> list[QueueMessage]:
            storage = await self._test_host._storage(self.connection)
            limit = 1 << 30 if isinstance(storage, SqliteStorage) else AZURE_PEEK_LIMIT
            await storage.create_queue(self.name)
            found = await storage.peek_messages(self.name, limit)
            return [
                QueueMessage(
                    m.id,
                    queue_binding.decode_content(m.content, self._encoding()),
                    m.dequeue_count,
                    m.insertion_time,
                    m.expiration_time,
                    m.next_visible_time,
                )
                for m in found
            ]

        return self._test_host.run(peek())

    def peek(self) -> list[str]:
        """The bodies of the visible messages, oldest first, as text."""
        return [
            m.body if isinstance(m.body, str) else m.body.decode("utf-8", "replace")
            for m in self.messages()
        ]

    def __repr__(self) -> str:
        return f"<TestQueue {self.name}>"


class TestBlob:
    """A blob of the app's storage, `container/name`."""

    __test__ = False

    def __init__(self, test_host: TestHost, path: str, connection: str | None = None) -> None:
        self._test_host = test_host
        self.container, self.name = blob_path(path)
        self.connection = connection

    def upload(self, data: str | bytes) -> None:
        """Write the blob (replacing it); a blob trigger on its container wakes at once."""
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)

        async def upload() -> None:
            storage = await self._test_host._storage(self.connection)
            await storage.create_container(self.container)
            await storage.put_blob(self.container, self.name, raw)
            self._test_host._notify(self.connection, blob_binding.resource(self.container))

        self._test_host.run(upload())

    def read(self) -> bytes:
        """The blob's content; FileNotFoundError when there is no such blob."""

        async def read() -> bytes | None:
            storage = await self._test_host._storage(self.connection)
            found = await storage.get_blob(self.container, self.name)
            return None if found is None else found[0]

        data = self._test_host.run(read())
        if data is None:
            raise FileNotFoundError(f"no blob '{self.container}/{self.name}'")
        return data

    def exists(self) -> bool:
        async def info() -> bool:
            storage = await self._test_host._storage(self.connection)
            return await storage.blob_info(self.container, self.name) is not None

        return self._test_host.run(info())

    def __repr__(self) -> str:
        return f"<TestBlob {self.container}/{self.name}>"


class TestClock:
    """The clock a test host's timers, retry delays and queue visibility go by: real time
    plus however far `advance` has moved it."""

    __test__ = False

    def __init__(self, test_host: TestHost) -> None:
        self._test_host = test_host

    def now(self) -> datetime:
        return self._test_host._clock.now()

    def advance(self, by: timedelta | float) -> None:
        """Move the clock forward by `by` (a timedelta, or seconds) at once: a timer due in
        the jump fires (once, however many occurrences the jump passes), a retry delay or a
        message's visibility timeout that ends in it ends. `run_until_idle()` then waits for
        what that sets off. The timers are scheduled first: a jump right after the host
        starts still passes their first occurrence."""
        test_host = self._test_host

        async def advance() -> None:
            try:
                await asyncio.wait_for(test_host._timers_scheduled(), SCHEDULING_TIMEOUT)
            except TimeoutError:
                names = [t.spec.name for t in test_host._timers() if test_host._timer_busy(t)]
                raise IdleTimeoutError(SCHEDULING_TIMEOUT, names, {}) from None
            await test_host._clock.advance(by)

        test_host.run(advance())

    def __repr__(self) -> str:
        return f"<TestClock {self.now().isoformat()}>"


class IdleTimeoutError(TimeoutError):
    """`run_until_idle` ran out of time: `functions` were still running (or about to), and
    `queues` (those the app's triggers listen on) still held visible messages."""

    def __init__(self, timeout: float, functions: list[str], queues: dict[str, int]) -> None:
        self.functions = functions
        self.queues = queues
        parts = []
        if functions:
            parts.append("functions running: " + ", ".join(functions))
        if queues:
            parts.append(
                "queues with messages: "
                + ", ".join(f"{name} ({count})" for name, count in queues.items())
            )
        super().__init__(
            f"the app was not idle after {timeout:g} s; " + ("; ".join(parts) or "listeners busy")
        )


class _InvocationLogs(logging.Handler):
    """Keeps the records logged inside the invocations of one host (their ids' prefix)."""

    def __init__(self, prefix: str) -> None:
        super().__init__(logging.DEBUG)
        self.prefix = prefix
        self.records: list[logging.LogRecord] = []
        self._by_invocation: dict[str, list[logging.LogRecord]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        tag = INVOCATION_TAGS.current()
        if tag is None:
            invocation_id = getattr(record, "invocation_id", "") or ""
            function_name = getattr(record, "function_name", "") or ""
        else:
            function_name, invocation_id = tag
        if not invocation_id.startswith(self.prefix):
            return
        record.function_name = function_name
        record.invocation_id = invocation_id
        # list.append and dict.setdefault: safe from the pool's threads.
        self.records.append(record)
        self._by_invocation.setdefault(invocation_id, []).append(record)

    def of(self, invocation_id: str) -> list[logging.LogRecord]:
        return list(self._by_invocation.get(invocation_id, ()))


class _LoopTransport(httpx.BaseTransport):
    """A synchronous httpx transport that runs the ASGI app on the host's loop thread."""

    def __init__(self, host: TestHost) -> None:
        self._host = host
        self._asgi = httpx.ASGITransport(app=host.app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            body = request.read()
            async_request = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._asgi.handle_async_request(async_request)
            content = await response.aread()
            return httpx.Response(
                response.status_code, headers=response.headers, content=content, request=request
            )

        return self._host.run(send())


class TestHost:
    """An app's host in this process: `client` for HTTP, `queue()` and `blob()` on its storage,
    `invoke()`, `run_until_idle()`, `clock`, and what ran (`invocations`, `logs`). The
    loaded `Host` is `host`, its ASGI application `app`."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(
        self,
        app_dir: str | os.PathLike[str],
        *,
        settings: Mapping[str, str] | None = None,
        mode: str = DEVELOPMENT,
        enable_auth: bool = False,
        functions: Sequence[str] = (),
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.settings = dict(settings or {})
        self.mode = mode
        self.enable_auth = enable_auth
        self.functions = tuple(functions)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._saved_environ: dict[str, str] = {}
        self._state: tempfile.TemporaryDirectory[str] | None = None
        self._saved_path: list[str] = []
        self._saved_modules: set[str] = set()
        self._saved_meta_path: list[Any] = []
        self._saved_root_level = logging.NOTSET
        self._logs: _InvocationLogs | None = None
        # Invocations under way: a future done when each ends, its function, and its task.
        self._running: dict[asyncio.Future[None], tuple[str, asyncio.Task[Any] | None]] = {}
        self._clock = VirtualClock()
        self.clock = TestClock(self)
        self._started = 0
        #: Every invocation the host's triggers (and `invoke`) ran, in the order they ended.
        self.invocations: list[Invocation] = []
        self.host: Host
        self.app: HostApp
        self.client: httpx.Client

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> TestHost:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if STATE_DIR_SETTING not in self.settings and STATE_DIR_SETTING not in os.environ:
            # Each test host gets an empty embedded store of its own, gone when it stops.
            self._state = tempfile.TemporaryDirectory(prefix="funchost-testhost-")
            self.settings[STATE_DIR_SETTING] = self._state.name
        self._saved_environ = dict(os.environ)
        self._saved_path = list(sys.path)
        self._saved_modules = set(sys.modules)
        self._saved_meta_path = list(sys.meta_path)
        try:
            os.environ.update(self.settings)
            config = load_config(
                self.app_dir,
                mode=self.mode,
                enable_auth=self.enable_auth,
                functions=self.functions,
            )
            self.host = Host(config, serve_storage=True, clock=self._clock)
            self.app = HostApp(self.host)
            self.host.runtime.invoke = self._record_invocation
            self._capture_logs()
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="funchost-testhost", daemon=True
            )
            self._thread.start()
            self.run(self.host.start())
        except BaseException:
            self._restore()
            raise
        self.client = httpx.Client(transport=_LoopTransport(self), base_url="http://localhost")

    def stop(self) -> None:
        if self._loop is None:
            return
        try:
            self.client.close()
            self.run(self._stop_host())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop.close()
            self._loop = None
            self._restore()

    async def _stop_host(self) -> None:
        # An invocation in a retry delay would hold the stop up for the host's whole drain
        # time (30 s) while the clock stands still: its delay is cancelled instead.
        for _, task in list(self._running.values()):
            if task is not None and task in self._clock.waiting:
                task.cancel()
        await self.host.stop()

    def _capture_logs(self) -> None:
        self._logs = _InvocationLogs(self.host.invoker.invocation_ids.prefix)
        root = logging.getLogger()
        self._saved_root_level = root.level
        if root.getEffectiveLevel() > logging.INFO:
            root.setLevel(logging.INFO)  # what the host shows of functions' records
        root.addHandler(self._logs)

    def _restore(self) -> None:
        if self._logs is not None:
            root = logging.getLogger()
            root.removeHandler(self._logs)
            root.setLevel(self._saved_root_level)
        if self._state is not None:
            self.settings.pop(STATE_DIR_SETTING, None)
            self._state.cleanup()
            self._state = None
        os.environ.clear()
        os.environ.update(self._saved_environ)
        sys.path[:] = self._saved_path
        sys.meta_path[:] = self._saved_meta_path
        app_root = str(self.app_dir)
        for name in set(sys.modules) - self._saved_modules:
            module = sys.modules[name]
            origin = getattr(module, "__file__", None) or ""
            if (
                name == APP_PACKAGE
                or name.startswith(APP_PACKAGE + ".")
                or origin.startswith(app_root)
            ):
                del sys.modules[name]

    # -- driving the app ---------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60) -> T:
        """Run a coroutine on the host's loop and return its result."""
        if self._loop is None:
            raise RuntimeError("the TestHost is not started")
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def invoke(self, function_name: str, input: str = "") -> Invocation:
        """Run a function as `POST /admin/functions/{name}` would, and wait for it: `input` is
        the trigger's value (a queue message's body, a blob's `container/name`)."""
        spec = self.host.index.get(function_name)
        if spec is None:
            failed = "; ".join(f"{f.name}: {f.reason}" for f in self.host.index.failed)
            raise KeyError(
                f"no function named {function_name!r}"
                + (f" (these failed to load: {failed})" if failed else "")
            )

        async def invoke() -> Invocation:
            event = await admin_event(self.host.runtime, spec, input)
            return await self._track(spec, event)

        return self.run(invoke())

    @property
    def logs(self) -> list[logging.LogRecord]:
        """The records logged inside this host's invocations (HTTP ones too), in order; each
        has `function_name` and `invocation_id` attributes."""
        return list(self._logs.records) if self._logs is not None else []

    def queue(self, name: str, *, connection: str | None = None) -> TestQueue:
        return TestQueue(self, name, connection)

    def blob(self, path: str, *, connection: str | None = None) -> TestBlob:
        return TestBlob(self, path, connection)

    def run_until_idle(self, timeout: float = 10.0) -> None:
        """Return once every invocation the triggers started, and everything their outputs
        set off, is done; `IdleTimeoutError` (a TimeoutError) naming what is still pending
        after `timeout` seconds."""

        async def until_idle() -> None:
            try:
                await asyncio.wait_for(self._settle(), timeout)
            except TimeoutError:
                raise IdleTimeoutError(timeout, *await self._pending()) from None

        self.run(until_idle(), timeout=None)

    # -- what the test host watches ------------------------------------------------------------

    async def _record_invocation(self, spec: FunctionSpec, event: TriggerEvent) -> InvocationResult:
        return (await self._track(spec, event)).result

    async def _track(self, spec: FunctionSpec, event: TriggerEvent) -> Invocation:
        done = asyncio.get_running_loop().create_future()
        self._running[done] = (spec.name, asyncio.current_task())
        self._started += 1
        try:
            result = await self.host.invoke(spec, event)
        finally:
            del self._running[done]
            done.set_result(None)
        logs = self._logs.of(result.invocation_id) if self._logs is not None else []
        record = Invocation(spec.name, spec.trigger.type, result, logs)
        self.invocations.append(record)
        return record

    def _polling_listeners(
        self,
    ) -> list[queue_binding.QueueListener | blob_binding.BlobListener]:
        return [
            listener
            for listener in self.host.listeners
            if isinstance(listener, (queue_binding.QueueListener, blob_binding.BlobListener))
        ]

    def _timers(self) -> list[timer_binding.TimerListener]:
        return [
            listener
            for listener in self.host.listeners
            if isinstance(listener, timer_binding.TimerListener)
        ]

    def _timer_busy(self, timer: timer_binding.TimerListener) -> bool:
        """Whether a timer has something to do before the clock moves on: its occurrence is
        due, or it is neither waiting for the next one nor for the clock (a retry delay)."""
        if timer.idle:
            return timer.next_due is not None and timer.next_due <= self._clock.now()
        return timer.task not in self._clock.waiting

    async def _timers_scheduled(self) -> None:
        """Until every timer waits for its next occurrence or for the clock (a retry delay):
        none is still taking its lock, reading its status or running."""
        while True:
            waiting = self._clock.waiting
            busy = [t for t in self._timers() if not t.idle and t.task not in waiting]
            if not busy:
                return
            for timer in busy:
                timer.state_changed.clear()
            changes = {asyncio.ensure_future(timer.state_changed.wait()) for timer in busy}
            try:
                await asyncio.wait(changes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for change in changes:
                    change.cancel()

    def _busy(self) -> set[asyncio.Future[Any]]:
        """The work under way that is not waiting for the clock to move."""
        waiting = self._clock.waiting
        work: set[asyncio.Future[Any]] = {
            done for done, (_, task) in self._running.items() if task not in waiting
        }
        work |= {task for task in self.host._background if task not in waiting}
        for listener in self._polling_listeners():
            work |= {task for task in listener.in_flight if task not in waiting}
        return work

    async def _settle(self) -> None:
        """Until nothing is left to do but wait for the clock: no invocation runs (but for
        those in a retry delay), no timer is due, and each queue and blob listener has polled
        afresh and started nothing."""
        listeners = self._polling_listeners()
        while True:
            started = self._started
            work = self._busy()
            timers = [timer for timer in self._timers() if self._timer_busy(timer)]
            if work or timers:
                changes = [self._clock.changed(), *(timer.state_changed for timer in timers)]
                for event in changes:
                    event.clear()
                signals = {asyncio.ensure_future(event.wait()) for event in changes}
                try:
                    await asyncio.wait(work | signals, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for signal in signals:
                        signal.cancel()
                continue
            await asyncio.gather(*(listener.poll_now() for listener in listeners))
            if self._started == started and not self._busy():
                return

    async def _pending(self) -> tuple[list[str], dict[str, int]]:
        functions = sorted({name for name, _ in self._running.values()})
        for timer in self._timers():
            if self._timer_busy(timer) and timer.spec.name not in functions:
                functions.append(timer.spec.name)
        queues: dict[str, int] = {}
        for listener in self._polling_listeners():
            if listener.busy and listener.spec.name not in functions:
                functions.append(listener.spec.name)
            if isinstance(listener, queue_binding.QueueListener):
                try:
                    storage = await self.host.runtime.storage(listener.spec.trigger)
                    count = len(await storage.peek_messages(listener.queue, AZURE_PEEK_LIMIT))
                except Exception:
                    continue
                if count:
                    queues[listener.queue] = count
        return functions, queues

    async def _storage(self, connection: str | None) -> Storage:
        return await self.host.accounts.get(connection)

    def _notify(self, connection: str | None, resource: str) -> None:
        self.host.runtime.changes.notify(self.host.runtime.connection_key(connection), resource)


def _function_host_factory() -> Iterator[Callable[..., TestHost]]:
    started: list[TestHost] = []

    def start(app_dir: str | os.PathLike[str], **options: Any) -> TestHost:
        host = TestHost(app_dir, **options)
        host.start()
        started.append(host)
        return host

    yield start
    for host in reversed(started):
        host.stop()


APP_OPTION = "funchost_app"

try:  # the pytest plugin, registered through the `pytest11` entry point
    import pytest

    def pytest_addoption(parser: pytest.Parser) -> None:
        parser.addini(
            APP_OPTION,
            "the function app the function_host fixture starts (relative to this file)",
            default="",
        )

    def pytest_configure(config: pytest.Config) -> None:
        config.addinivalue_line(
            "markers",
            f"{APP_OPTION}(path, **options): the function app the function_host fixture "
            "starts (relative to the test's file), with TestHost's options",
        )

    def _configured_app(request: pytest.FixtureRequest) -> tuple[Path, dict[str, Any]] | None:
        marker = request.node.get_closest_marker(APP_OPTION)
        if marker is not None:
            if len(marker.args) != 1:
                raise pytest.UsageError(f"@pytest.mark.{APP_OPTION} takes one path")
            return Path(request.path).parent / marker.args[0], dict(marker.kwargs)
        value = str(request.config.getini(APP_OPTION) or "").strip()
        if not value:
            return None
        inipath = request.config.inipath
        base = inipath.parent if inipath is not None else request.config.rootpath
        return base / value, {}

    @pytest.fixture(name="function_host")
    def function_host(request: pytest.FixtureRequest) -> Iterator[Any]:
        """A started `TestHost` for the app named by `@pytest.mark.funchost_app(PATH)` or the
        `funchost_app` ini option; else a factory: `function_host(app_dir, **options)`."""
        configured = _configured_app(request)
        if configured is None:
            yield from _function_host_factory()
            return
        app_dir, options = configured
        if not app_dir.is_dir():
            raise pytest.UsageError(f"{APP_OPTION}: no app folder at {app_dir}")
        with TestHost(app_dir, **options) as host:
            yield host

except ImportError:  # pragma: no cover - pytest is only needed to use the fixture
    pass
