"""One HTTP/1.1 connection of funchost's server: parsing (httptools), ASGI request cycles,
keep-alive, pipelining, flow control in both directions.

Each request is served in its own task: by the host application's `respond`, which takes the
request cycle itself (funchost.http.exchange), or as an ASGI `http` scope by any other ASGI
application. Requests pipelined on one connection are answered in order: the next cycle
starts when the previous response is complete. The response head is written with the first
body chunk, in one write.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any, NoReturn, cast
from urllib.parse import unquote

import httptools

from funchost.http.exchange import Respond, Response, read_body

logger = logging.getLogger("funchost.http")

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
AsgiApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]

# Request body bytes buffered before reading from the socket pauses.
BODY_BUFFER_HIGH = 256 * 1024
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


def _refusal(status: int) -> bytes:
    return STATUS_LINES[status] + b"content-length: 0\r\nconnection: close\r\n\r\n"


class ServerState:
    """What every connection of one server shares: settings, the Date header, live connections."""

    def __init__(
        self,
        *,
        max_header_bytes: int = 32 * 1024,
        max_request_line: int = 8 * 1024,
        keep_alive_timeout: float = 130.0,
        headers_timeout: float = 30.0,
    ) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_request_line = max_request_line
        self.keep_alive_timeout = keep_alive_timeout
        self.headers_timeout = headers_timeout
        self.connections: set[HttpProtocol] = set()
        self.date_header = b""
        self.shutting_down = False


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
                    self.proto.write(_refusal(500))
                self.keep_alive = False
        finally:
            self.response_complete = True
            self.proto.cycle_done(self)

    async def respond(self, respond: Respond) -> None:
        """Serve the request with the host application's `respond`, no ASGI in between."""
        try:
            response = await respond(self)
            if not self.disconnected:
                message = self._message(response)
                self.wrote_head = True
                proto = self.proto
                proto.write(message)
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
            self.proto.write(_refusal(500))
        self.keep_alive = False

    async def read_body(self, limit: int) -> bytes:
        return await read_body(self.receive, self.headers, limit)

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

    def _message(self, response: Response) -> bytes:
        """A whole response of the host application, as written: status line, headers, the
        server's own framing, body. Less work than `_head`, which serves any ASGI application:
        the host's header names are lower-case and carry no framing (funchost.http.exchange).
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
        if body and has_body and not self.head_only:
            return head + body
        return head

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


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(
        self,
        app: AsgiApp,
        state: ServerState,
        loop: asyncio.AbstractEventLoop,
        respond: Respond | None = None,
    ) -> None:
        self.app = app
        # With `respond`, requests skip ASGI (funchost.http.exchange); `app` is not called.
        self.respond = respond
        self.state = state
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.cycle: RequestCycle | None = None  # the one whose response is being made
        self.parsing: RequestCycle | None = None  # the one whose body is being read
        self.pipeline: deque[RequestCycle] = deque()
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []  # the head being read, for an ASGI app
        self.fields: dict[str, str] = {}  # the same, for the host application
        self.header_bytes = 0
        self.refusal = 0
        self.reading_paused = False
        self.writing_paused = False
        self.drain_waiters: list[asyncio.Future[None]] = []
        # Read by the server's sweeper: its ticks since the last response (or the connection)
        # began with no request in progress, and whether a request head is arriving.
        self.idle_ticks = 0
        self.reading_head = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        self.state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        for cycle in (self.cycle, self.parsing, *self.pipeline):
            if cycle is not None:
                cycle.disconnected = True
                cycle.wake()
        self.pipeline.clear()
        self.writing_paused = False
        self._release_drain_waiters()

    def data_received(self, data: bytes) -> None:
        if self.cycle is None:  # between requests: the next one's head is arriving
            self.reading_head = True
            self.idle_ticks = 0
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400)  # no protocol upgrades (websockets): not part of HTTP triggers
        except httptools.HttpParserError:
            # A callback's exception arrives wrapped in HttpParserCallbackError.
            self._refuse(self.refusal or 400)

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._release_drain_waiters()

    # -- httptools callbacks (no on_message_begin: data_received marks a head as arriving,
    # and on_headers_complete resets what a head collects, which saves a call per request)
    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.state.max_request_line:
            self._refusing(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes > self.state.max_header_bytes:
            self._refusing(431)
        if self.respond is None:
            self.headers.append((name.lower(), value))
            return
        # The host application's header dict, built here rather than by a second pass over
        # a list (the rule of bindings.http.join_headers: repeats joined by commas).
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        fields = self.fields
        fields[key] = f"{fields[key]},{text}" if key in fields else text

    def on_headers_complete(self) -> None:
        self.reading_head = False
        parser = self.parser
        url = self.url
        self.url = b""
        self.header_bytes = 0
        if url[:1] == b"/":
            raw_path, _, query = url.partition(b"?")
        else:  # absolute-form or asterisk-form request target
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                self._refusing(400)
            raw_path, query = parsed.path or b"/", parsed.query or b""
        path = raw_path.decode("latin-1")
        if "%" in path:
            path = unquote(path, encoding="latin-1")
        method = parser.get_method()
        cycle = RequestCycle(
            self,
            METHODS.get(method) or method.decode("ascii"),
            path,
            raw_path,
            query,
            parser.get_http_version(),
            parser.should_keep_alive(),
        )
        if self.respond is None:
            headers = cycle.raw_headers = self.headers
            self.headers = []
            for name, value in headers:
                if name == b"expect" and value.lower() == b"100-continue":
                    cycle.expect_continue = True
        else:
            fields = cycle.headers = self.fields
            self.fields = {}
            if "expect" in fields and fields["expect"].lower() == "100-continue":
                cycle.expect_continue = True
        self.parsing = cycle
        if self.cycle is None:
            self._start(cycle)
        else:
            self.pipeline.append(cycle)
            self.pause_reading()  # one response at a time; the rest waits in the socket

    def on_body(self, body: bytes) -> None:
        cycle = self.parsing
        if cycle is None or cycle.response_complete:
            return  # the app answered without reading the body; it is discarded
        cycle.body.append(body)
        cycle.body_size += len(body)
        if cycle.body_size > BODY_BUFFER_HIGH:
            self.pause_reading()
        cycle.wake()

    def on_message_complete(self) -> None:
        cycle = self.parsing
        if cycle is not None:
            cycle.body_complete = True
            if cycle.waiter is not None:
                cycle.wake()
        self.parsing = None

    # -- cycles
    def _start(self, cycle: RequestCycle) -> None:
        self.cycle = cycle
        respond = self.respond
        self.loop.create_task(cycle.run(self.app) if respond is None else cycle.respond(respond))

    def cycle_done(self, cycle: RequestCycle) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        # A request whose body was not read to the end leaves the connection unusable.
        if not cycle.keep_alive or not cycle.body_complete or self.state.shutting_down:
            self.transport.close()
            return
        self.cycle = None
        self.idle_ticks = 0
        if self.pipeline:
            self._start(self.pipeline.popleft())
        if not self.pipeline and self.reading_paused:
            self.resume_reading()

    # -- flow control and output
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        if not self.writing_paused:
            return
        waiter = self.loop.create_future()
        self.drain_waiters.append(waiter)
        await waiter

    def _release_drain_waiters(self) -> None:
        waiters, self.drain_waiters = self.drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None:
            parsing = self.parsing
            if self.pipeline or (parsing is not None and parsing.body_size > BODY_BUFFER_HIGH):
                return
            self.reading_paused = False
            self.transport.resume_reading()

    def _refusing(self, status: int) -> NoReturn:
        """Stop parsing; data_received answers `status` and closes the connection."""
        self.refusal = status
        raise ValueError(status)

    def _refuse(self, status: int) -> None:
        if self.cycle is None or self.cycle.response_complete:
            self.write(_refusal(status))
        if self.transport is not None:
            self.transport.close()

    # -- the server's sweeper and shutdown
    def is_idle(self) -> bool:
        return self.cycle is None

    def sweep(self, interval: float) -> None:
        """Close the connection if it has waited too long for a request or its head."""
        if self.cycle is not None:
            return
        self.idle_ticks += 1
        waited = self.idle_ticks * interval
        if self.reading_head and waited > self.state.headers_timeout:
            self._refuse(408)
        elif waited > self.state.keep_alive_timeout:
            self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


def _address(value: Any) -> tuple[str, int] | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None
