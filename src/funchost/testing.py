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
            assert result.succeeded
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import httpx

from funchost.config import DEVELOPMENT, STATE_DIR_SETTING, load_config
from funchost.host import Host
from funchost.http.app import HostApp
from funchost.indexing.loader import APP_PACKAGE
from funchost.invocation.invoker import InvocationResult

T = TypeVar("T")


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
            self.host = Host(config, serve_storage=True)
            self.app = HostApp(self.host)
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
            self.run(self.host.stop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self._loop.close()
            self._loop = None
            self._restore()

    def _restore(self) -> None:
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

    def invoke(self, function_name: str, input: str = "") -> InvocationResult:
        """Run a function as `POST /admin/functions/{name}` would, and wait for it."""
        spec = self.host.index.get(function_name)
        if spec is None:
            raise KeyError(f"no function named {function_name!r}")
        return self.run(self.host.invoke_from_admin(spec, input))


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


try:  # the pytest plugin, registered through the `pytest11` entry point
    import pytest

    function_host = pytest.fixture(name="function_host")(_function_host_factory)
except ImportError:  # pragma: no cover - pytest is only needed to use the fixture
    pass
