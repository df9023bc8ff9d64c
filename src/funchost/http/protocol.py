"""One HTTP/1.1 connection of funchost's server: parsing (httptools), the limits every client
is held to, keep-alive, pipelining and flow control in both directions.

Requests pipelined on one connection are answered in order: the next cycle
(`funchost.http.cycle.RequestCycle`) starts when the previous response is complete.

What a client sends is bounded as it arrives, never only once a line is complete
(`funchost.http.limits.HttpLimits`): the bytes of a head (or of a chunked body's trailers) are
counted before the parser buffers them, so a header line that never ends costs linear time and
at most one read beyond the limit. Time limits (the head's deadline, the minimum rates of a
request body and of a response) are checked by the server's sweeper once a second
(`HttpProtocol.sweep`), so the request path pays nothing for them.

Responses made one after another in one pass of the event loop are written together, when the
last of them is made (`HttpProtocol.write`). Each write to a client that waits for it wakes
that client; over loopback, or to a proxy that reads many kept-alive connections in one
process, writes spread over a pass wake the reader once each, and waking it cost a third of
the server's time per request. Written together, one wakeup serves many. Requests that arrive
together start together (`ServerState.starting` counts those whose first step has not run):
while some have not started, a small write is held; the write made when none is left writes
everything held, and at worst the next pass does. What is written on a connection keeps its
order, and whatever closes a connection writes what it holds first.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, NoReturn, cast

import httptools

from funchost.http.cycle import (
    ASGI_INFO,
    BODY_BUFFER_HIGH,
    METHODS,
    AsgiApp,
    Message,
    RequestCycle,
    refusal,
)
from funchost.http.exchange import Respond
from funchost.http.limits import HttpLimits
from funchost.http.paths import decode_path

__all__ = ["ASGI_INFO", "AsgiApp", "HttpProtocol", "Message", "ServerState"]

# The request line's own bytes besides its target ("DELETE " and " HTTP/1.1\r\n"), allowed on
# top of the target when a head's size is checked before its lines are complete.
_REQUEST_LINE_FRAMING = 32


# How long a connection closed by the server keeps discarding what the client still sends.
LINGER_SECONDS = 5.0

# Output held until the end of the loop's pass, per connection, at most: more is written at
# once (with what was held), so a large response meets the transport's flow control as before.
HELD_OUTPUT_LIMIT = 64 * 1024


_UNKNOWN: Any = object()


class _Discard:
    """The parser of a lingering connection: everything is dropped."""

    def feed_data(self, data: bytes) -> None:
        pass


_DISCARD = _Discard()


class ServerState:
    """What every connection of one server shares: its limits, the Date header, live
    connections."""

    def __init__(self, limits: HttpLimits | None = None, header_case: bool = False) -> None:
        self.limits = limits or HttpLimits()
        self.connections: set[HttpProtocol] = set()
        self.date_header = b""
        self.shutting_down = False
        # Header names are lower-cased for ASGI apps, unless the app needs them as sent (the
        # storage endpoint: Azure keeps the case of metadata names).
        self.header_case = header_case
        # Request cycles started and not yet running, and the connections holding output
        # until they have made theirs (HttpProtocol.write).
        self.starting = 0
        self.holding: list[HttpProtocol] = []

    def write_held(self) -> None:
        """Write the output every connection holds, now."""
        holding = self.holding
        self.holding = []
        for proto in holding:
            proto.write_held()


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    # Slots: attribute access on the request path stays fast however many attributes there
    # are (past 30, an instance's dict stops sharing its keys and every access slows down).
    __slots__ = (
        "_client",
        "_server",
        "app",
        "body_mark",
        "body_received",
        "body_ticks",
        "bytes_written",
        "counting",
        "cycle",
        "drain_waiters",
        "fields",
        "first_check",
        "head_ticks",
        "header_bytes",
        "header_check",
        "headers",
        "held",
        "held_size",
        "idle_ticks",
        "limits",
        "linger_timer",
        "lingering",
        "loop",
        "parser",
        "parsing",
        "pipeline",
        "reading_paused",
        "refusal",
        "repeated_fields",
        "respond",
        "section_bytes",
        "section_limit",
        "state",
        "stopped",
        "taken_marks",
        "timed",
        "transport",
        "url",
        "writing_paused",
    )

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
        self.limits = state.limits
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        # The two ends' addresses, looked up when first asked for (two system calls a
        # connection otherwise, for what most requests never read).
        self._server: Any = _UNKNOWN
        self._client: Any = _UNKNOWN
        self.linger_timer: asyncio.TimerHandle | None = None
        self.cycle: RequestCycle | None = None  # the one whose response is being made
        self.parsing: RequestCycle | None = None  # the one whose body is being read
        self.pipeline: deque[RequestCycle] = deque()
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []  # the head being read, for an ASGI app
        self.fields: dict[str, str] = {}  # the same, for the host application
        self.header_bytes = 0  # of the complete header lines of the head being read
        self.repeated_fields = 0  # fields the host application's dict joined to an earlier one
        self.refusal = 0
        self.lingering = False  # the sending side is shut; closing soon
        self.stopped = False  # nothing more is parsed
        self.reading_paused = False
        self.writing_paused = False
        self.drain_waiters: list[asyncio.Future[None]] = []
        # While a head (or a chunked body's trailer section) is arriving, `counting` is set and
        # `section_bytes` counts what data_received fed the parser since the section began.
        # Trailers count from a chunk's size line to its first data byte, so the ones after
        # the last chunk are one section.
        self.counting = True
        self.section_bytes = 0
        self.section_limit = self.limits.max_request_headers_total_size + _REQUEST_LINE_FRAMING
        # When on_header next checks the fields (`_check_fields`): at first, once there are
        # bytes enough for more fields than allowed (5 each, at least), or too many bytes.
        self.first_check = min(
            self.limits.max_request_headers_total_size,
            5 * (self.limits.max_request_header_count + 1) - 1,
        )
        self.header_check = self.first_check
        # Read by the sweeper (`sweep`): ticks since the connection became idle, since the
        # head began, and of the reading of a request body (`timed`), with the body bytes that
        # ever arrived on the connection and their count when that reading began.
        self.idle_ticks = 0
        self.head_ticks = 0
        self.timed: RequestCycle | None = None
        self.body_ticks = 0
        self.body_received = 0
        self.body_mark = 0
        # Output held until the end of the loop's pass (`write`), and its size.
        self.held: list[bytes] = []
        self.held_size = 0
        # Bytes written to the transport, and what the client had taken of them (written
        # minus still buffered) at each sweep while a response waited on it.
        self.bytes_written = 0
        self.taken_marks: deque[int] = deque()

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.state.connections.add(self)

    @property
    def server(self) -> tuple[str, int] | None:
        if self._server is _UNKNOWN:
            self._server = self._address("sockname")
        return cast("tuple[str, int] | None", self._server)

    @property
    def client(self) -> tuple[str, int] | None:
        if self._client is _UNKNOWN:
            self._client = self._address("peername")
        return cast("tuple[str, int] | None", self._client)

    def _address(self, name: str) -> tuple[str, int] | None:
        value = self.transport.get_extra_info(name) if self.transport is not None else None
        if isinstance(value, tuple) and len(value) >= 2:
            return (str(value[0]), int(value[1]))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.connections.discard(self)
        if self.linger_timer is not None:
            self.linger_timer.cancel()  # it would keep this connection alive until it fires
        for cycle in (self.cycle, self.parsing, *self.pipeline):
            if cycle is not None:
                cycle.disconnected = True
                cycle.wake()
        self.pipeline.clear()
        self.held.clear()
        self.held_size = 0
        self.writing_paused = False
        self._release_drain_waiters()

    def data_received(self, data: bytes) -> None:
        if self.counting:
            self.section_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400)  # CONNECT: no tunnels
            return
        except httptools.HttpParserError:
            # A callback's exception arrives wrapped in HttpParserCallbackError.
            self._refuse(self.refusal or 400)
            return
        if self.section_bytes > self.section_limit and self.counting:
            self._section_arriving()

    def _section_arriving(self) -> None:
        """A head or trailer section is still incomplete past its size limit: the parser
        buffers its unfinished line, so the size is checked as it arrives, not once the line
        ends. A head's limit is on top of its request target (whose own limit is on_url's)."""
        if self.parsing is not None or self.section_bytes - len(self.url) > self.section_limit:
            self._refuse(431)

    def eof_received(self) -> bool | None:
        """The client has sent all it will send. Requests that arrived whole are still
        answered (a half-closed connection can still carry responses, as Kestrel's does);
        one whose head or body was cut short never runs."""
        parsing = self.parsing
        if self.lingering or self.cycle is None or parsing is not None:
            self.write_held()  # the last response may be held still
            return None  # close the transport; connection_lost marks the cycles disconnected
        last = self.pipeline[-1] if self.pipeline else self.cycle
        last.keep_alive = False  # the connection closes after its response
        return True

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        self._release_drain_waiters()

    # -- httptools callbacks (no on_message_begin: on_message_complete starts the next head)
    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.limits.max_request_line_size:
            self._refusing(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        # Trailers arrive here too, and are dropped by on_chunk_complete.
        self.header_bytes += len(name) + len(value) + 4
        if self.header_bytes > self.header_check:
            self._check_fields()
        if self.respond is None:
            self.headers.append((name if self.state.header_case else name.lower(), value))
            return
        # The host application's header dict, built here rather than by a second pass over
        # a list (the rule of bindings.http.join_headers: repeats joined by commas).
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        fields = self.fields
        if key in fields:
            fields[key] = f"{fields[key]},{text}"
            self.repeated_fields += 1
        else:
            fields[key] = text

    def on_headers_complete(self) -> None:
        parser = self.parser
        self.counting = False
        url = self.url
        self.url = b""
        self.header_bytes = self.section_bytes = self.head_ticks = 0
        self.header_check = self.first_check
        if self.repeated_fields:
            self.repeated_fields = 0
        if url[:1] == b"/":
            raw_path, _, query = url.partition(b"?")
        else:  # absolute-form or asterisk-form request target
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                self._refusing(400)
            raw_path, query = parsed.path or b"/", parsed.query or b""
        # A fragment (`#...`) is never sent by clients that follow RFC 9112, and never used.
        if query and b"#" in query:
            query = query.partition(b"#")[0]
        path = raw_path.decode("latin-1")
        if "%" in path or "#" in path or not path.isascii():
            if "#" in path:
                raw_path, query = raw_path.partition(b"#")[0], b""
            path = decode_path(raw_path)
        method = parser.get_method()
        http_version = parser.get_http_version()
        cycle = RequestCycle(
            self,
            METHODS.get(method) or self._other_method(method),
            path,
            raw_path,
            query,
            http_version,
            parser.should_keep_alive(),
        )
        if self.respond is None:
            headers = cycle.raw_headers = self.headers
            self.headers = []
            hosts = 0
            as_sent = self.state.header_case
            for name, value in headers:
                if as_sent:
                    name = name.lower()
                if name == b"expect" and value.lower() == b"100-continue":
                    cycle.expect_continue = True
                elif name == b"host":
                    hosts += 1
                elif name == b"upgrade" and parser.should_upgrade():
                    self._refusing(400)  # no protocol upgrades (websockets)
            if hosts > 1 or (hosts == 0 and http_version == "1.1"):
                self._refusing(400)  # RFC 9112 3.2: exactly one Host header in HTTP/1.1
        else:
            fields = cycle.headers = self.fields
            self.fields = {}
            if "expect" in fields and fields["expect"].lower() == "100-continue":
                cycle.expect_continue = True
            host = fields.get("host")
            if host is None:
                if http_version == "1.1":
                    self._refusing(400)  # RFC 9112 3.2: exactly one Host header in HTTP/1.1
            elif "," in host:  # repeated (no host name or port contains a comma)
                self._refusing(400)
            if "upgrade" in fields and parser.should_upgrade():
                self._refusing(400)  # no protocol upgrades (websockets)
        self.parsing = cycle
        if self.cycle is None:
            self._start(cycle)
        else:
            self.pipeline.append(cycle)
            self.pause_reading()  # one response at a time; the rest waits in the socket

    def on_body(self, body: bytes) -> None:
        self.counting = False
        self.body_received += len(body)
        cycle = self.parsing
        if cycle is None or cycle.response_complete:
            return  # the app answered without reading the body; it is discarded
        cycle.body.append(body)
        cycle.body_size += len(body)
        if cycle.body_size > BODY_BUFFER_HIGH:
            self.pause_reading()
        cycle.wake()

    def on_chunk_header(self) -> None:
        # Until this chunk's data begins, what arrives may be the trailer section.
        self.counting = True
        self.section_bytes = self.header_bytes = 0
        self.header_check = self.first_check

    def on_chunk_complete(self) -> None:
        self.counting = False
        self.section_bytes = self.repeated_fields = 0
        # After the last chunk: its trailers belong to no request's headers.
        if self.fields:
            self.fields = {}
        if self.headers:
            self.headers = []

    def on_message_complete(self) -> None:
        cycle = self.parsing
        if cycle is not None:
            cycle.body_complete = True
            if cycle.waiter is not None:
                cycle.wake()
        self.parsing = None
        self.counting = True  # the next request's head

    def _other_method(self, method: bytes) -> str:
        if method == b"CONNECT":
            self._refusing(400)  # no tunnels
        return method.decode("ascii")

    def _check_fields(self) -> None:
        """Hold the head (or trailers) being read to both limits, as each field arrives, and
        set when to look again: when its fields could next exceed either. A field takes at
        least 5 bytes, so a head can pass the count only after 5 bytes for each field left;
        the hot path then pays one comparison per field."""
        limits = self.limits
        total = limits.max_request_headers_total_size
        if self.header_bytes > total:
            self._refusing(431)
        if self.respond is None:
            count = len(self.headers) + 1  # with the field on its way in
        else:
            count = len(self.fields) + self.repeated_fields + 1
        left = limits.max_request_header_count - count
        if left < 0:
            self._refusing(431)
        self.header_check = min(total, self.header_bytes + 5 * (left + 1) - 1)

    # -- cycles
    def _start(self, cycle: RequestCycle) -> None:
        self.cycle = cycle
        self.state.starting += 1  # until the cycle's first step (RequestCycle.run, respond)
        respond = self.respond
        self.loop.create_task(cycle.run(self.app) if respond is None else cycle.respond(respond))

    def cycle_done(self, cycle: RequestCycle) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if not cycle.keep_alive or not cycle.body_complete or self.state.shutting_down:
            # A request whose body was not read to the end leaves the connection unusable; and
            # the client may still be sending (that body, or what made the server stop reading).
            if cycle.body_complete and not self.stopped:
                self.close()
            else:
                self._linger()
            return
        self.cycle = None
        self.idle_ticks = 0
        if self.pipeline:
            self._start(self.pipeline.popleft())
        if not self.pipeline and self.reading_paused:
            self.resume_reading()

    # -- flow control and output
    def write(self, data: bytes) -> None:
        """Write `data`, or hold it while request cycles that arrived with this one have yet
        to make their responses, up to HELD_OUTPUT_LIMIT a connection (see the module's doc).
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        size = len(data)
        self.bytes_written += size
        state = self.state
        if not state.starting:
            if state.holding:
                state.write_held()  # this connection's held output too, first
            transport.write(data)
            return
        held = self.held
        if not held:
            if size >= HELD_OUTPUT_LIMIT:
                transport.write(data)
                return
            if not state.holding:  # at worst, the next pass writes what is held
                self.loop.call_soon(state.write_held)
            state.holding.append(self)
        held.append(data)
        self.held_size += size
        if self.held_size >= HELD_OUTPUT_LIMIT:
            self.write_held()

    def write_held(self) -> None:
        """Write the output this connection holds, now."""
        held = self.held
        if not held:
            return
        self.held = []
        self.held_size = 0
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(held[0] if len(held) == 1 else b"".join(held))

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
        """Answer `status` where the connection can still carry it, and close it.

        A request whose body failed (malformed, too slow) is never run: its cycle is marked
        disconnected, so the host's `read_body` raises `BodyIncomplete` and no response of its
        own is written after this one.
        """
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self.write(refusal(status))
        elif cycle is self.parsing and not cycle.wrote_head:
            cycle.disconnected = True
            cycle.wake()
            self.write(refusal(status))
        else:
            # A whole earlier request is still being answered: the fault is in what followed
            # it. Read nothing more, let that answer finish, then close (cycle_done).
            self._stop_reading()
            cycle.keep_alive = False
            return
        if status == 408:
            self.close()  # a client too slow to matter: let go of it at once
        else:
            self._linger()

    def _stop_reading(self) -> None:
        """Parse nothing more on this connection: what still arrives is discarded, and the
        requests waiting behind the current one are dropped unanswered."""
        self.parser = _DISCARD  # type: ignore[assignment]
        self.stopped = True
        self.counting = False
        self.parsing = None
        for cycle in self.pipeline:
            cycle.disconnected = True
        self.pipeline.clear()
        if self.reading_paused and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()

    def _linger(self) -> None:
        """Close the connection without losing the response just written.

        The client may still be sending what the server will not read (a body after 413, a
        header after 431). Closing with unread bytes makes the kernel reset the connection,
        and a reset can destroy the response before the client reads it. So the server shuts
        down its sending side, discards whatever still arrives, and closes once the client
        does, or after `LINGER_SECONDS`.
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self._stop_reading()
        self.lingering = True
        self.write_held()
        if transport.can_write_eof():
            transport.write_eof()
        self.linger_timer = self.loop.call_later(LINGER_SECONDS, self.close)

    # -- the server's sweeper and shutdown
    def is_idle(self) -> bool:
        return self.cycle is None

    def sweep(self, interval: float) -> None:
        """Hold the connection to its time limits; called every `interval` seconds.

        - An idle connection is closed after the keep-alive timeout; a head must arrive whole
          within the headers timeout of the tick that saw its first byte (408).
        - A request body being read must arrive at the minimum rate, averaged over the time
          the host was reading it, once the grace period has passed (408).
        - A response waiting on the client (bytes buffered that it has not taken) must be taken
          at the minimum rate over the last grace period, or the connection is dropped, with
          the response's buffered bytes.
        """
        if self.lingering:
            return  # closing; only discarding what arrives
        limits = self.limits
        if self.cycle is None:
            if self.section_bytes:
                self.head_ticks += 1
                if self.head_ticks * interval > limits.request_headers_timeout:
                    self._refuse(408)
                    return
            else:
                self.idle_ticks += 1
                if self.idle_ticks * interval > limits.keep_alive_timeout:
                    self.close()
                    return
        else:
            rate = limits.min_request_body_data_rate
            cycle = self.parsing
            if rate and cycle is self.cycle and not self.reading_paused:
                if self.timed is not cycle:
                    self.timed, self.body_ticks, self.body_mark = cycle, 0, self.body_received
                self.body_ticks += 1
                elapsed = self.body_ticks * interval
                if (
                    elapsed > limits.min_request_body_data_rate_grace_period
                    and self.body_received - self.body_mark < rate * elapsed
                ):
                    self._refuse(408)
                    return
        self._check_response_rate(interval)

    def _check_response_rate(self, interval: float) -> None:
        transport = self.transport
        rate = self.limits.min_response_data_rate
        if transport is None or not rate:
            return
        self.write_held()  # (written by now in any case: this runs between passes)
        buffered = transport.get_write_buffer_size()
        marks = self.taken_marks
        if not buffered:
            marks.clear()
            return
        marks.append(self.bytes_written - buffered)
        window = max(1, round(self.limits.min_response_data_rate_grace_period / interval))
        if len(marks) > window:
            taken = marks[-1] - marks.popleft()
            if taken < rate * window * interval:
                transport.abort()  # drops the buffered response at once

    def close(self) -> None:
        """Close the connection once what it holds and what the transport buffers is sent."""
        if self.transport is not None and not self.transport.is_closing():
            self.write_held()
            self.transport.close()
