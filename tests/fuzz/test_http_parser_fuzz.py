"""funchost's HTTP/1.1 connection (`funchost.http.protocol.HttpProtocol`) under arbitrary input.

Most tests drive the protocol directly, without sockets: a fake transport records what it
writes, and the test feeds bytes through `data_received` in arbitrary splits, with the
server's once-a-second sweep (`sweep`) standing in for time passing. Each runs with a trivial
ASGI application, with a trivial `respond` (the host's direct path) and, for well-formed
requests, with the real host application (`HostApp.respond` of a loaded app). The properties:

- nothing ever raises out of `data_received` or the sweep, no request task fails or is left
  waiting once the connection is gone, and nothing is logged as an error;
- what is written is a sequence of well-formed HTTP/1.1 responses (a status line first), and a
  response that ends the connection (`connection: close`, every refusal) is the last one;
- well-formed requests, however split and pipelined, each get exactly their own answer (their
  own headers, never a previous request's trailers);
- a head is bounded as it arrives: a header line or request line that never ends, and header
  lines that never stop, are refused (431/414) within the limit plus one read, in memory and
  time that do not grow with what the client sends.

The last tests repeat the linear-time claim over real sockets, on the in-thread server of
tests/e2e/test_http_server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import re
import select
import socket
import struct
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from funchost.http.exchange import BodyIncomplete, BodyTooLarge, Request, Response
from funchost.http.protocol import HttpProtocol, ServerState
from funchost.testing import TestHost
from tests.e2e.test_http_server import echo_app, run_server
from tests.fuzz.budget import examples
from tests.fuzz.timing import assert_linear

# Kestrel's defaults, which funchost's server holds every client to.
MAX_HEADERS_TOTAL = 32 * 1024
MAX_REQUEST_LINE = 8 * 1024
MAX_HEADER_COUNT = 100
DATE = b"date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"

# --- a connection without a socket -------------------------------------------------------


class FakeTransport:
    """What HttpProtocol uses of an asyncio transport; records writes, closes like asyncio's
    (connection_lost soon after close), and delivers nothing while reading is paused."""

    def __init__(self, protocol: HttpProtocol, loop: asyncio.AbstractEventLoop) -> None:
        self.protocol = protocol
        self.loop = loop
        self.out = bytearray()
        self.closed = False
        self.eof_written = False
        self.reading = True
        self.writes_after_close = 0

    @property
    def ended(self) -> bool:
        """The server is done sending: it closed the connection or shut down its side."""
        return self.closed or self.eof_written

    def write(self, data: bytes) -> None:
        if self.ended:
            self.writes_after_close += 1  # asyncio's transports refuse or drop these
            return
        self.out += data

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.call_soon(self.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def is_reading(self) -> bool:
        return self.reading

    def get_write_buffer_size(self) -> int:
        return 0  # the client takes everything at once

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 7071), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )


@dataclass(frozen=True)
class Tick:
    """Seconds passing: the server's sweep, once a second, `seconds` times."""

    seconds: int


Action = bytes | Tick


@dataclass
class Outcome:
    out: bytes
    closed: bool  # the server ended the connection (closed it, or shut down its sending side)
    writes_after_close: int
    accepted: int  # bytes the protocol took before it ended the connection
    stuck: list[str] = field(default_factory=list)  # request tasks alive after the end
    loop_errors: list[str] = field(default_factory=list)


def _is_cycle(task: asyncio.Task[Any]) -> bool:
    name: str = getattr(task.get_coro(), "__qualname__", "")
    return name.startswith("RequestCycle.")


