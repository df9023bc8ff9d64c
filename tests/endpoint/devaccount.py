"""The development account as the `UseDevelopmentStorage=true` tests see it.

Each test uses a loopback address of its own (127.0.0.N, through the connection string's
`DevelopmentStorageProxyUri`), so the development ports 10000 and 10001 are free there whatever
else runs on this machine (a user's Azurite on 127.0.0.1, other tests); the endpoint an app
starts is stopped by the PID it records in its data folder.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import time
from pathlib import Path

from tests.azurite import development_connection_string


def loopback_address() -> str:
    """A 127.0.0.N on which nothing listens on the development ports."""
    for _ in range(50):
        address = f"127.0.{random.randint(1, 254)}.{random.randint(2, 254)}"
        free = True
        for port in (10000, 10001):
            with socket.socket() as s:
                s.settimeout(0.2)
                if s.connect_ex((address, port)) == 0:
                    free = False
        if free:
            return address
    raise AssertionError("no free loopback address for the development ports")


class DevAccount:
    def __init__(self, address: str, data: Path) -> None:
        self.address = address
        self.data = data  # the endpoint's folder (FUNCHOST_DEVSTORAGE_DIR or the user's)
        self.stopped: set[int] = set()

    @property
    def setting(self) -> str:
        return f"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://{self.address}"

    def client_string(self) -> str:
        return development_connection_string(self.address, 10000, 10001)

    def endpoint_pid(self) -> int | None:
        pid_file = self.data / "endpoint.pid"
        return int(pid_file.read_text()) if pid_file.exists() else None

    def endpoint_running(self, pid: int) -> bool:
        """Whether `pid` is still this account's endpoint (`funchost storage serve` on this
        account's data folder), not a process that has since taken its number."""
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "Z":  # ended, not yet reaped by its parent
            return False
        places = {str(self.data).encode(), str(self.data.resolve()).encode()}
        return b"serve" in command and not places.isdisjoint(command)

    def wait_for_endpoint(self, timeout: float = 20) -> int:
        """The PID of the endpoint an app started (it records it once its ports are bound)."""
        deadline = time.monotonic() + timeout
        while (pid := self.endpoint_pid()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no endpoint recorded its PID in {self.data}")
            time.sleep(0.05)
        return pid

    def stop_endpoint(self, timeout: float = 20) -> None:
        """Stop the account's endpoint, if an app started one (even one still starting)."""
        if not (self.data / "endpoint.log").exists():
            return
        if self.stopped and self.endpoint_pid() is None:
            return  # stopped here already, and no other started since
        try:
            pid = self.wait_for_endpoint(10)
        except AssertionError:
            return  # it never bound its ports (another endpoint had them)
        if not self.endpoint_running(pid):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.endpoint_running(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"the endpoint (PID {pid}) did not stop on SIGTERM")
            time.sleep(0.05)
        self.stopped.add(pid)
