"""funchost's HTTP/1.1 server (funchost.http.server), over real sockets on 127.0.0.1.

Each test runs the server in a thread with its own event loop, serving a small ASGI app, and
speaks HTTP to it with raw sockets where the bytes on the wire matter.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from funchost.http.limits import HttpLimits
from funchost.http.server import HttpServer
from funchost.supervisor import listening_socket

Scope = dict[str, Any]


async def echo_app(scope: Scope, receive: Any, send: Any) -> None:
    """Paths: /echo (body back, with its length), /slow (after 0.3 s), /stream (three chunks),
    /boom (raises), /badheader, /big (5 MB), /disconnect (waits for the client to leave)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if scope.get("state") is None:
                    raise AssertionError("no lifespan state")
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/boom":
        raise RuntimeError("boom")
    if path == "/slow":
        await asyncio.sleep(0.3)
    if path == "/disconnect":
        message = await receive()
        while message["type"] != "http.disconnect":
            message = await receive()
        DISCONNECTS.append(path)
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = [(b"content-type", b"text/plain")]
    if path == "/badheader":
        headers.append((b"x-bad", b"a\r\nset-cookie: forged=1"))
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    if path == "/big":
        payload = b"x" * (5 * 1024 * 1024)
    else:
        payload = f"{scope['method']} {path} {len(body)} ".encode() + body[:64]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


DISCONNECTS: list[str] = []


