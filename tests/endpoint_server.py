"""funchost's storage endpoint (`funchost storage serve`) for the tests: a process of its own
on free ports of 127.0.0.1 with its data in a folder of the test's, stopped by its PID.

The endpoint tests compare it with Azurite; the Azure-backend tests run on it as on Azurite
(the `backend` fixtures' "endpoint" parameter).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.azurite import (
    ACCOUNT,
    ROOT,
    clear_account,
    development_connection_string,
    free_ports,
)


class Endpoint:
    """funchost's storage endpoint in a process of its own, stopped by its PID."""

    def __init__(self, location: Path, ports: tuple[int, int, int] | None = None) -> None:
        self.blob_port, self.queue_port, self.table_port = ports or tuple(free_ports(3))
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

    @property
    def connection_string(self) -> str:
        """The development account on this endpoint, spelled out (no UseDevelopmentStorage)."""
        return development_connection_string("127.0.0.1", self.blob_port, self.queue_port)

    def clear(self) -> None:
        """Delete every queue and container, so each test starts from an empty account."""
        clear_account(self.connection_string)

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