async def _until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Yield to the loop until `predicate()` holds (True) or `timeout` seconds pass (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    spins = 0
    while not predicate():
        if loop.time() > deadline:
            return False
        spins += 1
        await asyncio.sleep(0 if spins < 50 else 0.001)
    return True


async def drive(
    actions: list[Action],
    app: Any,
    respond: Any = None,
    *,
    yields: int = 1,
    settle: bool = False,
) -> Outcome:
    """Feed `actions` to a fresh HttpProtocol as a client would, then go away.

    Between actions the loop runs `yields` times (request tasks make progress in between, or
    not). Data is delivered only while the protocol has not paused reading; the client waits
    (up to 5 s) for it to resume. With `settle`, every request task is given up to 5 s to
    finish before the client leaves (well-formed requests must all be answered).
    """
    loop = asyncio.get_running_loop()
    errors: list[str] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(str(context)))
    state = ServerState()
    state.date_header = DATE
    proto = HttpProtocol(app, state, loop, respond)
    transport = FakeTransport(proto, loop)
    proto.connection_made(transport)  # type: ignore[arg-type]
    accepted = 0
    ended_at: int | None = None
    for action in actions:
        if transport.closed:
            break
        if ended_at is None and transport.ended:
            ended_at = accepted
        if isinstance(action, Tick):
            for _ in range(action.seconds):
                if transport.closed:
                    break
                proto.sweep(1.0)
        else:
            if not transport.reading:
                await _until(lambda: transport.reading or transport.closed, 5.0)
                if transport.closed:
                    break
                assert transport.reading, "the connection stopped reading and never resumed"
            # The client carries on sending after the server has answered and shut down
            # its side: what arrives then must be discarded without harm.
            proto.data_received(action)
            accepted += len(action)
        for _ in range(yields):
            await asyncio.sleep(0)
    if settle:
        # A pipelined request's task starts as the one before it ends, so the set is taken
        # afresh each time.
        await _until(
            lambda: transport.closed or not any(_is_cycle(t) for t in asyncio.all_tasks()), 5.0
        )
    if ended_at is None and transport.ended:
        ended_at = accepted
    # The client leaves: end of stream, then the connection is gone.
    if not transport.closed:
        proto.eof_received()
        transport.close()
    await asyncio.sleep(0)
    pending = {t for t in asyncio.all_tasks() if _is_cycle(t)}
    await _until(lambda: all(t.done() for t in pending), 5.0)
    stuck = [repr(t) for t in pending if not t.done()]
    for task in pending:
        if not task.done():
            task.cancel()
    loop.set_exception_handler(None)
    return Outcome(
        bytes(transport.out),
        ended_at is not None,
        transport.writes_after_close,
        accepted if ended_at is None else ended_at,
        stuck,
        errors,
    )


def run(coro: Any) -> Outcome:
    result: Outcome = asyncio.run(coro)
    return result


# --- the applications --------------------------------------------------------------------


def _echo(method: str, target: str, headers: Any, body: bytes) -> bytes:
    return json.dumps(
        {
            "method": method,
            "target": target,
            "headers": headers,
            "body": hashlib.sha256(body).hexdigest(),
        }
    ).encode()


async def asgi_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echoes the request (headers as a list, in order); a path ending in /stream answers in
    chunks of unknown length."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        more = message.get("more_body", False)
    target = scope["raw_path"].decode("latin-1")
    if scope["query_string"]:
        target += "?" + scope["query_string"].decode("latin-1")
    headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]
    payload = _echo(scope["method"], target, headers, body)
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"x-method", scope["method"].encode())],
    }
    await send(start)
    if scope["path"].endswith("/stream"):
        half = len(payload) // 2
        await send({"type": "http.response.body", "body": payload[:half], "more_body": True})
        await send({"type": "http.response.body", "body": payload[half:]})
    else:
        await send({"type": "http.response.body", "body": payload})


async def respond_echo(request: Request) -> Response:
    """The host application's entry point, trivially: echoes the request (headers as a dict)."""
    try:
        body = await request.read_body(1 << 20)
    except BodyTooLarge:
        return Response(413, [])
    except BodyIncomplete:
        return Response(400, [])
    target = request.raw_path.decode("latin-1")
    if request.query_string:
        target += "?" + request.query_string.decode("latin-1")
    payload = _echo(request.method, target, request.headers, body)
    return Response(200, [(b"x-method", request.method.encode())], payload)