class ServerThread:
    def __init__(self, app: Any, **options: Any) -> None:
        self.sock = listening_socket("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.server = HttpServer(app, **options)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import uvloop

        self.loop = uvloop.new_event_loop()
        self.exit_code = self.loop.run_until_complete(self.server.serve(self.sock))
        self.loop.close()

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start (exit {self.exit_code})")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.loop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.server.stop)
        self.thread.join(40)

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return conn


@contextmanager
def run_server(app: Any = echo_app, **options: Any) -> Iterator[ServerThread]:
    server = ServerThread(app, **options).start()
    try:
        yield server
    finally:
        server.stop()
        server.sock.close()


_BUFFERS: dict[int, bytes] = {}


def read_response(conn: socket.socket) -> tuple[bytes, dict[bytes, bytes], bytes]:
    """One response read off the socket: status line, headers, body (content-length framed).
    Bytes of the next response stay buffered for the next call."""
    data = _BUFFERS.pop(conn.fileno(), b"")
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed mid-head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status, *lines = head.split(b"\r\n")
    headers = {k.lower(): v for k, _, v in (line.partition(b": ") for line in lines)}
    length = int(headers.get(b"content-length", b"0"))
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed mid-body: {rest!r}")
        rest += chunk
    if len(rest) > length:
        _BUFFERS[conn.fileno()] = rest[length:]
    return status, headers, rest[:length]


def closed_by_peer(conn: socket.socket, timeout: float = 5) -> bool:
    conn.settimeout(timeout)
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    with run_server() as server, server.connect() as conn:
        for i in range(3):
            conn.sendall(f"GET /r{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status, headers, body = read_response(conn)
            assert status == b"HTTP/1.1 200 OK"
            assert body == f"GET /r{i} 0 ".encode()
            assert b"connection" not in headers
            assert headers[b"date"].endswith(b" GMT")


def test_pipelined_requests_are_answered_in_order() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(
            b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        assert read_response(conn)[2] == b"GET /slow 0 "
        assert read_response(conn)[2] == b"POST /echo 5 hello"
        assert read_response(conn)[2] == b"GET /fast 0 "


def test_http_1_0_request_gets_connection_close() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET /old HTTP/1.0\r\n\r\n")
        status, headers, body = read_response(conn)
        assert status == b"HTTP/1.1 200 OK"
        assert headers[b"connection"] == b"close"
        assert body == b"GET /old 0 "
        assert closed_by_peer(conn)


def test_connection_close_request_header_closes_after_the_response() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert read_response(conn)[1][b"connection"] == b"close"
        assert closed_by_peer(conn)


def test_chunked_request_body_reaches_the_app_whole() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        assert read_response(conn)[2] == b"POST /echo 11 hello world"


def test_expect_100_continue_is_answered_before_the_body_is_sent() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        conn.settimeout(5)
        assert conn.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(b"data")
        assert read_response(conn)[2] == b"POST /echo 4 data"


def test_large_request_and_response_bodies_flow_through() -> None:
    payload = b"y" * (3 * 1024 * 1024 + 17)
    with run_server() as server, httpx.Client(timeout=30) as client:
        answer = client.post(f"http://127.0.0.1:{server.port}/echo", content=payload)
        assert answer.content.startswith(b"POST /echo 3145745 yyyy")
        big = client.get(f"http://127.0.0.1:{server.port}/big")
        assert big.status_code == 200
        assert len(big.content) == 5 * 1024 * 1024


def test_streamed_response_without_length_is_sent_chunked() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head
        assert body == b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n"
    with run_server() as server:
        answer = httpx.get(f"http://127.0.0.1:{server.port}/stream")
        assert answer.text == "one,two,three"


def test_head_response_has_headers_and_no_body() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"HEAD /x HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"GET /after 0 "):
            data += conn.recv(65536)
        first, _, second = data.partition(b"\r\n\r\n")
        assert b"content-length: 10" in first  # "HEAD /x 0 "
        assert second.startswith(b"HTTP/1.1 200 OK")


def test_malformed_request_gets_400_and_the_connection_closes() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n")
        status, headers, _ = read_response(conn)
        assert status == b"HTTP/1.1 400 Bad Request"
        assert headers[b"connection"] == b"close"
        assert closed_by_peer(conn)


def test_oversized_headers_get_431_and_long_url_gets_414() -> None:
    with run_server() as server:
        with server.connect() as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n")
            assert read_response(conn)[0] == b"HTTP/1.1 431 Request Header Fields Too Large"
        with server.connect() as conn:
            conn.sendall(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")
            assert read_response(conn)[0].startswith(b"HTTP/1.1 414 ")


def test_app_exception_gives_500_with_an_empty_body() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_response(conn)
        assert status == b"HTTP/1.1 500 Internal Server Error"
        assert body == b""


def test_header_with_a_line_break_is_never_written() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET /badheader HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = read_response(conn)
        assert status == b"HTTP/1.1 500 Internal Server Error"
        assert b"set-cookie" not in headers


def test_client_disconnect_reaches_the_app_and_the_server_carries_on() -> None:
    DISCONNECTS.clear()
    with run_server() as server:
        with server.connect() as conn:
            conn.sendall(b"POST /disconnect HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            time.sleep(0.2)
        deadline = time.monotonic() + 5
        while not DISCONNECTS and time.monotonic() < deadline:
            time.sleep(0.02)
        assert DISCONNECTS == ["/disconnect"]
        assert httpx.get(f"http://127.0.0.1:{server.port}/ok").text == "GET /ok 0 "


def test_idle_keep_alive_connection_is_closed_after_the_timeout() -> None:
    with run_server(limits=HttpLimits(keep_alive_timeout=0.5)) as server, server.connect() as conn:
        conn.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(conn)
        started = time.monotonic()
        assert closed_by_peer(conn, timeout=5)
        assert time.monotonic() - started < 4


def test_slow_request_head_gets_408() -> None:
    with (
        run_server(limits=HttpLimits(request_headers_timeout=0.5)) as server,
        server.connect() as conn,
    ):
        conn.sendall(b"GET /x HTTP/1.1\r\nHost: x\r\n")
        status, _, _ = read_response(conn)
        assert status == b"HTTP/1.1 408 Request Timeout"
        assert closed_by_peer(conn)


def test_stop_lets_in_flight_requests_finish_and_closes_their_connections() -> None:
    server = ServerThread(echo_app).start()
    try:
        with server.connect() as conn, server.connect() as idle:
            conn.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.05)
            assert server.loop is not None
            server.loop.call_soon_threadsafe(server.server.stop)
            assert closed_by_peer(idle)  # no request in progress: closed at once
            status, headers, body = read_response(conn)
            assert (status, body) == (b"HTTP/1.1 200 OK", b"GET /slow 0 ")
            assert headers[b"connection"] == b"close"
            assert closed_by_peer(conn)
        server.thread.join(10)
        assert server.exit_code == 0
    finally:
        server.stop()
        server.sock.close()


def test_failed_lifespan_startup_means_the_server_does_not_serve() -> None:
    async def failing(scope: Scope, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    server = ServerThread(failing)
    server.thread.start()
    server.thread.join(10)
    server.sock.close()
    assert server.exit_code == 1
    assert not server.server.started
