"""The limits funchost's server holds every client to (issue: no request can stop, stall or
starve the host): head sizes counted as bytes arrive, the head's deadline, the minimum request
and response data rates, trailers, broken bodies, the Host header, UTF-8 paths.

Server-level tests run funchost's server in a thread (tests/e2e/test_http_server.py); the
ones about whether a function runs use the real `funchost start` process.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from funchost.errors import ConfigError
from funchost.hostjson import read_host_options
from funchost.http.exchange import Request, Response
from funchost.http.limits import HttpLimits
from funchost.http.paths import decode_path
from tests.conftest import StartHost, write_app
from tests.e2e.test_http_server import closed_by_peer, read_response, run_server

Scope = dict[str, Any]


class Flood(threading.Thread):
    """Sends `piece` over `conn` until `total` bytes went out, the server closed, or `finish`;
    then shuts down its sending side, as a client does once it has sent its request."""

    def __init__(self, conn: socket.socket, piece: bytes, total: int) -> None:
        super().__init__(daemon=True)
        self.conn, self.piece, self.total, self.sent = conn, piece, total, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while self.sent < self.total and not self.stopped.is_set():
                self.conn.sendall(self.piece)
                self.sent += len(self.piece)
            self.conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def finish(self) -> int:
        """Stop sending; the bytes sent so far."""
        sent = self.sent
        self.stopped.set()
        self.join(10)
        return sent


def _quick_get(port: int) -> float:
    started = time.monotonic()
    assert httpx.get(f"http://127.0.0.1:{port}/ok", timeout=10).status_code == 200
    return time.monotonic() - started


def _status(conn: socket.socket) -> bytes:
    return read_response(conn)[0]


# -- sizes, counted as the bytes arrive


def test_a_header_line_that_never_ends_gets_431_without_buffering_it() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        flood = Flood(conn, b"a" * 65536, 64 * 1024 * 1024)
        flood.start()
        conn.settimeout(10)
        assert _status(conn) == b"HTTP/1.1 431 Request Header Fields Too Large"
        # Refused within a few reads of the limit, not after the whole 64 MB.
        assert flood.finish() < 16 * 1024 * 1024
        assert closed_by_peer(conn)
        assert _quick_get(server.port) < 2


def test_endless_header_lines_get_431() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        flood = Flood(conn, b"X-A: b\r\n" * 512, 64 * 1024 * 1024)
        flood.start()
        conn.settimeout(10)
        assert _status(conn) == b"HTTP/1.1 431 Request Header Fields Too Large"
        flood.finish()
        assert closed_by_peer(conn)


def test_a_request_line_that_never_ends_gets_414() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET /")
        flood = Flood(conn, b"a" * 65536, 64 * 1024 * 1024)
        flood.start()
        conn.settimeout(10)
        assert _status(conn).startswith(b"HTTP/1.1 414 ")
        assert flood.finish() < 16 * 1024 * 1024


def _head_with_fields(count: int) -> bytes:
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(count - 1))
    return b"GET /fields HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"


def test_the_101st_field_gets_431_as_it_arrives() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"a: b\r\n" * 101)  # no end of head
        conn.settimeout(5)
        assert _status(conn) == b"HTTP/1.1 431 Request Header Fields Too Large"


def test_more_than_100_header_fields_get_431() -> None:
    with run_server() as server:
        with server.connect() as conn:
            conn.sendall(_head_with_fields(100))
            assert _status(conn) == b"HTTP/1.1 200 OK"
        with server.connect() as conn:
            conn.sendall(_head_with_fields(101))
            assert _status(conn) == b"HTTP/1.1 431 Request Header Fields Too Large"


# -- time limits


def test_a_head_sent_a_byte_at_a_time_still_gets_408_after_the_timeout() -> None:
    limits = HttpLimits(request_headers_timeout=1.0)
    with run_server(limits=limits) as server, server.connect() as conn:
        started = time.monotonic()
        conn.sendall(b"GET /x HTTP/1.1\r\n")
        try:
            for _ in range(40):  # one more header byte every 0.1 s: 4 s if never stopped
                conn.sendall(b"X")
                time.sleep(0.1)
        except OSError:
            pass
        conn.settimeout(5)
        assert _status(conn) == b"HTTP/1.1 408 Request Timeout"
        assert time.monotonic() - started < 3.5


def test_a_body_that_never_arrives_gets_408_after_the_grace_period() -> None:
    limits = HttpLimits(min_request_body_data_rate_grace_period=1.0)
    with run_server(limits=limits) as server, server.connect() as conn:
        started = time.monotonic()
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        conn.settimeout(10)
        assert _status(conn) == b"HTTP/1.1 408 Request Timeout"
        assert 1.0 <= time.monotonic() - started < 5
        assert closed_by_peer(conn)


def test_a_body_trickling_below_the_minimum_rate_gets_408() -> None:
    limits = HttpLimits(min_request_body_data_rate_grace_period=1.0)
    with run_server(limits=limits) as server, server.connect() as conn:
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        started = time.monotonic()
        try:
            while time.monotonic() - started < 6:  # 10 bytes/s, below 240
                conn.sendall(b"a")
                time.sleep(0.1)
        except OSError:
            pass
        conn.settimeout(10)
        assert _status(conn) == b"HTTP/1.1 408 Request Timeout"
        assert time.monotonic() - started < 5.5


def test_a_body_at_a_steady_rate_above_the_minimum_is_read_whole() -> None:
    limits = HttpLimits(min_request_body_data_rate_grace_period=1.0, min_request_body_data_rate=50)
    with run_server(limits=limits) as server, server.connect() as conn:
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n")
        for _ in range(20):  # 100 bytes/s for 2 s
            conn.sendall(b"b" * 10)
            time.sleep(0.1)
        status, _, body = read_response(conn)
        assert status == b"HTTP/1.1 200 OK"
        assert body.startswith(b"POST /echo 200 ")


def test_a_client_that_does_not_read_its_response_is_dropped_with_the_response() -> None:
    limits = HttpLimits(min_response_data_rate_grace_period=1.0)
    with run_server(limits=limits) as server:
        conn = socket.socket()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.connect(("127.0.0.1", server.port))
        with conn:
            conn.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")  # 5 MB
            connections = server.server.state.connections
            deadline = time.monotonic() + 10
            while not connections and time.monotonic() < deadline:
                time.sleep(0.01)
            assert connections
            while connections and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not connections  # the server let go of it
            received = 0
            conn.settimeout(5)
            try:
                while chunk := conn.recv(65536):
                    received += len(chunk)
            except ConnectionResetError:
                pass
            assert received < 5 * 1024 * 1024


def test_a_slow_reader_above_the_minimum_rate_gets_the_whole_response() -> None:
    limits = HttpLimits(min_response_data_rate_grace_period=1.0, min_response_data_rate=1000)
    with run_server(limits=limits) as server:
        conn = socket.socket()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.connect(("127.0.0.1", server.port))
        with conn:
            conn.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            received = 0
            while received < 5 * 1024 * 1024 + 100:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                received += len(chunk)
                if received < 100_000:
                    time.sleep(0.05)  # about 1 MB/s at first, then as fast as it can
            assert received > 5 * 1024 * 1024


# -- trailers, bodies, Host, upgrades


async def _headers_app(scope: Scope, receive: Any, send: Any) -> None:
    """Answers with the request's headers, one `name: value` per line, after its body."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    lines = b"\n".join(b"%s: %s" % pair for pair in scope["headers"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": lines})


