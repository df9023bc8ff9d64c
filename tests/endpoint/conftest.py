"""funchost's storage endpoint for the tests, in a process of its own, beside Azurite."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import HttpResponseError

from tests.azurite import ACCOUNT
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent.parent


def code(error: HttpResponseError) -> str | None:
    """The storage error code the SDK read from the answer."""
    return getattr(error, "error_code", None)


class Endpoint:
    """funchost's storage endpoint in a process of its own, stopped by its PID."""

    def __init__(self, location: Path, ports: tuple[int, int, int] | None = None) -> None:
        self.blob_port, self.queue_port, self.table_port = ports or (
            free_port(),
            free_port(),
            free_port(),
        )
        location.mkdir(parents=True, exist_ok=True)
        self.log = location / "endpoint.log"
        command = [
            sys.executable, "-m", "funchost", "storage", "serve",
            "--blob-port", str(self.blob_port), "--queue-port", str(self.queue_port),
            "--table-port", str(self.table_port),
            "--location", str(location),
        ]  # fmt: skip
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{self.queue_port}/", timeout=1)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    output = self.log.read_text()
                    raise RuntimeError(f"the endpoint did not start:\n{output}") from None
                time.sleep(0.05)

    @property
    def blob_url(self) -> str:
        return f"http://127.0.0.1:{self.blob_port}/{ACCOUNT}"

    @property
    def queue_url(self) -> str:
        return f"http://127.0.0.1:{self.queue_port}/{ACCOUNT}"

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    server = Endpoint(tmp_path_factory.mktemp("endpoint"))
    yield server
    server.stop()
