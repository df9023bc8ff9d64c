"""The admin API when keys are off, health probes, and what the access log never shows."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import APPS, RunningHost, StartHost, read_http_response


@pytest.fixture
def started(start_host: StartHost) -> RunningHost:
    """`funchost start`: keys off, so only the Host/Origin rule protects the admin API."""
    return start_host(APPS / "v1", "--no-reload", "--verbose")


def _raw(port: int, head: str, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send `head` (request line and headers, no body unless it says so) on a new connection;
    the response's status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1"))
        return read_http_response(sock)


def test_ping_never_reads_the_request_body(started: RunningHost) -> None:
    began = time.monotonic()
    status, _, _ = _raw(
        started.port,
        "POST /admin/host/ping HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99000000\r\n\r\n",
    )
    assert status == 200
    assert time.monotonic() - began < 5  # at once: not after a body that never comes


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # another port is another origin
        {"Origin": "https://{here}"},  # and so is another scheme
        {"Host": "evil.example:{port}"},  # DNS rebinding: a foreign name that resolves here
        {"Host": "evil.example:{port}", "Origin": "http://evil.example:{port}"},
        {"Host": "localhost.evil.example"},
        {"Host": "10.1.2.3"},
    ],
)
def test_start_refuses_admin_requests_from_web_pages(
    started: RunningHost, headers: dict[str, str]
) -> None:
    port = started.port
    values = {k: v.format(port=port, here=f"127.0.0.1:{port}") for k, v in headers.items()}
    values.setdefault("Host", f"127.0.0.1:{port}")
    lines = "".join(f"{k}: {v}\r\n" for k, v in values.items())
    body = json.dumps({"input": ""})
    for request in (
        f"POST /admin/functions/TimerJob HTTP/1.1\r\n{lines}Content-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}",
        f"GET /admin/host/status HTTP/1.1\r\n{lines}\r\n",
        f"GET /admin/functions HTTP/1.1\r\n{lines}\r\n",
    ):
        status, _, answer = _raw(port, request)
        assert (status, answer) == (403, b"")
    out = started.wait_for_output("Refused GET /admin/functions: without keys")
    assert "Functions.TimerJob" not in out
    # Health probes come from anywhere (a pod IP, a load balancer's name).
    status, _, _ = _raw(port, f"GET /admin/host/ping HTTP/1.1\r\n{lines}\r\n")
    assert status == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Host": "localhost:{port}"},
        {"Host": "LOCALHOST:{port}", "Origin": "http://localhost:{port}"},
        {"Host": "app.localhost:{port}", "Origin": "http://app.localhost:{port}"},
        {"Host": "127.0.0.1:{port}", "Origin": "http://127.0.0.1:{port}"},
        {"Host": "127.0.0.2:{port}"},
        {"Host": "[::1]:{port}"},
    ],
)
def test_start_serves_admin_requests_from_this_machine(
    started: RunningHost, headers: dict[str, str]
) -> None:
    port = started.port
    values = {k: v.format(port=port) for k, v in headers.items()}
    values.setdefault("Host", f"127.0.0.1:{port}")
    lines = "".join(f"{k}: {v}\r\n" for k, v in values.items())
    status, _, body = _raw(port, f"GET /admin/host/status HTTP/1.1\r\n{lines}\r\n")
    assert status == 200 and json.loads(body)["state"] == "Running"
    invoke = json.dumps({"input": ""})
    status, _, _ = _raw(
        port,
        f"POST /admin/functions/TimerJob HTTP/1.1\r\n{lines}Content-Type: application/json\r\n"
        f"Content-Length: {len(invoke)}\r\n\r\n{invoke}",
    )
    assert status == 202


def test_serve_keeps_the_admin_api_behind_the_master_key_from_any_host(
    start_host: StartHost, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    host = start_host(APPS / "v1", command="serve", env={"FUNCTIONS_SECRETS_PATH": str(secrets)})
    master = json.loads((secrets / "host.json").read_text())["masterKey"]["value"]
    foreign = {"Host": "pod-10-1-2-3.example", "Origin": "http://evil.example"}
    assert host.client.get("/admin/host/ping", headers=foreign).status_code == 200
    assert host.client.get("/admin/host/status", headers=foreign).status_code == 401
    keyed = {**foreign, "x-functions-key": master}
    assert host.client.get("/admin/host/status", headers=keyed).status_code == 200


def test_the_access_log_hides_an_encoded_code_parameter_and_never_shows_a_fragment(
    start_host: StartHost, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    host = start_host(
        APPS / "v1",
        "--no-reload",
        "--verbose",
        "--enable-auth",
        env={"FUNCTIONS_SECRETS_PATH": str(secrets)},
    )
    key = json.loads((secrets / "keyed.json").read_text())["keys"][0]["value"]
    port = host.port
    for target in (
        f"/api/Keyed?%63ode={key}&x=1",  # percent-encoded name: still the key, so hidden
        f"/api/Keyed?C%4Fde={key}&x=2",
        f"/api/Keyed?x=3&code={key}#fragment-secret-1",
        "/api/HttpHello#fragment-secret-2",
    ):
        _raw(port, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
    status, _, _ = _raw(port, f"GET /api/Keyed?%63ode={key} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 200  # the encoded name authenticates
    out = host.wait_for_output('"GET /api/Keyed?%63ode=[hidden]" 200')
    host.wait_for_output('"GET /api/HttpHello')
    assert '"GET /api/Keyed?%63ode=[hidden]&x=1" 200' in out
    assert '"GET /api/Keyed?C%4Fde=[hidden]&x=2" ' in out  # hidden whatever its status
    assert key not in out
    assert "fragment-secret" not in host.output()