async def _headers_respond(request: Request) -> Response:
    await request.read_body(1 << 20)
    lines = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
    return Response(200, [], lines.encode())


@pytest.mark.parametrize("path", ["asgi", "respond"])
def test_chunked_trailers_never_become_headers_of_the_next_request(path: str) -> None:
    options: dict[str, Any] = {} if path == "asgi" else {"respond": _headers_respond}
    with run_server(_headers_app, **options) as server, server.connect() as conn:
        conn.sendall(
            b"POST /a HTTP/1.1\r\nHost: good.example\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\nHost: evil.example\r\nX-Functions-Key: stolen\r\n\r\n"
            b"GET /b HTTP/1.1\r\nHost: good.example\r\n\r\n"
        )
        first = read_response(conn)[2]
        second = read_response(conn)[2]
    for body in (first, second):
        assert b"evil" not in body
        assert b"stolen" not in body
    assert second.lower().count(b"host: ") == 1


def test_endless_trailers_get_431() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\nX-Trailer: "
        )
        flood = Flood(conn, b"t" * 65536, 64 * 1024 * 1024)
        flood.start()
        conn.settimeout(10)
        assert _status(conn) == b"HTTP/1.1 431 Request Header Fields Too Large"
        assert flood.finish() < 16 * 1024 * 1024
        assert closed_by_peer(conn)


