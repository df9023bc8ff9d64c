"""Responses made in one pass of the event loop are written together (funchost.http.protocol):
every client still gets its own response, in order, and a connection that closes gets its
response before the close, whichever way it closes.

Many clients send at once, so their requests are read in one pass and their responses held
and written together; each response names its request, so a response written to the wrong
connection, lost or reordered fails the test.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.conftest import StartHost, write_app

APP = {
    "function_app.py": """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="echo", methods=["GET"])
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("n=" + req.params.get("n", ""))
"""
}


def _read_responses(
    conn: socket.socket, count: int, until_closed: bool, timeout: float = 10.0
) -> tuple[list[bytes], bool]:
    """The bodies of the next `count` responses on `conn` (content-length framed), and
    whether the server closed the connection after them (looked for `until_closed` only)."""
    conn.settimeout(timeout)
    data = b""
    bodies: list[bytes] = []
    closed = False
    deadline = time.monotonic() + timeout
    while len(bodies) < count or not closed:
        while len(bodies) < count:
            head_end = data.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = data[:head_end].decode("latin-1").lower()
            assert head.startswith("http/1.1 200 "), head
            length = int(head.split("content-length: ")[1].split("\r\n")[0])
            if len(data) < head_end + 4 + length:
                break
            bodies.append(data[head_end + 4 : head_end + 4 + length])
            data = data[head_end + 4 + length :]
        if len(bodies) == count and not until_closed:
            break
        if time.monotonic() > deadline:
            break
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            closed = True
            break
        data += chunk
    assert not data, data
    return bodies, closed


def test_many_clients_at_once_each_get_their_own_responses(
    tmp_path: Path, start_host: StartHost
) -> None:
    host = start_host(write_app(tmp_path / "app", APP), command="serve")
    for round_no in range(5):
        conns: list[tuple[socket.socket, str, list[str]]] = []
        for i in range(48):
            conn = socket.create_connection(("127.0.0.1", host.port))
            kind = ("keep-alive", "pipelined", "close", "http/1.0", "half-closed")[i % 5]
            names = [f"{round_no}-{i}-{k}" for k in range(3 if kind == "pipelined" else 1)]
            conns.append((conn, kind, names))
        for conn, kind, names in conns:  # every request sent before any response is read
            version = "HTTP/1.0" if kind == "http/1.0" else "HTTP/1.1"
            extra = "Connection: close\r\n" if kind == "close" else ""
            conn.sendall(
                b"".join(
                    f"GET /api/echo?n={name} {version}\r\nHost: x\r\n{extra}\r\n".encode()
                    for name in names
                )
            )
            if kind == "half-closed":
                conn.shutdown(socket.SHUT_WR)
        for conn, kind, names in conns:
            with conn:
                closes = kind in ("close", "http/1.0", "half-closed")
                bodies, closed = _read_responses(conn, len(names), closes)
                assert bodies == [f"n={name}".encode() for name in names], kind
                assert closed == closes, kind


def test_a_lone_request_is_answered_at_once(tmp_path: Path, start_host: StartHost) -> None:
    host = start_host(write_app(tmp_path / "app", APP), command="serve")
    with socket.create_connection(("127.0.0.1", host.port)) as conn:
        for i in range(20):
            started = time.perf_counter()
            conn.sendall(f"GET /api/echo?n={i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            bodies, closed = _read_responses(conn, 1, False)
            assert bodies == [f"n={i}".encode()] and not closed
            assert time.perf_counter() - started < 1.0
