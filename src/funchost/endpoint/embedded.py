"""The app's embedded store served as Azure Storage, on free loopback ports of its own.

When `AzureWebJobsStorage` is empty or absent, the host serves its embedded store's Blob and
Queue services on two free ports of 127.0.0.1, and puts a connection string naming them in the
`FUNCHOST_STORAGE` environment variable of the processes it runs: an app's own SDK clients
(`BlobServiceClient.from_connection_string(os.environ["FUNCHOST_STORAGE"])`), storage tools
and funchost's bindings (`connection="FUNCHOST_STORAGE"`) all reach the same store. The app's
own settings are never rewritten.

The ports are bound by the process that starts the host's processes (`funchost start`'s
reloader, `serve --workers N`'s supervisor) and inherited by every process it runs, so they stay
the same across reloads and one port serves every worker. Binding costs nothing at start:
nothing of the endpoint is imported, and the store is not opened, until a first client
connects.

Under `funchost start` the account is the development account (its published key); under
`serve`, a key made at random for each start, which only the connection string carries.
`FUNCHOST_STORAGE_ENDPOINT=false` turns the endpoint off.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from funchost.errors import ConfigError
from funchost.storage.accounts import EMBEDDED_SETTING
from funchost.storage.connections import DEV_ACCOUNT, DEV_KEY, resolve_connection

if TYPE_CHECKING:
    from funchost.http.server import HttpServer
    from funchost.storage.sqlite import SqliteStorage

logger = logging.getLogger("funchost.storage.endpoint")

# The connection setting funchost defines for the endpoint, and the switch that turns it off.
SETTING = EMBEDDED_SETTING
SWITCH = "FUNCHOST_STORAGE_ENDPOINT"
# The listening sockets a parent process passes down: "<blob fd>,<queue fd>".
FDS_ENV = "FUNCHOST_STORAGE_FDS"
HOST = "127.0.0.1"
# How long a stopping host waits for the endpoint's clients to finish their requests.
GRACE = 5.0


def wanted(settings: Mapping[str, str], connection_strings: Mapping[str, str]) -> bool:
    """Whether the host serves its embedded store: `AzureWebJobsStorage` names it, and the
    endpoint is not turned off."""
    if (settings.get(SWITCH) or "").strip().lower() in {"0", "false", "no", "off"}:
        return False
    try:
        return resolve_connection(None, settings, connection_strings) is None
    except ConfigError:
        return False  # the failure is reported where the setting is used


@dataclass
class EndpointSockets:
    """The endpoint's two listening sockets and the connection string that names them."""

    blob: socket.socket
    queue: socket.socket
    connection_string: str

    @classmethod
    def bind(cls, development: bool) -> EndpointSockets:
        """Two free loopback ports, and a connection string for them: with the development
        account's published key under `start` (`development`), else with a new random key."""
        blob, queue = _listen(), _listen()
        key = DEV_KEY if development else base64.b64encode(secrets.token_bytes(64)).decode()
        return cls(blob, queue, _connection_string(blob, queue, key))

    @classmethod
    def inherited(cls) -> EndpointSockets | None:
        """The sockets a parent process passed down (and forget them for this one's children),
        with the connection string it put in `FUNCHOST_STORAGE`."""
        fds = os.environ.pop(FDS_ENV, None)
        value = os.environ.get(SETTING)
        if not fds or not value:
            return None
        blob_fd, _, queue_fd = fds.partition(",")
        blob = socket.socket(fileno=int(blob_fd))
        queue = socket.socket(fileno=int(queue_fd))
        return cls(blob, queue, value)

    @classmethod
    def for_host(
        cls, settings: Mapping[str, str], connection_strings: Mapping[str, str], development: bool
    ) -> EndpointSockets | None:
        """This process's endpoint sockets (inherited, or bound now), published in
        `FUNCHOST_STORAGE`; None when the host does not serve its store."""
        inherited = cls.inherited()
        if not wanted(settings, connection_strings):
            if inherited is not None:
                inherited.close()
            return None
        sockets = inherited or cls.bind(development)
        os.environ[SETTING] = sockets.connection_string
        return sockets

    @property
    def key(self) -> str:
        return _key_of(self.connection_string)

    @property
    def blob_url(self) -> str:
        return _url(self.blob)

    @property
    def queue_url(self) -> str:
        return _url(self.queue)

    def environment(self) -> tuple[dict[str, str], list[int]]:
        """The environment and descriptors with which a child process inherits the sockets."""
        fds = [self.blob.fileno(), self.queue.fileno()]
        return {FDS_ENV: f"{fds[0]},{fds[1]}", SETTING: self.connection_string}, fds

    def describe(self) -> str:
        """The banner's line (never the key)."""
        return (
            f"storage endpoint of the embedded store: blobs {self.blob_url}, queues "
            f"{self.queue_url} (connection string in {SETTING})"
        )

    def close(self) -> None:
        self.blob.close()
        self.queue.close()


class EmbeddedEndpoint:
    """Serves the embedded store on `sockets` in the host's event loop, from the first
    connection on."""

    def __init__(
        self, sockets: EndpointSockets, open_store: Callable[[], Awaitable[SqliteStorage]]
    ) -> None:
        self.sockets = sockets
        self.open_store = open_store
        self.server: HttpServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Wait, in the running loop, for a first client."""
        self._loop = asyncio.get_running_loop()
        for sock in (self.sockets.blob, self.sockets.queue):
            sock.setblocking(False)
            self._loop.add_reader(sock.fileno(), self._first_client)

    def _first_client(self) -> None:
        self._stop_waiting()
        if self._opening is None and self._loop is not None:
            self._opening = self._loop.create_task(self._open())

    def _stop_waiting(self) -> None:
        if self._loop is not None:
            for sock in (self.sockets.blob, self.sockets.queue):
                with contextlib.suppress(OSError, ValueError):
                    self._loop.remove_reader(sock.fileno())

    async def _open(self) -> None:
        from funchost.endpoint import blobs, queues
        from funchost.endpoint.app import StorageApp
        from funchost.endpoint.auth import Account
        from funchost.endpoint.serve import ServiceRouter, SocketsListener
        from funchost.http.server import HttpServer

        try:
            store = await self.open_store()
        except Exception as exc:
            logger.error("The storage endpoint cannot open the embedded store: %s", exc)
            self.sockets.close()
            return
        account = Account.from_base64(DEV_ACCOUNT, self.sockets.key)
        blob, queue = self.sockets.blob, self.sockets.queue
        router = ServiceRouter(
            {
                blob.getsockname()[1]: StorageApp("b", store, account, blobs.HANDLERS),
                queue.getsockname()[1]: StorageApp("q", store, account, queues.HANDLERS),
            }
        )
        self.server = HttpServer(router, graceful_timeout=GRACE, header_case=True)
        await self.server.open(SocketsListener([blob, queue]))

    async def stop(self) -> None:
        """Take no more clients, let those in a request finish (for up to 5 s), and close the
        sockets."""
        self._stop_waiting()
        if self._opening is not None:
            await self._opening
        if self.server is not None:
            await self.server.close()
        self.sockets.close()


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    address, port = sock.getsockname()[:2]
    return f"http://{address}:{port}/{DEV_ACCOUNT}"


def _connection_string(blob: socket.socket, queue: socket.socket, key: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={key};"
        f"BlobEndpoint={_url(blob)};QueueEndpoint={_url(queue)};"
    )


def _key_of(connection_string: str) -> str:
    parts = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    return parts.get("AccountKey") or DEV_KEY
