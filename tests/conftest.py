"""Shared fixtures: run the real `funchost` command on a free port and talk to it over sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.azurite import Azurite
from tests.endpoint_server import Endpoint
from tests.stores import Backend

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningHost:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(base_url=self.base_url, timeout=30)
        return self._client

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            if text in out:
                return out
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in host output:\n{self.output()}")

    def wait_until_ready(self, path: str = "/admin/host/ping", timeout: float = 30) -> None:
        """Poll `path` until it answers 200; fail with the host's output if it exits first."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"host exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}{path}", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"host did not start:\n{self.output()}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def read_http_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response read off a raw socket: status, headers (names lower-cased), body
    (as long as its content-length says)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


StartHost = Callable[..., RunningHost]


def launch(cmd: list[str], env: dict[str, str], log_path: Path, port: int) -> RunningHost:
    """Start `cmd` (a host listening on `port`) with its output in `log_path`."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    return RunningHost(proc, port, log_path)


@pytest.fixture
def host_env(tmp_path: Path) -> dict[str, str]:
    """An environment for a host process with its own data folder (keys land there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNCTIONS_", "AzureWebJobs"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg-data")
    # The embedded store goes to the test's folder, never into the shared apps under tests/.
    env["FUNCHOST_STATE_DIR"] = str(tmp_path / "state")
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture
def start_host(tmp_path: Path, host_env: dict[str, str]) -> Iterator[StartHost]:
    started: list[RunningHost] = []

    def _start(
        app_dir: Path | str,
        *args: str,
        command: str = "start",
        env: dict[str, str] | None = None,
        wait: bool = True,
        timeout: float = 30,
    ) -> RunningHost:
        port = free_port()
        cmd = [sys.executable, "-m", "funchost", command, str(app_dir), "--port", str(port)]
        if command in ("start", "serve"):
            cmd += ["--host", "127.0.0.1"]
        running = launch(
            [*cmd, *args],
            {**host_env, **(env or {})},
            tmp_path / f"host-{len(started)}.log",
            port,
        )
        started.append(running)
        if wait:
            running.wait_until_ready(timeout=timeout)
        return running

    yield _start
    for running in started:
        running.stop()


def run_cli(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "funchost", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def write_app(root: Path, files: dict[str, str]) -> Path:
    """Write an app folder from {relative path: text}; host.json is added when missing."""
    root.mkdir(parents=True, exist_ok=True)
    files = {"host.json": '{"version": "2.0"}', **files}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


HTTP_FUNCTION_JSON = (
    '{"bindings": [{"authLevel": "anonymous", "type": "httpTrigger", "direction": "in",'
    ' "name": "req"}, {"type": "http", "direction": "out", "name": "$return"}]}'
)


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One real Azurite for the whole session (never skipped: it must be installed)."""
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


@pytest.fixture
def azurite(azurite_server: Azurite) -> Azurite:
    """The session's Azurite with every queue and container deleted."""
    azurite_server.clear()
    return azurite_server


@pytest.fixture(scope="session")
def storage_endpoint_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """One `funchost storage serve` for the whole session, on free ports, data in a temp folder."""
    server = Endpoint(tmp_path_factory.mktemp("storage-endpoint"))
    yield server
    server.stop()


@pytest.fixture
def storage_endpoint(storage_endpoint_server: Endpoint) -> Endpoint:
    """The session's storage endpoint with every queue and container deleted."""
    storage_endpoint_server.clear()
    return storage_endpoint_server


# The Azure backend's servers, by `backend` parameter: each gives the test a cleared account.
AZURE_SERVERS = {"azurite": "azurite", "endpoint": "storage_endpoint"}


@pytest.fixture(params=["embedded", *AZURE_SERVERS])
def backend(request: pytest.FixtureRequest, host_env: dict[str, str]) -> Iterator[Backend]:
    """Each storage backend in turn: the embedded store, and Azure Storage (the Azure SDKs)
    on Azurite and on funchost's own storage endpoint (`funchost storage serve`)."""
    server = (
        request.getfixturevalue(AZURE_SERVERS[request.param])
        if request.param in AZURE_SERVERS
        else None
    )
    b = Backend(request.param, server, Path(host_env["FUNCHOST_STATE_DIR"]))
    yield b
    b.close()


# The scale-out tests (several hosts sharing work, kill -9) take 80 s more on the endpoint
# backend and make no storage call the contract, queue and blob tests do not make there; they
# run on the endpoint only with FUNCHOST_TEST_EVERY_BACKEND=1, to keep the suite's time.
EVERY_BACKEND = "FUNCHOST_TEST_EVERY_BACKEND"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(EVERY_BACKEND):
        return
    left = [i for i in items if "test_scale_out.py::" in i.nodeid and "[endpoint" in i.nodeid]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [i for i in items if i not in left]
