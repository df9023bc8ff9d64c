"""`StorageApp`: one storage service (Blob or Queue) of the embedded store, as an ASGI app.

Each request is parsed once into a `Call`: which operation it is (funchost.endpoint.operations),
whether its credentials allow it (funchost.endpoint.auth), then the service's handler for that
operation. Every answer carries Azure's `x-ms-request-id` and `x-ms-version` (the request's own
version, whatever it is: no version is refused), and every failure Azure's status, error code
(`x-ms-error-code`) and XML body. An unexpected exception is logged and answered as Azure's
`InternalError`, and the endpoint keeps serving.

It runs on funchost's HTTP server (with the public port's limits and timeouts) with header
names kept as sent, since Azure keeps the case of metadata names.
"""

from __future__ import annotations

import functools
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from funchost import __version__
from funchost.endpoint import errors
from funchost.endpoint.auth import Account, Service, SignedRequest, authorize, query_pairs
from funchost.endpoint.errors import StorageFailure
from funchost.endpoint.operations import (
    Operation,
    Target,
    blob_operation,
    blob_target,
    not_supported,
    queue_operation,
    queue_target,
)
from funchost.http.exchange import BodyIncomplete, BodyTooLarge, read_body
from funchost.storage.base import StorageError
from funchost.storage.sqlite import SqliteStorage

logger = logging.getLogger("funchost.storage.endpoint")