def test_missing_or_repeated_host_header_gets_400() -> None:
    with run_server() as server:
        for head in (
            b"GET /a HTTP/1.1\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET /a HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
        ):
            with server.connect() as conn:
                conn.sendall(head)
                assert _status(conn) == b"HTTP/1.1 400 Bad Request", head
        with server.connect() as conn:
            conn.sendall(b"GET /a HTTP/1.0\r\n\r\n")  # HTTP/1.0 needs no Host
            assert _status(conn) == b"HTTP/1.1 200 OK"


def test_percent_encoded_paths_decode_as_utf8_keeping_slashes_and_bad_bytes() -> None:
    assert decode_path(b"/api/blob/caf%C3%A9") == "/api/blob/café"
    assert decode_path(b"/a%2Fb%2fc") == "/a%2Fb%2fc"  # an encoded slash is not a separator
    assert decode_path(b"/bad%FF%C3") == "/bad%FF%C3"  # not UTF-8: kept escaped
    assert decode_path(b"/sp%20ace%") == "/sp ace%"
    assert decode_path("/raw-é".encode()) == "/raw-é"


def test_host_json_limits_are_read_and_bad_ones_named(tmp_path: Path) -> None:
    write_app(
        tmp_path,
        {
            "host.json": '{"version": "2.0", "extensions": {"http": {"limits": '
            '{"maxRequestHeaderCount": 20, "requestHeadersTimeout": "00:00:10", '
            '"minResponseDataRate": 0}}}}'
        },
    )
    limits = read_host_options(tmp_path).http_limits
    assert limits.max_request_header_count == 20
    assert limits.request_headers_timeout == 10.0
    assert limits.min_response_data_rate == 0
    assert limits.keep_alive_timeout == 130.0
    for bad, named in (
        ('{"maxRequestHeaderCount": "many"}', "extensions.http.limits.maxRequestHeaderCount"),
        ('{"keepAliveTimeout": "soon"}', "extensions.http.limits.keepAliveTimeout"),
        ('{"maxHeaders": 3}', "unknown limit 'maxheaders'"),
        ("[]", "extensions.http.limits must be a JSON object"),
    ):
        (tmp_path / "host.json").write_text(
            '{"version": "2.0", "extensions": {"http": {"limits": ' + bad + "}}}"
        )
        with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
            read_host_options(tmp_path)


# -- through the real host: which requests run a function

COUNTING_APP = {
    "function_app.py": """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
CALLS = []


@app.route(route="store/{name}", methods=["POST", "GET"])
def store(req: func.HttpRequest) -> func.HttpResponse:
    CALLS.append(req.get_body())
    return func.HttpResponse(f"{req.route_params['name']}|{len(req.get_body())}")


@app.route(route="calls")
def calls(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(",".join(str(len(b)) for b in CALLS))
""",
    "host.json": '{"version": "2.0", "extensions": {"http": {"limits": '
    '{"maxRequestHeaderCount": 8, "minRequestBodyDataRateGracePeriod": "00:00:01"}}}}',
}