async def never_called(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("with `respond`, the ASGI app is only for the lifespan")


APPS = {
    "asgi": (asgi_echo, None),
    "respond": (never_called, respond_echo),
}

HOST_APP = """\
import hashlib
import json

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="echo/{*rest}")
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    target = req.url.split("://", 1)[1]
    target = target[target.index("/"):]
    return func.HttpResponse(
        json.dumps(
            {
                "method": req.method,
                "target": target,
                "headers": {k.lower(): v for k, v in req.headers.items()},
                "body": hashlib.sha256(req.get_body()).hexdigest(),
            }
        ),
        mimetype="application/json",
    )
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestHost]:
    """A loaded app with one echo function, whose `HostApp.respond` the protocol calls."""
    app_dir = tmp_path_factory.mktemp("echo-app")
    (app_dir / "host.json").write_text('{"version": "2.0"}')
    (app_dir / "function_app.py").write_text(HOST_APP)
    with TestHost(app_dir) as started:
        yield started


# --- reading what was written ------------------------------------------------------------

_STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5][0-9][0-9]) [\x20-\x7e]*\r\n")
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


def parse_replies(out: bytes) -> list[Reply]:
    """Every response in `out`, in order; an AssertionError where one is malformed. Interim
    (1xx) responses are checked and left out."""
    replies: list[Reply] = []
    pos = 0
    while pos < len(out):
        match = _STATUS_LINE.match(out, pos)
        assert match, f"no status line at byte {pos}: {out[pos : pos + 80]!r}"
        status = int(match[1])
        pos = match.end()
        headers: dict[str, str] = {}
        while True:
            end = out.find(b"\r\n", pos)
            assert end != -1, f"unterminated head: {out[match.start() : match.start() + 200]!r}"
            line = out[pos:end]
            pos = end + 2
            if not line:
                break
            name, sep, value = line.partition(b": ")
            assert sep and _FIELD_NAME.fullmatch(name), f"malformed header line {line!r}"
            assert b"\r" not in value and b"\n" not in value, f"line break in {line!r}"
            headers[name.decode().lower()] = value.decode("latin-1")
        if status < 200:
            assert status == 100 and not headers, f"unexpected interim response {status}"
            continue
        if status in (204, 304) or headers.get("x-method") == "HEAD":
            body = b""
        elif "content-length" in headers:
            length = int(headers["content-length"])
            body = out[pos : pos + length]
            assert len(body) == length, f"body cut short: {len(body)} of {length} bytes"
            pos += length
        elif headers.get("transfer-encoding") == "chunked":
            chunks: list[bytes] = []
            while True:
                end = out.find(b"\r\n", pos)
                assert end != -1, "unterminated chunk size"
                size = int(out[pos:end], 16)
                pos = end + 2
                chunks.append(out[pos : pos + size])
                assert out[pos + size : pos + size + 2] == b"\r\n", "chunk without CRLF"
                pos += size + 2
                if size == 0:
                    break
            body = b"".join(chunks)
        else:  # ends with the connection
            body, pos = out[pos:], len(out)
            headers.setdefault("connection", "close")
        replies.append(Reply(status, headers, body))
    return replies


def check_outcome(outcome: Outcome) -> list[Reply]:
    """The properties every connection has, whatever it was sent."""
    assert not outcome.loop_errors, outcome.loop_errors
    assert not outcome.stuck, f"request tasks still waiting after the client left: {outcome.stuck}"
    assert outcome.writes_after_close == 0
    replies = parse_replies(outcome.out)
    for index, reply in enumerate(replies):
        assert reply.status != 500, "the server failed on its own (the apps never fail)"
        if reply.headers.get("connection") == "close" or reply.status in (400, 408, 414, 431):
            assert reply.headers.get("connection") == "close", reply
            assert index == len(replies) - 1, "a response after one that closed the connection"
            assert outcome.closed
    return replies


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def no_errors_logged() -> Iterator[None]:
    handler = ErrorLog()
    logger = logging.getLogger("funchost")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records]


# --- strategies --------------------------------------------------------------------------

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Headers that change framing, the connection or the host application's own handling.
SPECIAL = {
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
    "upgrade",
    "keep-alive",
    "te",
    "trailer",
    "proxy-connection",
    "origin",
    "x-functions-key",
}
FIELD_NAMES = st.text(alphabet=TCHARS, min_size=1, max_size=12).filter(
    lambda name: name.lower() not in SPECIAL
)
FIELD_VALUES = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=24,
).map(lambda value: value.strip(" \t"))
SEGMENT = st.text(alphabet="abcXYZ019-._~", min_size=1, max_size=10)
QUERY = st.text(alphabet="abc=&%20+019", max_size=12)


@dataclass
class Req:
    wire: bytes
    method: str
    target: str
    headers: list[tuple[str, str]]  # as sent in the head, names lower-cased
    body: bytes
    closes: bool


@st.composite
def requests(draw: st.DrawFn, last: bool = False) -> Req:
    method = draw(st.sampled_from(["GET", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]))
    target = "/api/echo/" + "/".join(draw(st.lists(SEGMENT, min_size=1, max_size=3)))
    if draw(st.booleans()):
        target += "/stream"
    query = draw(QUERY)
    if query:
        target += "?" + query
    fields = draw(st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=6))
    fields.insert(draw(st.integers(0, len(fields))), ("Host", "example"))
    framing = draw(st.sampled_from(["none", "length", "chunked"]))
    body = draw(st.binary(max_size=300)) if framing != "none" else b""
    trailer_lines: list[tuple[str, str]] = []
    if framing == "length":
        fields.append(("Content-Length", str(len(body))))
    elif framing == "chunked":
        fields.append(("Transfer-Encoding", "chunked"))
        trailer_lines = draw(st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=3))
    if framing != "none" and draw(st.booleans()):
        fields.append(("Expect", "100-continue"))
    closes = last and draw(st.booleans())
    if closes:
        fields.append(("Connection", "close"))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields)
    wire = head.encode("latin-1") + b"\r\n"
    if framing == "length":
        wire += body
    elif framing == "chunked":
        rest = body
        while rest:
            size = draw(st.integers(1, len(rest)))
            extension = draw(st.sampled_from(["", "", ";a=b", ";x"]))
            size_text = draw(st.sampled_from(["%x", "%X", "0%x"])) % size
            wire += f"{size_text}{extension}\r\n".encode() + rest[:size] + b"\r\n"
            rest = rest[size:]
        wire += b"0\r\n" + "".join(f"{n}: {v}\r\n" for n, v in trailer_lines).encode("latin-1")
        wire += b"\r\n"
    return Req(wire, method, target, [(n.lower(), v) for n, v in fields], body, closes)


@st.composite
def conversations(draw: st.DrawFn) -> list[Req]:
    count = draw(st.integers(1, 4))
    return [draw(requests(last=index == count - 1)) for index in range(count)]


def splits(data: bytes, cuts: list[int]) -> list[Action]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


# Pieces of HTTP, good and bad, that arbitrary byte soup is made of.
HTTP_PIECES = st.sampled_from(
    [
        b"GET ",
        b"POST ",
        b"HEAD ",
        b"PRI * HTTP/2.0\r\n",
        b"CONNECT a:1 ",
        b"/",
        b"/api/echo/a",
        b"http://a/b",
        b"*",
        b" HTTP/1.1\r\n",
        b" HTTP/1.0\r\n",
        b" HTTP/9.9\r\n",
        b"Host: a\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 0\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 99999999999999999999\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Expect: 100-continue\r\n",
        b"Connection: close\r\n",
        b"Connection: keep-alive\r\n",
        b"Connection: upgrade\r\nUpgrade: websocket\r\n",
        b"X: y\r\n",
        b" folded\r\n",
        b"\r\n",
        b"\n",
        b"\r",
        b"hello",
        b"5\r\nhello\r\n",
        b"0\r\n\r\n",
        b"0\r\nX-Trailer: t\r\n\r\n",
        b"ffffffffffffffffff\r\n",
        b"5;ext=1\r\n",
        b"\x00",
        b"\xff",
        b":",
        b" ",
        b"%",
        b"a" * 200,
    ]
)
SOUP = st.one_of(st.binary(max_size=300), st.lists(HTTP_PIECES, max_size=25).map(b"".join))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """Well-formed requests with bytes changed, inserted, removed or repeated."""
    data = bytearray(b"".join(r.wire for r in draw(conversations())))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "repeat"]))
        if kind == "flip":
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.one_of(st.binary(min_size=1, max_size=8), HTTP_PIECES))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(1, 4))
    return bytes(data)


ACTIONS = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=64),
        HTTP_PIECES,
        st.integers(1, 40).map(Tick),
    ),
    max_size=20,
)


# --- properties: any input ---------------------------------------------------------------


@examples(150)
@given(
    st.one_of(SOUP, mutated()),
    st.lists(st.integers(0, 1 << 16), max_size=12),
    st.sampled_from(sorted(APPS)),
    st.integers(0, 3),
)
@example(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", [], "asgi", 1)
@example(b"GET /\n\r\n\x00", [], "asgi", 1)  # a response must not follow a refusal's EOF
@example(b"GET /api/echo/a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", [], "respond", 0)
@example(b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nab", [30], "respond", 1)
@example(b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: upgrade\r\n\r\n", [], "asgi", 1)
def test_any_bytes_in_any_splits_give_well_formed_responses_and_no_exception(
    data: bytes, cuts: list[int], app_name: str, yields: int
) -> None:
    app, respond = APPS[app_name]
    with no_errors_logged():
        outcome = run(drive(splits(data, cuts), app, respond, yields=yields))
    check_outcome(outcome)


@examples(100)
@given(ACTIONS, st.sampled_from(sorted(APPS)), st.integers(0, 2))
@example([b"GET / HTTP/1.1\r\nHost: a\r\n", Tick(31)], "asgi", 1)
@example([b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 9000\r\n\r\nab", Tick(7)], "respond", 1)
@example([b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Tick(131)], "respond", 1)
def test_bytes_and_passing_time_in_any_order_give_well_formed_responses(
    actions: list[Action], app_name: str, yields: int
) -> None:
    app, respond = APPS[app_name]
    with no_errors_logged():
        outcome = run(drive(actions, app, respond, yields=yields))
    replies = check_outcome(outcome)
    for reply in replies:
        if reply.status == 408:
            assert outcome.closed


# --- properties: well-formed requests ----------------------------------------------------


def _joined(headers: list[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in headers:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def check_answers(replies: list[Reply], sent: list[Req], headers_as: str) -> None:
    """Each request got its own answer: status 200, its method, target, headers and body."""
    assert [r.status for r in replies] == [200] * len(sent), [r.status for r in replies]
    for reply, request in zip(replies, sent, strict=True):
        if request.method == "HEAD":
            continue
        echoed = json.loads(reply.body)
        assert echoed["method"] == request.method
        assert echoed["target"] == request.target
        assert echoed["body"] == hashlib.sha256(request.body).hexdigest()
        if headers_as == "list":
            assert echoed["headers"] == [list(h) for h in request.headers]
        else:
            headers = {k: v for k, v in echoed["headers"].items() if k != "content-length"}
            expected = _joined(request.headers)
            expected.pop("content-length", None)
            assert headers == expected


@examples(150)
@given(
    conversations(),
    st.lists(st.integers(0, 1 << 16), max_size=16),
    st.sampled_from(sorted(APPS)),
    st.integers(0, 3),
)
@example(
    [
        Req(
            b"POST /api/echo/a HTTP/1.1\r\nHost: example\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\nX-Forged: 1\r\nHost: evil.example\r\n\r\n",
            "POST",
            "/api/echo/a",
            [("host", "example"), ("transfer-encoding", "chunked")],
            b"",
            False,
        ),
        Req(
            b"GET /api/echo/b HTTP/1.1\r\nHost: example\r\n\r\n",
            "GET",
            "/api/echo/b",
            [("host", "example")],
            b"",
            False,
        ),
    ],
    [],
    "respond",
    1,
)
def test_well_formed_requests_in_any_splits_each_get_their_own_answer(
    sent: list[Req], cuts: list[int], app_name: str, yields: int
) -> None:
    app, respond = APPS[app_name]
    data = b"".join(r.wire for r in sent)
    with no_errors_logged():
        outcome = run(drive(splits(data, cuts), app, respond, yields=yields, settle=True))
    replies = check_outcome(outcome)
    check_answers(replies, sent, "list" if respond is None else "dict")
    if sent[-1].closes:
        assert outcome.closed


@examples(60)
@given(conversations(), st.lists(st.integers(0, 1 << 16), max_size=8))
def test_well_formed_requests_reach_the_host_application_whole(
    host: TestHost, sent: list[Req], cuts: list[int]
) -> None:
    data = b"".join(r.wire for r in sent)
    outcome = host.run(drive(splits(data, cuts), host.app, host.app.respond, yields=1, settle=True))
    replies = check_outcome(outcome)
    check_answers(replies, sent, "dict")


# --- a head is bounded as it arrives -----------------------------------------------------


def _endless(prefix: bytes, unit: bytes, total: int, chunk: int) -> list[Action]:
    data = prefix + unit * ((total - len(prefix)) // len(unit))
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


HEAD_STARTS = {
    "header line": (b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: ", b"a", 431),
    "header name": (b"GET / HTTP/1.1\r\nHost: a\r\n", b"N", 431),
    "trailer line": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nT: ",
        b"t",
        431,
    ),
    "request line": (b"GET /", b"a", 414),
    "header lines": (b"GET / HTTP/1.1\r\nHost: a\r\n", b"X: y\r\n", 431),
    "trailer lines": (
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        b"T: t\r\n",
        431,
    ),
    # obs-fold (RFC 9112 5.2): refused as malformed (400) or at the limit.
    "folded lines": (b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n", b" y\r\n", 400),
}


@examples(40)
@given(
    st.sampled_from(sorted(HEAD_STARTS)),
    st.sampled_from([1, 7, 512, 4096, 65536]),
    st.sampled_from(sorted(APPS)),
)
def test_a_head_that_never_ends_is_refused_within_its_limit(
    shape: str, chunk: int, app_name: str
) -> None:
    prefix, unit, status = HEAD_STARTS[shape]
    app, respond = APPS[app_name]
    total = 256 * 1024 if chunk >= 512 else 48 * 1024
    outcome = run(drive(_endless(prefix, unit, total, chunk), app, respond, yields=0))
    replies = check_outcome(outcome)
    assert outcome.closed, f"{shape}: {outcome.accepted} bytes read and no refusal"
    limit = MAX_HEADERS_TOTAL if status != 414 else MAX_REQUEST_LINE
    # The limit is checked after each read: the read that crossed it, and the one that began
    # the section (a trailer section begins inside a read), are all that is taken beyond it.
    assert outcome.accepted <= len(prefix) + limit + 64 + 2 * chunk, (shape, outcome.accepted)
    statuses = [r.status for r in replies]
    assert statuses[-1:] in ([status], [431]), statuses


@examples(30)
@given(
    st.integers(MAX_HEADER_COUNT - 5, MAX_HEADER_COUNT + 5),
    st.sampled_from(["X-Same", "distinct"]),
    st.sampled_from(sorted(APPS)),
)
@example(MAX_HEADER_COUNT, "X-Same", "respond")
@example(MAX_HEADER_COUNT + 1, "X-Same", "respond")
def test_more_than_100_header_fields_get_431(count: int, names: str, app_name: str) -> None:
    fields = [f"{names if names != 'distinct' else f'X-{i}'}: v\r\n" for i in range(count - 1)]
    head = "GET /a HTTP/1.1\r\nHost: a\r\n" + "".join(fields) + "\r\n"
    app, respond = APPS[app_name]
    outcome = run(drive([head.encode()], app, respond, yields=1, settle=True))
    replies = check_outcome(outcome)
    expected = 431 if count > MAX_HEADER_COUNT else 200
    assert [r.status for r in replies] == [expected]


def _peak_memory(prefix: bytes, unit: bytes, total: int) -> int:
    """Peak bytes allocated while `total` bytes of a head are fed in 64 KB reads."""
    actions = _endless(prefix, unit, total, 65536)
    tracemalloc.start()
    try:
        run(drive(actions, asgi_echo, yields=0))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("shape", ["header line", "header name", "trailer line", "request line"])
def test_a_never_ending_line_costs_memory_and_time_independent_of_its_length(shape: str) -> None:
    prefix, unit, _ = HEAD_STARTS[shape]
    mib = 1024 * 1024
    large_peak = _peak_memory(prefix, unit, 16 * mib)
    # The data waiting in the list of reads is not counted (it exists before tracing starts):
    # the peak is what the protocol keeps, and must not grow with the line.
    assert large_peak < 2 * mib, f"{shape}: {large_peak} bytes held for a 16 MB line"
    small = _endless(prefix, unit, 1 * mib, 65536)
    large = _endless(prefix, unit, 16 * mib, 65536)
    assert_linear(
        lambda: run(drive(small, asgi_echo, yields=0)),
        lambda: run(drive(large, asgi_echo, yields=0)),
        16,
        0.05,
        shape,
        repeat=2,
    )


# --- the same over real sockets (the in-thread server of tests/e2e) ----------------------


def _send_head(port: int, prefix: bytes, size: int, finish: bytes) -> tuple[float, bytes, bool]:
    """Send `prefix` and `size` bytes of one header line, then `finish`, stopping early if
    the server closes the connection. Seconds until the server answered or closed it, what it
    said, and whether it did either within 5 s of the last byte sent."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    # Closing with unread data resets the connection rather than lingering.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    started = time.perf_counter()
    answer = b""
    ended = False
    try:
        conn.sendall(prefix)
        block = b"a" * 65536
        sent = 0
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < size:
                conn.sendall(block)
                sent += len(block)
            conn.sendall(finish)
        conn.settimeout(5)
        try:
            while chunk := conn.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer:
                    break
            ended = True
        except ConnectionResetError:
            ended = True
        except TimeoutError:
            ended = False
    finally:
        conn.close()
    return time.perf_counter() - started, answer, ended


@pytest.mark.parametrize("finish", [b"\r\n\r\n", b""], ids=["line ends", "line never ends"])
def test_a_long_header_line_over_a_socket_costs_time_proportional_to_its_length(
    finish: bytes,
) -> None:
    """4 MB and 32 MB of one header line: the server refuses both at 32 KB (431), so the
    cost is about the same; it must never grow faster than the length (8x here). A server
    that buffers the line until it ends takes seconds for the 32 MB one (quadratic)."""
    prefix = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: "
    mib = 1024 * 1024
    with run_server(echo_app) as server:
        _send_head(server.port, prefix, 64 * 1024, finish)  # warm up
        small = [_send_head(server.port, prefix, 4 * mib, finish) for _ in range(2)]
        large_s, answer, ended = _send_head(server.port, prefix, 32 * mib, finish)
    assert all(s[2] for s in small) and ended, "no answer and no close within 5 s of the end"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    small_s = min(s[0] for s in small)
    assert large_s <= max(20 * small_s, 0.5), (small_s, large_s)


def test_endless_header_lines_over_a_socket_get_431_as_soon_as_the_head_is_too_large() -> None:
    """One head of short header lines that never ends: 431 once it passes 32 KB (or 100
    fields), while the client is still sending, not when it stops."""
    lines = b"X: y\r\n" * 1000
    with run_server(echo_app) as server:
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        answer = b""
        sent = 0
        try:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                while sent < 64 * 1024 * 1024:
                    conn.sendall(lines)
                    sent += len(lines)
                    if select.select([conn], [], [], 0)[0]:
                        break  # the server has answered (or closed)
            with contextlib.suppress(ConnectionResetError):
                while b"\r\n\r\n" not in answer and (chunk := conn.recv(65536)):
                    answer += chunk
        finally:
            conn.close()
    assert sent < 64 * 1024 * 1024, "64 MB of header lines and no answer"
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:80]