SERVER = f"funchost/{__version__}".encode()
# The version answered to a request that names none.
DEFAULT_VERSION = "2026-04-06"
META_PREFIX = "x-ms-meta-"
WRITES = frozenset({"PUT", "POST", "DELETE"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content_type: str | None = None
    # A body too large to hold: its parts, and its length (the Content-Length sent).
    stream: AsyncIterator[bytes] | None = None
    length: int = 0


@dataclass
class Call:
    """One request to the endpoint, parsed."""

    operation: Operation
    target: Target
    query: dict[str, str]  # the first value of each parameter, decoded
    headers: dict[str, str]  # lower-case names
    raw_headers: list[tuple[str, str]]  # names as sent
    store: SqliteStorage
    account: Account
    base_url: str  # this service's account URL: http://127.0.0.1:10001/devstoreaccount1
    receive: Receive

    async def body(self, limit: int, reported: int | None = None) -> bytes:
        """The whole request body; Azure's RequestBodyTooLarge past `limit` bytes, naming
        `reported` (the operation's own limit, when the body may wrap it in markup)."""
        try:
            return await read_body(self.receive, self.headers, limit)
        except BodyTooLarge:
            raise errors.body_too_large(reported or limit) from None

    async def stream(self) -> AsyncIterator[bytes]:
        """The request body as it arrives (the server pauses reading while it is not taken);
        `BodyIncomplete` if the client leaves before its end."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise BodyIncomplete
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    def metadata(self) -> dict[str, str]:
        """The `x-ms-meta-*` headers, names in the case they were sent."""
        return {
            name[len(META_PREFIX) :]: value
            for name, value in self.raw_headers
            if name.lower().startswith(META_PREFIX)
        }


Handler = Callable[[Call], Awaitable[Reply]]


class StorageApp:
    """The ASGI app of one service of one account on one store."""

    def __init__(
        self,
        service: Service,
        store: SqliteStorage,
        account: Account,
        handlers: Mapping[str, Handler],
    ) -> None:
        self.service = service
        self.store = store
        self.account = account
        self.handlers = handlers
        # Every answer names the store's file, so an app on this machine can use it directly
        # (funchost.endpoint.development).
        self.store_path = str(store.path.resolve()).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        request_id = _request_ids.next()
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]]
        lowered: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
        try:
            try:
                reply = await self._handle(scope, receive, headers, lowered)
            except StorageError as error:
                raise errors.from_store(error) from None
        except BodyIncomplete:
            return  # the client left, or sent a broken body (the server has answered)
        except StorageFailure as failure:
            reply = _failure_reply(failure, request_id)
        except Exception:
            logger.exception("The storage endpoint failed on %s %s", scope["method"], scope["path"])
            reply = _failure_reply(
                StorageFailure(
                    500,
                    "InternalError",
                    "Server encountered an internal error. Please try again after some time.",
                ),
                request_id,
            )
        if reply.status < 300 and scope["method"] in WRITES:
            self.store.changed()  # this process's own listeners (the embedded endpoint)
        out = [
            (b"server", SERVER),
            (b"x-funchost-store", self.store_path),
            (b"x-ms-request-id", request_id.encode()),
            (b"x-ms-version", lowered.get("x-ms-version", DEFAULT_VERSION).encode("latin-1")),
        ]
        client_id = lowered.get("x-ms-client-request-id")
        if client_id is not None:
            out.append((b"x-ms-client-request-id", client_id.encode("latin-1")))
        if reply.content_type is not None:
            out.append((b"content-type", reply.content_type.encode("latin-1")))
        out += [(n.encode("latin-1"), v.encode("latin-1")) for n, v in reply.headers]
        stream = reply.stream
        length = reply.length if stream is not None else len(reply.body)
        out.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": out})
        if stream is None or scope["method"] == "HEAD":
            await send({"type": "http.response.body", "body": reply.body})
            return
        try:
            async for part in stream:
                await send({"type": "http.response.body", "body": part, "more_body": True})
        except Exception:
            # The head is out: the connection can only be cut, so the client sees a short body.
            logger.exception("The storage endpoint failed sending %s", scope["path"])
            raise
        await send({"type": "http.response.body", "body": b""})

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        raw_headers: list[tuple[str, str]],
        headers: dict[str, str],
    ) -> Reply:
        raw_path = scope["raw_path"].decode("latin-1")
        pairs = query_pairs(scope["query_string"].decode("latin-1"))
        query: dict[str, str] = {}
        for name, value in pairs:
            query.setdefault(name, value)
        method = scope["method"]
        if self.service == "q":
            target = queue_target(raw_path)
            operation = queue_operation(method, target, query)
        else:
            target = blob_target(raw_path)
            operation = blob_operation(method, target, query, headers)
        if target.account != self.account.name:
            raise StorageFailure(404, "ResourceNotFound", "The specified resource does not exist.")
        if not operation.supported:
            raise not_supported(operation)
        client = scope.get("client")
        signed = SignedRequest(
            method=method,
            raw_path=raw_path,
            query=pairs,
            headers=headers,
            scheme=scope.get("scheme", "http"),
            client_ip=client[0] if client else None,
            container=target.container,
            blob=target.blob,
        )
        authorize(signed, operation.access, self.account, datetime.now(UTC))
        handler = self.handlers.get(operation.name)
        if handler is None:
            raise not_supported(operation)
        server = scope.get("server") or ("127.0.0.1", 0)
        call = Call(
            operation=operation,
            target=target,
            query=query,
            headers=headers,
            raw_headers=raw_headers,
            store=self.store,
            account=self.account,
            base_url=f"http://{headers.get('host') or f'{server[0]}:{server[1]}'}/{target.account}",
            receive=receive,
        )
        return await handler(call)


def _failure_reply(failure: StorageFailure, request_id: str) -> Reply:
    if failure.status == 304:  # Not Modified has no body
        return Reply(304, [("x-ms-error-code", failure.code)])
    return Reply(
        failure.status,
        [("x-ms-error-code", failure.code)],
        failure.body(request_id, datetime.now(UTC)),
        "application/xml",
    )


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def http_date(moment: datetime) -> str:
    """RFC 1123, as Azure writes times in headers and queue XML."""
    return _http_date_at(int(moment.timestamp()))


@functools.lru_cache(maxsize=512)
def _http_date_at(second: int) -> str:
    # A reply names a few times, mostly the current second: each is formatted once.
    return datetime.fromtimestamp(second, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


class _RequestIds:
    """Request ids as Azure writes them (a UUID's form), unique in this process: a random
    prefix drawn at start and a counter, instead of 16 random bytes asked of the kernel per
    request."""

    def __init__(self) -> None:
        self.prefix = str(uuid.uuid4())[:24]
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter) & 0xFFFFFFFFFFFF:012x}"


_request_ids = _RequestIds()


__all__ = ["Call", "Handler", "Reply", "StorageApp", "errors", "http_date"]
