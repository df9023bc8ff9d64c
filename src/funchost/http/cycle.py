"""One request and its response on a connection of funchost's server (`http/protocol.py`).

A cycle is served in its own task: by the host application's `respond`, which takes the cycle
itself as its `Request` (funchost.http.exchange), or as an ASGI `http` scope by any other ASGI
application. The response head is written with the first body chunk, in one write; a large
body is written after its head rather than copied into one buffer with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from funchost.http.exchange import BodyBudget, Respond, Response, read_body

if TYPE_CHECKING:
    from funchost.http.protocol import HttpProtocol

logger = logging.getLogger("funchost.http")

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
AsgiApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

# Request body bytes buffered before reading from the socket pauses.
BODY_BUFFER_HIGH = 256 * 1024
# A response body at least this large is written after its head, not joined to it (a copy).
LARGE_BODY = 64 * 1024
ASGI_INFO = {"version": "3.0", "spec_version": "2.3"}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")


STATUS_LINES = {s.value: _status_line(s.value) for s in HTTPStatus}
METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")}


def refusal(status: int) -> bytes:
    """A whole response with no body that ends the connection."""
    return STATUS_LINES[status] + b"content-length: 0\r\nconnection: close\r\n\r\n"


class RequestCycle:
    """One request and its response.

    An ASGI application sees it through `receive` and `send`; the host application
    (`funchost.http.exchange.Respond`) gets the cycle itself as its `Request`.
    """

    __slots__ = (
        "body",
        "body_complete",
        "body_size",
        "chunked",
        "disconnected",
        "expect_continue",
        "head_only",
        "headers",
        "http_version",
        "keep_alive",
        "method",
        "path",
        "proto",
        "query_string",
        "raw_headers",
        "raw_path",
        "response_complete",
        "response_headers",
        "response_started",
        "status",
        "waiter",
        "wrote_head",
    )

    scheme = "http"
    headers: dict[str, str]
    raw_headers: list[tuple[bytes, bytes]]

    def __init__(
        self,
        proto: HttpProtocol,
        method: str,
        path: str,
        raw_path: bytes,
        query_string: bytes,
        http_version: str,
        keep_alive: bool,
    ) -> None:
        self.proto = proto
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query_string = query_string
        self.http_version = http_version
        # The parser sets `headers` (a dict, for the host application) or `raw_headers` (a
        # list, for an ASGI application): only one of them is ever read.
        self.keep_alive = keep_alive
        self.body: deque[bytes] = deque()
        self.body_size = 0
        self.body_complete = False
        self.expect_continue = False
        self.disconnected = False
        self.waiter: asyncio.Future[None] | None = None
        self.head_only = method == "HEAD"
        self.response_started = False
        self.response_complete = False
        self.wrote_head = False
        self.chunked = False
        # `status` and `response_headers` are set by an ASGI app's http.response.start.

    @property
    def server(self) -> tuple[str, int] | None:
        return self.proto.server

    @property
    def client(self) -> tuple[str, int] | None:
        return self.proto.client

    # -- from the parser
    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the ASGI side
    async def run(self, app: AsgiApp) -> None:
        self.proto.state.starting -= 1  # (see funchost.http.protocol on writing responses)
        scope = {
            "type": "http",
            "asgi": ASGI_INFO,
            "http_version": self.http_version,
            "method": self.method,
            "scheme": "http",
            "path": self.path,
            "raw_path": self.raw_path,
            "query_string": self.query_string,
            "root_path": "",
            "headers": self.raw_headers,
            "server": self.proto.server,
            "client": self.proto.client,
        }
        try:
            await app(scope, self.receive, self.send)
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raise  # cancellation at shutdown
            self._failed(exc)
        else:
            if not self.response_complete and not self.disconnected:
                if not self.wrote_head:
                    logger.error("The HTTP application returned without a response")
                    self.proto.write(refusal(500))
                self.keep_alive = False
        finally:
            self.response_complete = True
            self.proto.cycle_done(self)

    async def respond(self, respond: Respond) -> None:
        """Serve the request with the host application's `respond`, no ASGI in between."""
        self.proto.state.starting -= 1  # (see funchost.http.protocol on writing responses)
        try:
            response = await respond(self)
            if not self.disconnected:
                self.wrote_head = True
                proto = self.proto
                self._write_response(response)
                if proto.writing_paused:
                    await proto.drain()
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raise  # cancellation at shutdown
            self._failed(exc)
        finally:
            self.response_complete = True
            self.proto.cycle_done(self)

    def _failed(self, exc: Exception) -> None:
        logger.error("Exception in the HTTP application", exc_info=exc)
        if not self.wrote_head and not self.disconnected:
            self.proto.write(refusal(500))
        self.keep_alive = False

    async def read_body(self, limit: int, budget: BodyBudget | None = None) -> bytes:
        return await read_body(self.receive, self.headers, limit, budget)

    async def receive(self) -> Message:
        if self.expect_continue and not self.response_started:
            self.expect_continue = False
            self.proto.write(CONTINUE)
        while not self.body and not self.body_complete and not self.disconnected:
            self.proto.resume_reading()
            self.waiter = self.proto.loop.create_future()
            await self.waiter
            self.waiter = None
        if self.disconnected or (self.response_complete and not self.body):
            return {"type": "http.disconnect"}
        if self.body:
            chunk = self.body.popleft() if len(self.body) == 1 else b"".join(self.body)
            self.body.clear()
            self.body_size = 0
            self.proto.resume_reading()
        else:
            chunk = b""
        return {"type": "http.request", "body": chunk, "more_body": not self.body_complete}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.response_started:
                raise RuntimeError("the response has already started")
            self.response_started = True
            self.status = message["status"]
            self.response_headers = message.get("headers") or []
            return
        if kind != "http.response.body":
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        if not self.response_started or self.response_complete:
            raise RuntimeError("http.response.body without a response in progress")
        body: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        if self.disconnected:
            self.response_complete = not more
            return
        proto = self.proto
        if not self.wrote_head:
            head = self._head(body, more)
            self.wrote_head = True
            proto.write(head)
        elif body and not self.head_only:
            proto.write(_chunk(body) if self.chunked else body)
        if not more:
            if self.chunked and not self.head_only:
                proto.write(b"0\r\n\r\n")
            self.response_complete = True
        if proto.writing_paused:
            await proto.drain()

    def _write_response(self, response: Response) -> None:
        """Write a whole response of the host application: status line, headers, the server's
        own framing, body. Less work than `_head`, which serves any ASGI application: the
        host's header names are lower-case and carry no framing (funchost.http.exchange).
        """
        status = response.status
        state = self.proto.state
        parts = [STATUS_LINES.get(status) or _status_line(status), state.date_header]
        for name, value in response.headers:
            if name == b"connection" and value.lower() == b"close":
                self.keep_alive = False
            parts.append(b"%s: %s\r\n" % (name, value))
        body = response.body
        has_body = status >= 200 and status != 204 and status != 304
        if has_body:
            parts.append(b"content-length: %d\r\n" % len(body))
        head = self._end_head(parts)
        proto = self.proto
        if not body or not has_body or self.head_only:
            proto.write(head)
        elif len(body) < LARGE_BODY:
            proto.write(head + body)
        else:
            proto.write(head)
            proto.write(body)

    def _head(self, body: bytes, more: bool) -> bytes:
        """The status line and headers, with the first part of the body when it has one."""
        status = self.status
        state = self.proto.state
        parts = [STATUS_LINES.get(status) or _status_line(status), state.date_header]
        framed = False
        for name, value in self.response_headers:
            lower = name.lower()
            if lower == b"content-length" or lower == b"transfer-encoding":
                framed = True
            elif lower == b"connection" and value.lower() == b"close":
                self.keep_alive = False
            parts.append(b"%s: %s\r\n" % (name, value))
        has_body = status >= 200 and status != 204 and status != 304
        if not framed and has_body:
            if not more:
                parts.append(b"content-length: %d\r\n" % len(body))
            elif self.http_version == "1.1":
                self.chunked = True
                parts.append(b"transfer-encoding: chunked\r\n")
            else:
                self.keep_alive = False  # the end of the body is the end of the connection
        head = self._end_head(parts)
        if self.head_only or not has_body:
            self.head_only = True
            return head
        if body:
            return head + (_chunk(body) if self.chunked else body)
        return head

    def _end_head(self, parts: list[bytes]) -> bytes:
        """The head from its lines so far: `connection: close` when the connection ends after
        this response, the blank line, and a check that no header value broke its line."""
        state = self.proto.state
        if not self.keep_alive or state.shutting_down:
            self.keep_alive = False
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        head = b"".join(parts)
        # A line break inside a header would let its value forge headers (response splitting).
        if head.count(b"\n") != len(parts) - (not state.date_header):
            raise RuntimeError("a response header contains a line break")
        return head


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)
