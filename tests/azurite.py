"""A real Azurite, started by the tests on free ports of 127.0.0.1 and stopped by its PID.

`scripts/setup` installs it (`npm install azurite@3` into `.tools/azurite`). It is never
optional: without it the Azure Storage tests fail with the command that installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
ACCOUNT = "devstoreaccount1"


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Distinct free ports of `host` (all bound at once, so none is handed out twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def development_connection_string(host: str, blob_port: int, queue_port: int) -> str:
    """The development account's connection string for Blob and Queue endpoints on `host`."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={DEV_KEY};"
        f"BlobEndpoint=http://{host}:{blob_port}/{ACCOUNT};"
        f"QueueEndpoint=http://{host}:{queue_port}/{ACCOUNT};"
    )


def clear_account(connection_string: str) -> None:
    """Delete every queue and container of the account, with the official SDKs."""
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    queues = QueueServiceClient.from_connection_string(connection_string)
    for q in queues.list_queues():
        queues.delete_queue(q.name)
    blobs = BlobServiceClient.from_connection_string(connection_string)
    for c in blobs.list_containers():
        blobs.delete_container(c.name)


class Azurite:
    def __init__(
        self, workdir: Path, host: str = "127.0.0.1", ports: tuple[int, int] | None = None
    ) -> None:
        """Azurite on free ports of `host`, or on `ports` (blob, queue) when given."""
        self.host = host
        self.ports = ports
        binary = os.environ.get("FUNCHOST_AZURITE") or str(AZURITE_BIN)
        if not Path(binary).exists() and shutil.which(binary) is None:
            raise RuntimeError(
                f"Azurite is not installed at {binary}; run scripts/setup "
                "(it runs `npm install azurite@3` into .tools/azurite)."
            )
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "azurite.log"
        for attempt in range(3):  # a port taken between choosing and binding it: try again
            try:
                self._start(binary, workdir)
                return
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise

    def _start(self, binary: str, workdir: Path) -> None:
        self.blob_port, self.queue_port, table_port = free_ports(3)
        if self.ports is not None:
            self.blob_port, self.queue_port = self.ports
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    "--disableTelemetry",
                    "--loose",
                    "--skipApiVersionCheck",
                    "--inMemoryPersistence",
                    "--blobHost", self.host, "--blobPort", str(self.blob_port),
                    "--queueHost", self.host, "--queuePort", str(self.queue_port),
                    "--tableHost", self.host, "--tablePort", str(table_port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )  # fmt: skip
        self._wait_listening()

    def _wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        for port in (self.blob_port, self.queue_port):
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"Azurite exited:\n{self.log_path.read_text()}")
                try:
                    socket.create_connection((self.host, port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"Azurite did not listen:\n{self.log_path.read_text()}"
                        ) from None
                    time.sleep(0.05)

    @property
    def connection_string(self) -> str:
        return development_connection_string(self.host, self.blob_port, self.queue_port)

    def clear(self) -> None:
        """Delete every queue and container, so each test starts from an empty account."""
        clear_account(self.connection_string)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
