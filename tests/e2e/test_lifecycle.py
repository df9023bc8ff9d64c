"""Stopping, draining, several worker processes, and the host as a plain ASGI app."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import APPS, RunningHost, StartHost, free_port, launch, write_app

SLOW_APP = """
import os, signal, time
import azure.functions as func
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="slow")
def slow(req: func.HttpRequest) -> str:
    time.sleep(float(req.params.get("s", "1.5")))
    return "drained"

@app.route(route="pid")
def pid(req: func.HttpRequest) -> str:
    return str(os.getpid())

@app.route(route="crash")
def crash(req: func.HttpRequest) -> str:
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sigterm_drains_in_flight_requests_then_exits_0(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(write_app(tmp_path / "app", {"function_app.py": SLOW_APP}), command="serve")
    result: dict[str, httpx.Response] = {}
    t = threading.Thread(
        target=lambda: result.update(r=httpx.get(f"{host.base_url}/api/slow", timeout=30))
    )
    t.start()
    time.sleep(0.5)
    host.proc.send_signal(signal.SIGTERM)
    t.join(30)
    assert result["r"].status_code == 200 and result["r"].text == "drained"
    assert host.proc.wait(30) == 0


def test_ctrl_c_under_start_lets_in_flight_requests_finish(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    # A terminal's Ctrl-C sends SIGINT to every process of its group: the reloader and the
    # host process both get it, and the reloader then sends the host its own SIGTERM. The two
    # signals are one stop, not "stop at once".
    app = write_app(tmp_path / "app", {"function_app.py": SLOW_APP})
    port = free_port()
    cmd = [sys.executable, "-m", "funchost", "start", str(app), "--port", str(port)]
    with open(tmp_path / "start.log", "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=host_env, start_new_session=True
        )
    host = RunningHost(proc, port, tmp_path / "start.log")
    try:
        host.wait_until_ready()
        result: dict[str, httpx.Response] = {}
        t = threading.Thread(
            target=lambda: result.update(r=httpx.get(f"{host.base_url}/api/slow", timeout=30))
        )
        t.start()
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)  # the group this test started, as a terminal would
        t.join(30)
        assert result["r"].status_code == 200 and result["r"].text == "drained"
        assert proc.wait(30) == 0
    finally:
        host.stop()


def _pids(base_url: str, n: int) -> set[str]:
    # New connections spread over the worker processes sharing the socket.
    return {
        httpx.get(f"{base_url}/api/pid", headers={"connection": "close"}).text for _ in range(n)
    }


def test_serve_workers_share_one_port_and_replace_a_crashed_worker(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(
        write_app(tmp_path / "app", {"function_app.py": SLOW_APP}),
        "--workers",
        "2",
        command="serve",
    )
    deadline = time.monotonic() + 30
    pids: set[str] = set()
    while len(pids) < 2 and time.monotonic() < deadline:
        pids |= _pids(host.base_url, 10)
    assert len(pids) == 2, pids
    with contextlib.suppress(httpx.TransportError):
        httpx.get(f"{host.base_url}/api/crash", timeout=10)
    # The supervisor notices the dead worker and starts another.
    deadline = time.monotonic() + 30
    new_pids: set[str] = set()
    while time.monotonic() < deadline:
        new_pids = set()
        for _ in range(20):
            with contextlib.suppress(httpx.TransportError):
                new_pids |= _pids(host.base_url, 1)
        alive = {p for p in new_pids if Path(f"/proc/{p}").exists()}
        if len(alive) == 2 and new_pids - pids:
            break
        time.sleep(0.5)
    assert len(new_pids - pids) >= 1, (pids, new_pids)
    host.proc.send_signal(signal.SIGTERM)
    assert host.proc.wait(30) == 0


def test_the_host_runs_under_a_plain_asgi_server(tmp_path: Path, host_env: dict[str, str]) -> None:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "funchost.asgi:app_from_environment",
        "--port",
        str(port),
        "--http",
        "h11",
        "--loop",
        "asyncio",
    ]
    env = {**host_env, "FUNCHOST_APP_DIR": str(APPS / "v2")}
    host = launch(cmd, env, tmp_path / "uvicorn.log", port)
    try:
        host.wait_until_ready()
        assert host.client.get("/api/hello?name=asgi").text == "Hello, asgi!"
        # Production mode by default: keys enforced.
        assert host.client.get("/api/secure").status_code == 401
    finally:
        host.stop()


RELOAD_APP = """
import azure.functions as func
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="version")
def version(req: func.HttpRequest) -> str:
    return "VERSION"
"""


def _wait_for_text(host_url: str, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            last = httpx.get(f"{host_url}/api/version").text
            if last == text:
                return
        time.sleep(0.1)
    raise AssertionError(f"still serving {last!r}, expected {text!r}")


def test_start_reloads_when_a_file_changes(start_host: StartHost, tmp_path: Path) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "function_app.py": RELOAD_APP.replace("VERSION", "one"),
            "local.settings.json": '{"Values": {"A": "1"}}',
        },
    )
    host = start_host(app)
    assert host.client.get("/api/version").text == "one"
    time.sleep(1)  # the watcher starts a moment after the first server process
    (app / "function_app.py").write_text(RELOAD_APP.replace("VERSION", "two"))
    _wait_for_text(host.base_url, "two")
    assert host.output().count("Functions:") == 2  # the banner again, from the new process
    assert host.stop() == 0


def test_no_reload_flag_keeps_the_loaded_code(start_host: StartHost, tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": RELOAD_APP.replace("VERSION", "one")})
    host = start_host(app, "--no-reload")
    (app / "function_app.py").write_text(RELOAD_APP.replace("VERSION", "two"))
    time.sleep(1.5)
    assert host.client.get("/api/version").text == "one"