def _raw(port: int, data: bytes, then_close: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(data)
        if then_close:
            conn.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return received


def test_requests_whose_body_did_not_arrive_whole_never_run(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(write_app(tmp_path / "app", COUNTING_APP))
    port = host.port
    # Declares 100 bytes, sends 10 and leaves.
    _raw(port, b"POST /api/store/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    # A malformed chunk after the head: 400, and the function does not run.
    answer = _raw(
        port,
        b"POST /api/store/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\nZZ\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    # A protocol upgrade: 400 before the function runs.
    answer = _raw(
        port,
        b"GET /api/store/c HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    # A body that never comes: 408 after the (host.json) grace period of 1 s.
    answer = _raw(
        port,
        b"POST /api/store/d HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n",
        then_close=False,
    )
    assert answer.startswith(b"HTTP/1.1 408 ")
    # Nine header fields with host.json's maxRequestHeaderCount of 8.
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(8))
    answer = _raw(port, b"GET /api/store/e HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert host.client.post("/api/store/whole", content=b"x" * 10).text == "whole|10"
    assert host.client.get("/api/calls").text == "10"  # only the whole request ran


def test_route_values_are_decoded_as_utf8(start_host: StartHost, tmp_path: Path) -> None:
    host = start_host(write_app(tmp_path / "app", COUNTING_APP))
    assert host.client.get("/api/store/caf%C3%A9").text == "café|0"
    assert host.client.get("/api/store/a%2Fb").text == "a%2Fb|0"  # not a separator


def test_a_fragment_in_the_request_target_is_dropped(start_host: StartHost, tmp_path: Path) -> None:
    host = start_host(write_app(tmp_path / "app", COUNTING_APP))
    answer = _raw(host.port, b"GET /api/store/a#frag HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.endswith(b"\r\n\r\na|0")


async def _answer_without_reading(scope: Scope, receive: Any, send: Any) -> None:
    """5 MB back after 0.3 s (the body meanwhile fills the buffers), the body never read."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await asyncio.sleep(0.3)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"r" * (5 * 1024 * 1024)})


def test_a_response_written_before_the_body_is_read_reaches_the_client_whole() -> None:
    # Closing a socket with unread bytes resets it, and a reset drops whatever of the
    # response the kernel still holds: the server must stop sending, not close, first.
    with run_server(_answer_without_reading) as server:
        for _ in range(3):
            conn = socket.socket()
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # most stays server-side
            conn.connect(("127.0.0.1", server.port))
            with conn:
                size = 256 * 1024 * 1024
                conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
                flood = Flood(conn, b"z" * 65536, size)
                flood.start()
                time.sleep(0.5)  # the response waits in the kernel while the body floods in
                conn.settimeout(10)
                status, _, body = read_response(conn)
                assert status == b"HTTP/1.1 200 OK"
                assert len(body) == 5 * 1024 * 1024
                flood.finish()


def test_an_early_answer_reaches_a_client_still_sending_its_body(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(
        write_app(tmp_path / "app", COUNTING_APP),
        env={"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT": "1000"},
    )
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", host.port), timeout=10) as conn:
            size = 32 * 1024 * 1024
            conn.sendall(
                b"POST /api/store/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size
            )
            flood = Flood(conn, b"z" * 65536, size)
            flood.start()
            # The 413 comes before the body is read; the client keeps sending meanwhile and
            # must still be able to read the answer, not a reset.
            assert _status(conn).startswith(b"HTTP/1.1 413 ")  # the phrase varies by Python
            flood.finish()
            assert closed_by_peer(conn, timeout=10)


def test_garbage_after_a_whole_request_ends_the_connection_after_its_answer() -> None:
    with run_server() as server, server.connect() as conn:
        conn.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01 not http\r\n\r\n")
        status, headers, body = read_response(conn)
        assert (status, body) == (b"HTTP/1.1 200 OK", b"GET /slow 0 ")
        assert headers[b"connection"] == b"close"
        assert closed_by_peer(conn)


def test_route_values_decode_alike_under_uvicorn_and_in_test_host(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    import sys

    from funchost.testing import TestHost
    from tests.conftest import free_port, launch

    app = write_app(tmp_path / "app", COUNTING_APP)
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "funchost.asgi:app_from_environment"]
    env = {**host_env, "FUNCHOST_APP_DIR": str(app)}
    host = launch([*cmd, "--port", str(port)], env, tmp_path / "uvicorn.log", port)
    try:
        host.wait_until_ready()
        assert host.client.get("/api/store/caf%C3%A9").text == "café|0"
        assert host.client.get("/api/store/a%2Fb").text == "a%2Fb|0"  # not a separator
    finally:
        host.stop()
    with TestHost(app) as test_host:
        assert test_host.client.get("/api/store/caf%C3%A9").text == "café|0"


async def _target_respond(request: Request) -> Response:
    return Response(200, [], f"{request.path}|{request.query_string.decode()}".encode())


def test_a_fragment_after_a_query_is_dropped_too() -> None:
    with run_server(_headers_app, respond=_target_respond) as server, server.connect() as conn:
        conn.sendall(b"GET /a/b?code=KEY&x=1#frag HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(conn)[2] == b"/a/b|code=KEY&x=1"
        conn.sendall(b"GET /a/b#frag?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(conn)[2] == b"/a/b|"
