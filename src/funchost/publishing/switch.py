"""Switching a running `funchost serve` to the version just made current.

One process (`ProcessSwitch`): it stops accepting (new connections wait in the listening
socket's backlog), closes its idle keep-alive connections, answers the publish request, lets
in-flight requests finish (the server's drain), and re-executes itself with the same command
line: same PID, the listening socket and the storage endpoint's sockets inherited, so the new
program serves the current version on them (funchost.config reads the pointer at startup).
Python cannot unload an app's modules, so a fresh program is the only clean way to load new
code; re-executing keeps the process's identity for whoever supervises it (systemd, a
container's init).

A worker of `serve --workers N` (`WorkerSwitch`) asks its pool instead (funchost.dispatch
`SWITCH`): the pool starts N new workers on the current version and, once they all serve,
hands connections to them only, acknowledges, and drains the old ones (funchost.supervisor).
The pool itself never loads app code, so it needs no restart.

Either way, once the publish call has returned, no process that serves the old version takes
another connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from funchost.config import LISTEN_FD_ENV, HostConfig
from funchost.dispatch import CLOSED_AFTER, SETTLE_FOR, HandedConnections
from funchost.http.server import HttpServer, SocketListener
from funchost.publishing.receiver import Publisher, Refused

if TYPE_CHECKING:
    from funchost.endpoint.embedded import EmbeddedEndpoint

# How long a worker waits for its pool's new workers to be ready.
WORKERS_TIMEOUT = 120.0


class _PausableListener:
    """The server's own listening socket, which a switch stops before the server does."""

    def __init__(self, sock: socket.socket) -> None:
        self.inner = SocketListener(sock)
        self.stopped = False

    async def start(
        self, new_connection: Callable[[], asyncio.Protocol], stop_server: Callable[[bool], None]
    ) -> None:
        await self.inner.start(new_connection, stop_server)

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.inner.stop()


class ProcessSwitch:
    """The switch of a single `serve` process: drain, then re-execute on the same sockets."""

    def __init__(
        self,
        server: HttpServer,
        sock: socket.socket,
        endpoint: EmbeddedEndpoint | None,
        launch_dir: str | None,
    ) -> None:
        self.server = server
        self.listener = _PausableListener(sock)
        self.launch_dir = launch_dir
        # Copies that outlive the server closing its own: the next program listens on them.
        self.listen_fd = _inheritable_copy(sock.fileno())
        self.inherited: dict[str, str] = {}
        if endpoint is not None:
            from funchost.endpoint.embedded import FDS_ENV

            env, fds = endpoint.sockets.environment()
            copies = [_inheritable_copy(fd) for fd in fds]
            self.inherited = {**env, FDS_ENV: f"{copies[0]},{copies[1]}"}
        self.asked = False

    def publisher(self, config: HostConfig) -> Publisher:
        return Publisher(config, self.switch)

    async def switch(self) -> None:
        await self.listener.stop()
        retire(self.server)
        await asyncio.sleep(CLOSED_AFTER)  # the loop closes sockets after this turn
        # Connections accepted a moment ago are the old version's to serve: give them the
        # time to send their request before the drain, which closes idle connections.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_FOR
        state = self.server.state
        while loop.time() < deadline and any(
            c.is_idle() and not c.bytes_written for c in state.connections
        ):
            await asyncio.sleep(0.01)
        self.asked = True
        self.server.stop()

    def restart_if_asked(self, code: int) -> None:
        """Re-execute this program when a switch stopped the server (never returns then);
        not when a signal asked the process to end meanwhile."""
        if not self.asked or code != 0 or self.server.signalled:
            return
        os.environ[LISTEN_FD_ENV] = str(self.listen_fd)
        os.environ.update(self.inherited)
        if self.launch_dir is not None:
            os.chdir(self.launch_dir)  # the command line's relative paths mean the same
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


class WorkerSwitch:
    """The switch of a worker of `serve --workers N`: its pool replaces every worker."""

    def __init__(self, server: HttpServer, link: HandedConnections) -> None:
        self.server = server
        self.link = link
        link.on_retire = lambda: retire(server)

    def publisher(self, config: HostConfig) -> Publisher:
        return Publisher(config, self.switch)

    async def switch(self) -> None:
        if not await self.link.switch(WORKERS_TIMEOUT):
            raise Refused(
                503,
                f"the version is current, but new workers did not start within "
                f"{WORKERS_TIMEOUT:g} s; the host's log says why",
            )


def retire(server: HttpServer) -> None:
    """Take no more requests on kept-alive connections: requests that arrive on them from now
    on would be the old version's. Idle ones that have served a request are closed now (a
    client reopens a kept-alive connection that the server closed), the others after their
    response; connections that have not sent their first request yet are still served."""
    state = server.state
    state.shutting_down = True
    for connection in list(state.connections):
        if connection.is_idle() and connection.bytes_written:
            connection.close()


def _inheritable_copy(fd: int) -> int:
    copy = os.dup(fd)
    os.set_inheritable(copy, True)
    return copy
