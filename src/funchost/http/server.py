"""funchost's HTTP server: serves an ASGI application on httptools and uvloop.

It owns the listening socket, the app's lifespan, a once-a-second sweeper (the Date header,
and each connection's time limits: idle keep-alive, slow heads, slow request bodies, clients
that do not read their responses) and graceful shutdown: stop
accepting, close idle connections, let in-flight requests finish (up to a grace period), then
run the lifespan shutdown.

A general ASGI server (uvicorn) spends about as much CPU per request as a small function does;
this one does only what the host needs (HTTP/1.1, no websockets), which roughly halves the
cost of the server's share of a request. The host stays a plain ASGI app that any server runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import signal
import socket
from collections.abc import Callable
from typing import Protocol

from funchost.http.exchange import Respond
from funchost.http.limits import HttpLimits
from funchost.http.protocol import ASGI_INFO, AsgiApp, HttpProtocol, Message, ServerState

logger = logging.getLogger("funchost.http")

# How often connections are held to their time limits (`HttpProtocol.sweep`), at most.
SWEEP_INTERVAL = 1.0


def _sweep_interval(limits: HttpLimits) -> float:
    """Once a second, or often enough for the shortest time limit to be kept within a quarter
    of itself (short limits are for tests)."""
    shortest = min(
        limits.request_headers_timeout,
        limits.keep_alive_timeout,
        limits.min_request_body_data_rate_grace_period,
        limits.min_response_data_rate_grace_period,
    )
    return min(SWEEP_INTERVAL, shortest / 4)


# Seconds after a first SIGINT/SIGTERM in which another one still means the same graceful stop.
SIGNAL_MERGE = 0.5


class LifespanFailed(Exception):
    pass


class Lifespan:
    """The ASGI lifespan protocol, from the server's side."""

    def __init__(self, app: AsgiApp) -> None:
        self.app = app
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI_INFO, "state": {}}
        try:
            await self.app(scope, self.inbox.get, self.outbox.put)
        finally:
            await self.outbox.put({"type": "lifespan.ended"})

    async def _exchange(self, message: str) -> None:
        await self.inbox.put({"type": message})
        reply = await self.outbox.get()
        if reply["type"].endswith(".failed"):
            raise LifespanFailed(reply.get("message") or message)
        if reply["type"] == "lifespan.ended":
            if self.task is not None and self.task.done() and self.task.exception():
                raise LifespanFailed(str(self.task.exception()))
            raise LifespanFailed(f"the application ended its lifespan before {message}")

    async def startup(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())
        await self._exchange("lifespan.startup")

    async def shutdown(self) -> None:
        if self.task is None or self.task.done():
            return
        await self._exchange("lifespan.shutdown")
        await self.task


class Listener(Protocol):
    """Where the server's connections come from: its listening socket (`SocketListener`), or
    a supervisor that accepts them and hands them over (funchost.dispatch)."""

    async def start(
        self, new_connection: Callable[[], asyncio.Protocol], stop_server: Callable[[bool], None]
    ) -> None:
        """Make connections with `new_connection`; `stop_server(at_once)` to stop the server."""

    async def stop(self) -> None:
        """Make no more connections (once, before the server drains)."""


