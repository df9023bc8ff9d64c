"""`Host`: one loaded function app with everything it runs on, and its lifecycle.

The HTTP front end (`funchost.http.app`), the CLI and the test host all build on this class;
non-HTTP listeners are started and stopped by it, from the ASGI lifespan.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import azure.functions as func

from funchost import __version__
from funchost.bindings.kinds import kind_for
from funchost.bindings.runtime import BindingRuntime, FunctionBindings, Listener
from funchost.bindings.triggers import admin_event
from funchost.clock import REAL_TIME, Clock
from funchost.config import DEVELOPMENT, HostConfig
from funchost.durable.setup import open_task_hub
from funchost.endpoint.embedded import EmbeddedEndpoint, EndpointSockets
from funchost.errors import ConfigError
from funchost.indexing.index import AppIndex, index_app
from funchost.indexing.spec import FunctionSpec, RetrySpec
from funchost.invocation import extensions
from funchost.invocation.invoker import InvocationResult, Invoker, TriggerEvent
from funchost.keys import KeyStore, default_secrets_dir
from funchost.storage.accounts import StorageAccounts

logger = logging.getLogger("funchost.host")

HOST_VERSION = f"4.0.0-funchost.{__version__}"


class Host:
    def __init__(
        self,
        config: HostConfig,
        index: AppIndex | None = None,
        *,
        log_line: Callable[..., None] | None = None,
        serve_storage: bool = False,
        clock: Clock = REAL_TIME,
    ) -> None:
        self.config = config
        # What timers, retry delays and the embedded store's queues go by (funchost.clock).
        self.clock = clock
        # With `serve_storage`, the embedded store is served as Azure Storage (when the app
        # uses it), published in FUNCHOST_STORAGE before the app's code is imported.
        sockets = (
            EndpointSockets.for_host(
                config.settings, config.connection_strings, config.mode == DEVELOPMENT
            )
            if serve_storage
            else None
        )
        self.index = index if index is not None else index_app(config)
        # This process; `host_id` is the app's, shared by all its instances and restarts.
        self.id = uuid.uuid4().hex[:32]
        self.accounts = StorageAccounts.for_config(config, clock)
        self.storage_endpoint = (
            EmbeddedEndpoint(sockets, self.accounts.embedded) if sockets is not None else None
        )
        self.runtime = BindingRuntime(
            self.accounts, config.settings, config.host_options, config.host_id, self.id, clock
        )
        self.runtime.invoke = self.invoke
        self.io: dict[str, FunctionBindings] = {}
        for spec in self.index.enabled:
            io = FunctionBindings(self.runtime, spec)
            if io.active:
                self.io[spec.name] = io
        self.listeners: list[Listener] = []
        self.invoker = Invoker(
            thread_count=config.def_threads,
            function_timeout=config.host_options.function_timeout,
            extensions_enabled=config.worker_extensions_enabled,
            log_line=log_line,
            clock=clock,
        )
        self.keys: KeyStore | None = None
        if config.enable_auth:
            self.keys = KeyStore(config.secrets_dir or default_secrets_dir(config.app_dir))
            self.keys.ensure(f.name for f in self.index.functions)
        self.durable = open_task_hub(config, list(self.index.enabled), self.keys, self.invoke)
        self.runtime.durable = self.durable
        if config.worker_extensions_enabled:
            for spec in self.index.enabled:
                extensions.run_load_hooks(spec.name, spec.directory)
        # Whether `/admin/warmup` has been called: it runs the warmup function once a process.
        self.warmup_claimed = False
        self.state = "Initialized"
        self.started_at = time.monotonic()
        self._background: set[asyncio.Task[Any]] = set()
        self._asgi_middlewares: list[Any] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.invoker.bind(asyncio.get_running_loop())
        if self.storage_endpoint is not None:
            self.storage_endpoint.start()
        for middleware in self._find_asgi_middlewares():
            if await middleware.notify_startup():
                self._asgi_middlewares.append(middleware)
            else:
                logger.error("The ASGI app's lifespan startup failed; its routes still answer.")
        app = self.index.function_app
        if isinstance(app, func.AsgiFunctionApp):
            app.startup_task_done = True
        self._open_development_account()
        for spec in self.index.enabled:
            kind = kind_for(spec.trigger.type)
            listener = kind.listener(self.runtime, spec) if kind is not None else None
            if listener is not None:
                await listener.start()
                self.listeners.append(listener)
        if self.durable is not None:
            await self.durable.hub.worker.start()
            self.listeners.append(self.durable.hub.worker)
        self.state = "Running"

    async def stop(self, drain_seconds: float = 30.0) -> None:
        self.state = "Stopping"
        if self.listeners:
            # Stop fetching, then let what was fetched finish.
            await asyncio.wait(
                [asyncio.ensure_future(listener.stop()) for listener in self.listeners],
                timeout=drain_seconds,
            )
            self.listeners.clear()
        if self._background:
            await asyncio.wait(set(self._background), timeout=drain_seconds)
        for middleware in reversed(self._asgi_middlewares):
            try:
                await middleware.notify_shutdown()
            except Exception:
                logger.exception("The ASGI app's lifespan shutdown failed.")
        self._asgi_middlewares.clear()
        app = self.index.function_app
        if isinstance(app, func.AsgiFunctionApp):
            # Keeps the library's __del__ from starting a second shutdown.
            app.startup_task_done = False
        await self.invoker.shutdown()
        if self.storage_endpoint is not None:
            await self.storage_endpoint.stop()
        await self.accounts.close()
        if self.durable is not None:
            self.durable.hub.store.close()
        self.state = "Stopped"

    def _open_development_account(self) -> None:
        """Open the development account (`UseDevelopmentStorage=true`) in the background now,
        starting funchost's endpoint for it if nothing answers, rather than when a binding
        first uses it: the app's own SDK clients (an HTTP function's, an output-only app's)
        find the account served from the start."""
        if self.accounts.development_dir is None:
            return
        names: set[str | None] = {None}
        for spec in self.index.enabled:
            for binding in spec.bindings:
                kind = kind_for(binding.type)
                if kind is not None and kind.uses_storage:
                    names.add(binding.get("connection"))
        for name in names:
            try:
                connection = self.accounts.connection(name)
            except ConfigError:
                continue  # the function is reported as failed with the reason
            if connection is not None and connection.development_host is not None:
                task = asyncio.get_running_loop().create_task(self._open_quietly(name))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _open_quietly(self, name: str | None) -> None:
        try:
            await self.accounts.get(name)
        except Exception as exc:  # the bindings that use it report it
            logger.debug("The development account did not open at start: %s", exc)

    def _find_asgi_middlewares(self) -> list[Any]:
        """The ASGI apps whose lifespan the host runs: AsgiFunctionApp's, and v1 module-level
        `func.AsgiMiddleware` objects."""
        found: dict[int, Any] = {}
        app = self.index.function_app
        if isinstance(app, func.AsgiFunctionApp):
            found[id(app.middleware)] = app.middleware
        for spec in self.index.enabled:
            module = getattr(spec.callable, "__globals__", {})
            for value in list(module.values()):
                if isinstance(value, func.AsgiMiddleware):
                    found.setdefault(id(value), value)
            bound = getattr(spec.callable, "__self__", None)
            if isinstance(bound, func.AsgiMiddleware):
                found.setdefault(id(bound), bound)
        return list(found.values())

    # -- running functions -------------------------------------------------------------------

    def retry_policy(self, spec: FunctionSpec) -> RetrySpec | None:
        """The retry policy `spec` runs under: its own, else host.json's (for any trigger, HTTP
        included, as the WebJobs SDK retries every invocation by its function's policy)."""
        return spec.retry or self.config.host_options.retry

    async def invoke(self, spec: FunctionSpec, event: TriggerEvent) -> InvocationResult:
        """Run `spec` with its input and output bindings, under its retry policy."""
        retry = self.retry_policy(spec)
        return await self.invoker.invoke(spec, event, retry=retry, io=self.io.get(spec.name))

    async def invoke_from_admin(self, spec: FunctionSpec, value: str) -> InvocationResult:
        """Run `spec` as `POST /admin/functions/{name}` with `{"input": value}` does."""
        return await self.invoke(spec, await admin_event(self.runtime, spec, value))

    def invoke_in_background(self, spec: FunctionSpec, value: str) -> None:
        task = asyncio.get_running_loop().create_task(self.invoke_from_admin(spec, value))
        task.add_done_callback(_log_failure(spec))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def status(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "version": HOST_VERSION,
            "versionDetails": f"funchost {__version__}",
            "platformVersion": "",
            "instanceId": self.id,
            "computerName": "",
            "processUptime": int((time.monotonic() - self.started_at) * 1000),
            "functionAppContentEditingState": "NotAllowed",
            "errors": [f"{f.name}: {f.reason}" for f in self.index.failed] or None,
        }


def _log_failure(spec: FunctionSpec) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error("Invoking '%s' failed: %s", spec.name, task.exception())

    return done
