"""Request bodies through the running host: what is parsed for binding data, when, and how much
memory bodies may take at once (the body budget)."""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import (
    RunningHost,
    StartHost,
    free_port,
    launch,
    read_http_response,
    write_app,
)
from tests.stores import Backend

BODIES_APP = """
import azure.functions as func

app = func.FunctionApp()


@app.route(route="fixed", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="msg", queue_name="fixed-out", connection="AzureWebJobsStorage")
def fixed(req: func.HttpRequest, msg: func.Out[str]) -> func.HttpResponse:
    msg.set("seen")
    return func.HttpResponse(str(len(req.get_body())))


@app.route(route="named", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="msg", queue_name="out-{name}", connection="AzureWebJobsStorage")
def named(req: func.HttpRequest, msg: func.Out[str]) -> func.HttpResponse:
    msg.set(str(len(req.get_body())))
    return func.HttpResponse("queued")


@app.route(route="upload", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.blob_output(arg_name="out", path="uploads/{rand-guid}.bin", connection="AzureWebJobsStorage")
def upload(req: func.HttpRequest, out: func.Out[bytes]) -> func.HttpResponse:
    out.set(req.get_body())
    return func.HttpResponse(str(len(req.get_body())))


@app.route(route="size", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def size(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(str(len(req.get_body())))
"""

MB = 1024 * 1024


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return write_app(tmp_path / "bodies", {"function_app.py": BODIES_APP})


@pytest.fixture
def store(host_env: dict[str, str], app: Path) -> Iterator[Backend]:
    backend = Backend("embedded", None, Path(host_env["FUNCHOST_STATE_DIR"]))
    yield backend
    backend.close()


def _start(start_host: StartHost, app: Path, **env: str) -> RunningHost:
    # One process (no reloader), so its memory is the host's; the embedded store.
    return start_host(app, "--no-reload", env={"AzureWebJobsStorage": "", **env})


