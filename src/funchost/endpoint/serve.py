"""Serving the storage endpoint: each service on its own loopback port, one HTTP server.

`EndpointServer` listens on one socket per service and hands each connection to that service's
app (`ServiceRouter` picks it by the port the request came in on), all on one funchost HTTP
server with the public port's limits and timeouts, header names kept as sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from funchost.endpoint import blobs, development, queues
from funchost.endpoint.app import Receive, Scope, Send, StorageApp
from funchost.endpoint.auth import DEVELOPMENT_ACCOUNT, Account
from funchost.errors import ConfigError
from funchost.http.server import HttpServer
from funchost.storage.sqlite import SqliteStorage

TABLE_JSON = b"application/json;odata=minimalmetadata;streaming=true;charset=utf-8"


class TableRefusal:
    """The Table service's port: every request gets a clear 501 in the Table service's own
    (JSON) error format, so a Table client raises a readable error instead of failing to
    connect or hanging."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        message = (
            "funchost's storage endpoint does not serve the Table service: use Azurite or an "
            f"Azure Storage account for tables.\nRequestId:{request_id}\nTime:{stamp}"
        )
        error = {
            "odata.error": {
                "code": "NotImplemented",
                "message": {"lang": "en-US", "value": message},
            }
        }
        body = json.dumps(error).encode()
        headers = [
            (
                b"content-type",
                b"application/json;odata=minimalmetadata;streaming=true;charset=utf-8",
            ),
            (b"x-ms-error-code", b"NotImplemented"),
            (b"x-ms-request-id", request_id.encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 501, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ServiceRouter:
    """An ASGI app that passes each request to the app of the port it came in on."""

    def __init__(self, apps: Mapping[int, StorageApp | TableRefusal]) -> None:
        self.apps = apps
        self.last_request = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await next(iter(self.apps.values()))(scope, receive, send)
            return
        self.last_request = time.monotonic()
        server = scope.get("server")
        app = self.apps.get(server[1]) if server else None
        if app is None:
            app = next(iter(self.apps.values()))
        await app(scope, receive, send)


class SocketsListener:
    """funchost's server `Listener` over several listening sockets."""

    def __init__(self, socks: list[socket.socket]) -> None:
        self.socks = socks
        self.servers: list[asyncio.Server] = []

    async def start(
        self, new_connection: Callable[[], asyncio.Protocol], stop_server: Callable[[bool], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        for sock in self.socks:
            self.servers.append(await loop.create_server(new_connection, sock=sock, backlog=2048))

    async def stop(self) -> None:
        for server in self.servers:
            server.close()


class PortInUse(ConfigError):
    pass


def bind(host: str, port: int, service: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        # With SO_REUSEADDR, two endpoints starting at once may both bind: the second one's
        # listen() fails, and it is the same answer.
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise PortInUse(
            f"cannot serve the {service} endpoint on {host}:{port}: {exc.strerror}. Stop what "
            f"listens there (Azurite?) or choose another port with --{service.lower()}-port."
        ) from None
    sock.setblocking(False)
    return sock


def serve(
    location: Path,
    *,
    host: str = "127.0.0.1",
    blob_port: int = 10000,
    queue_port: int = 10001,
    table_port: int | None = 10002,
    account: Account = DEVELOPMENT_ACCOUNT,
    idle_exit: float | None = None,
    on_started: Callable[[], None] | None = None,
) -> int:
    """Serve the account's storage in `location` until SIGINT/SIGTERM, or with `idle_exit`
    until that many seconds pass without a request. The Table port, when free, answers that
    the Table service is not served. The process's id is in `<location>/endpoint.pid` while
    it serves."""
    blob_sock = bind(host, blob_port, "Blob")
    try:
        queue_sock = bind(host, queue_port, "Queue")
    except PortInUse:
        blob_sock.close()
        raise
    table_sock = None
    if table_port is not None:
        with contextlib.suppress(PortInUse):
            table_sock = bind(host, table_port, "Table")
    location.mkdir(parents=True, exist_ok=True)
    store = SqliteStorage(location / "storage.db", inline=True)
    announce = on_started

    def started() -> None:
        if announce is not None:
            announce()
        else:
            for service, sock in (("Blob", blob_sock), ("Queue", queue_sock)):
                address, port = sock.getsockname()[:2]
                print(f"{service:<6} http://{address}:{port}/{account.name}", flush=True)
            print(f"Data   {location}", flush=True)
        if idle_exit is not None:
            _stop_when_idle(asyncio.get_running_loop(), server, router, idle_exit, location)

    apps: dict[int, StorageApp | TableRefusal] = {
        blob_sock.getsockname()[1]: StorageApp("b", store, account, blobs.HANDLERS),
        queue_sock.getsockname()[1]: StorageApp("q", store, account, queues.HANDLERS),
    }
    socks = [blob_sock, queue_sock]
    if table_sock is not None:
        apps[table_sock.getsockname()[1]] = TableRefusal()
        socks.append(table_sock)
    router = ServiceRouter(apps)
    server = HttpServer(router, on_started=started, header_case=True)
    pid_file = location / "endpoint.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        return server.run(SocketsListener(socks))
    finally:
        if pid_file.read_text().strip() == str(os.getpid()):
            pid_file.unlink()
        asyncio.run(store.close())


def _stop_when_idle(
    loop: asyncio.AbstractEventLoop,
    server: HttpServer,
    router: ServiceRouter,
    idle: float,
    location: Path,
) -> None:
    """Stop `server` once `idle` seconds pass without a request and without an app using the
    account in `location` (`development.AccountUse`), and no connection is open."""
    last_use = time.monotonic()

    def check() -> None:
        nonlocal last_use
        now = time.monotonic()
        if development.in_use(location):
            last_use = now
        quiet = now - max(router.last_request, last_use)
        if quiet >= idle and not server.state.connections:
            server.stop()
            return
        loop.call_later(max(1.0, min(idle - quiet, idle / 4)), check)

    loop.call_later(idle, check)