class SocketListener:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.server: asyncio.Server | None = None

    async def start(
        self, new_connection: Callable[[], asyncio.Protocol], stop_server: Callable[[bool], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(new_connection, sock=self.sock, backlog=2048)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


class HttpServer:
    def __init__(
        self,
        app: AsgiApp,
        *,
        respond: Respond | None = None,
        graceful_timeout: float = 30.0,
        limits: HttpLimits | None = None,
        on_started: Callable[[], None] | None = None,
        header_case: bool = False,
    ) -> None:
        self.app = app
        # The host application's own entry point, which skips ASGI (funchost.http.exchange);
        # the lifespan still goes through `app`.
        self.respond = respond
        self.graceful_timeout = graceful_timeout
        self.state = ServerState(limits, header_case)
        self.sweep_interval = _sweep_interval(self.state.limits)
        self.on_started = on_started
        self.started = False
        self._stop: asyncio.Event | None = None
        self._forced = False
        self.signalled = False  # SIGINT/SIGTERM received: the process is to end
        self._listener: Listener | None = None
        self._sweeper: asyncio.Task[None] | None = None

    def run(self, sock: socket.socket | Listener) -> int:
        """Serve on `sock` until SIGINT/SIGTERM; 0 after a clean stop, 1 if startup failed."""
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            loop = runner.get_loop()
            main = loop.create_task(self.serve(sock))
            while True:
                try:
                    return loop.run_until_complete(main)
                except (SystemExit, KeyboardInterrupt) as exc:
                    if main.done():
                        raise
                    # asyncio stops the loop when any task raises these, so one raised in a
                    # task that a function started (a Starlette StreamingResponse or
                    # middleware runs the app in one) would end the host; whoever awaits that
                    # task gets the exception too, and its invocation fails.
                    logger.error(
                        "%s raised in a task started by a function; the host keeps running",
                        type(exc).__name__,
                        exc_info=exc,
                    )

    async def serve(self, sock: socket.socket | Listener) -> int:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._install_signal_handlers(loop)
        lifespan = Lifespan(self.app)
        try:
            await lifespan.startup()
        except LifespanFailed as exc:
            logger.error("The host failed to start: %s", exc)
            return 1
        await self.open(sock)
        if self.on_started is not None:
            self.on_started()
        try:
            await self._stop.wait()
        finally:
            await self.close()
            await lifespan.shutdown()
        return 0

    async def open(self, sock: socket.socket | Listener) -> None:
        """Take connections on `sock` in the running loop. `serve` adds the lifespan and the
        signals; a second server of a process (funchost.endpoint.embedded) uses this alone."""
        loop = asyncio.get_running_loop()
        self._update_date()
        self._listener = SocketListener(sock) if isinstance(sock, socket.socket) else sock
        await self._listener.start(
            lambda: HttpProtocol(self.app, self.state, loop, self.respond), self.stop
        )
        self.started = True
        self._sweeper = loop.create_task(self._sweep())

    async def close(self) -> None:
        """Take no more connections, and drain those open (after `open`)."""
        if self._listener is not None:
            await self._listener.stop()
        await self._drain()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    def stop(self, at_once: bool = False) -> None:
        """Stop: drain in-flight requests first, or with `at_once`, cut them off."""
        if at_once:
            self._forced = True
        if self._stop is not None:
            self._stop.set()

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        first: list[float] = []

        def on_signal() -> None:
            # A second signal stops waiting for in-flight requests; a stop for another reason
            # (funchost.dispatch) before the first signal does not count as one. Signals
            # within SIGNAL_MERGE seconds of the first are the same stop: a terminal's Ctrl-C
            # reaches every process of its group, and `funchost start`'s reloader then sends
            # its own SIGTERM.
            now = loop.time()
            self.signalled = True
            if not first:
                first.append(now)
            self.stop(at_once=now - first[0] > SIGNAL_MERGE)

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, on_signal)

    async def _drain(self) -> None:
        """Close connections as they become idle, for up to the grace period."""
        self.state.shutting_down = True
        connections = self.state.connections
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.graceful_timeout
        while True:
            for conn in list(connections):
                if conn.is_idle():
                    conn.close()
            if not connections or self._forced:
                break
            if loop.time() >= deadline:
                logger.warning(
                    "%d connection(s) still busy after %g s; closing them.",
                    len(connections),
                    self.graceful_timeout,
                )
                break
            await asyncio.sleep(0.05)
        for conn in list(connections):
            conn.close()

    def _update_date(self) -> None:
        self.state.date_header = b"date: %s\r\n" % email.utils.formatdate(usegmt=True).encode()

    async def _sweep(self) -> None:
        state = self.state
        while True:
            self._update_date()
            interval = self.sweep_interval
            for conn in list(state.connections):
                conn.sweep(interval)
            await asyncio.sleep(interval)