def _memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def _array_of_empty_objects(size: int) -> bytes:
    return b"[" + b"{}," * (size // 3) + b"{}]"


def test_a_json_array_body_is_not_parsed_when_no_expression_reads_it(
    start_host: StartHost, app: Path
) -> None:
    host = _start(start_host, app)
    assert host.client.post("/api/fixed", content=b"[{}]").text == "4"  # everything loaded
    before = _memory_kb(host.proc.pid, "VmHWM")
    body = _array_of_empty_objects(40 * MB)
    response = host.client.post("/api/fixed", content=body, timeout=120)
    assert response.status_code == 200 and response.text == str(len(body))
    grown = _memory_kb(host.proc.pid, "VmHWM") - before
    # The body is held (and joined from its pieces) but never parsed: parsed, it took 1 GB.
    assert 30 * 1024 < grown < 300 * 1024, f"peak memory grew by {grown} kB"


def test_other_requests_are_answered_while_a_large_json_body_is_handled(
    start_host: StartHost, app: Path
) -> None:
    host = _start(start_host, app)
    body = _array_of_empty_objects(60 * MB)  # parsed on the event loop, it stalled it 2.7 s
    done = threading.Event()
    answers: list[int] = []

    def upload() -> None:
        try:
            answers.append(
                httpx.post(f"{host.base_url}/api/fixed", content=body, timeout=120).status_code
            )
        finally:
            done.set()

    slowest = 0.0
    with httpx.Client(base_url=host.base_url, timeout=30) as client:
        client.get("/admin/host/ping")
        worker = threading.Thread(target=upload)
        worker.start()
        while not done.is_set():
            started = time.monotonic()
            assert client.get("/admin/host/ping").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
        worker.join()
    assert answers == [200]
    # Parsing the body on the event loop stalled every request for seconds.
    assert slowest < 0.75, f"a ping took {slowest:.2f} s"


def test_a_deeply_nested_body_runs_a_function_whose_expressions_do_not_read_it(
    start_host: StartHost, app: Path, store: Backend
) -> None:
    host = _start(start_host, app)
    body = b"[" * 200_000 + b"]" * 200_000
    response = host.client.post("/api/fixed", content=body)
    assert response.status_code == 200 and response.text == str(len(body))
    assert store.client(app).take("fixed-out") == ["seen"]


def test_a_body_property_in_an_expression_is_read_from_a_json_object(
    start_host: StartHost, app: Path, store: Backend
) -> None:
    host = _start(start_host, app)
    client = store.client(app)
    small = b'{"name": "small", "x": 1}'
    assert host.client.post("/api/named", content=small).text == "queued"
    assert client.take("out-small") == [str(len(small))]
    # A large one is parsed too (off the event loop), up to the documented 1 MiB.
    big = json.dumps({"pad": [{}] * 250_000, "Name": "big"}).encode()
    assert 16 * 1024 < len(big) < MB
    assert host.client.post("/api/named", content=big).text == "queued"
    assert client.take("out-big") == [str(len(big))]
    # A query value wins over the body, which is then not read at all.
    response = host.client.post("/api/named", params={"name": "q"}, content=b"not json")
    assert response.text == "queued"
    assert client.take("out-q") == ["8"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"name=plain", "is not a JSON object"),
        (b'["name"]', "is not a JSON object"),
        (b'{"name": "x",', "is not valid JSON"),
        (b'{"name": "x", "a": ' + b"[" * 100 + b"]" * 100 + b"}", "nests deeper than 64 levels"),
        (b'{"name": "x", "pad": "' + b"x" * MB + b'"}', "is larger than 1048576 bytes"),
    ],
)
def test_a_body_an_expression_needs_but_cannot_read_gets_400_saying_why(
    start_host: StartHost, app: Path, store: Backend, body: bytes, problem: str
) -> None:
    host = _start(start_host, app)
    response = host.client.post("/api/named", content=body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    line = response.text
    assert line.count("\n") == 1 and line.endswith("\n")
    assert line.startswith(f"The request body {problem}")
    assert "{name}" in line
    assert store.client(app).take("out-x") == []
    assert "Executing 'Functions.named'" not in host.output()


def test_a_built_in_expression_needs_no_json_body(start_host: StartHost, app: Path) -> None:
    host = _start(start_host, app)
    response = host.client.post("/api/upload", content=b"\x00binary, not JSON")
    assert response.status_code == 200 and response.text == "17"


# -- the body budget


def _send_head(port: int, path: str, length: int, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {length}\r\n\r\n".encode()
        + first
    )
    return sock


def _parallel_uploads(port: int, size: int, count: int) -> bool:
    """Whether `count` uploads of `size` bytes, all begun before any is sent, all succeed."""
    socks = [_send_head(port, "/api/size", size) for _ in range(count)]
    try:
        # A refusal (503) comes at once, before the body; an accepted upload waits for it.
        readable, _, _ = select.select(socks, [], [], 2.0)
        if readable:
            return False
        for sock in socks:
            sock.sendall(b"y" * size)
        return all(read_http_response(sock)[0] == 200 for sock in socks)
    except OSError:
        return False
    finally:
        for sock in socks:
            sock.close()


def test_parallel_uploads_past_the_body_budget_get_503_and_the_budget_is_given_back(
    start_host: StartHost, app: Path
) -> None:
    host = _start(start_host, app)
    port = host.port
    size = 95 * MB
    first = _send_head(port, "/api/size", size, b"x" * MB)
    second = _send_head(port, "/api/size", size, b"x" * MB)
    # Two 95 MB bodies fit the default budget (twice the 100 MB body limit); a third does not.
    third = _send_head(port, "/api/size", size)
    status, headers, body = read_http_response(third)
    third.close()
    assert status == 503 and body == b""
    assert int(headers["retry-after"]) > 0
    # A body that completes gives its share back, and so does one whose client leaves: two
    # parallel uploads fit again (with either share kept, the second would get 503).
    first.sendall(b"x" * (size - MB))
    status, _, body = read_http_response(first)
    assert (status, body) == (200, str(size).encode())
    first.close()
    second.close()
    deadline = time.monotonic() + 60
    while not _parallel_uploads(port, size, 2):  # the host notices the closed one soon
        assert time.monotonic() < deadline, "the budget was not given back"
        time.sleep(0.2)
    assert host.client.post("/api/size", content=b"still fine").text == "10"


def test_the_body_budget_is_a_setting(start_host: StartHost, app: Path) -> None:
    host = _start(start_host, app, FUNCHOST_REQUEST_BODY_BUDGET=str(150 * MB))
    socks = [_send_head(host.port, "/api/size", 95 * MB) for _ in range(2)]
    try:
        readable, _, _ = select.select(socks, [], [], 30)
        assert len(readable) == 1  # one of the two fits in 150 MB, the other is refused
        assert read_http_response(readable[0])[0] == 503
    finally:
        for sock in socks:
            sock.close()


def test_the_body_budget_holds_under_a_plain_asgi_server(
    tmp_path: Path, host_env: dict[str, str], app: Path
) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "funchost.asgi:app_from_environment"]
    cmd += ["--port", str(port), "--http", "h11", "--loop", "asyncio"]
    env = {
        **host_env,
        "FUNCHOST_APP_DIR": str(app),
        "AzureWebJobsStorage": "",
        "FUNCHOST_REQUEST_BODY_BUDGET": str(150 * MB),
    }
    host = launch(cmd, env, tmp_path / "uvicorn.log", port)
    try:
        host.wait_until_ready()
        socks = [_send_head(port, "/api/size", 95 * MB) for _ in range(2)]
        try:
            readable, _, _ = select.select(socks, [], [], 30)
            assert len(readable) == 1
            status, headers, _ = read_http_response(readable[0])
            assert status == 503 and int(headers["retry-after"]) > 0
        finally:
            for sock in socks:
                sock.close()
        assert host.client.post("/api/size", content=b"x" * MB).text == str(MB)
    finally:
        host.stop()
