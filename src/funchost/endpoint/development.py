"""The development account (`UseDevelopmentStorage=true`): Azurite when it answers, else
funchost's own endpoint, started once per machine and shared by every app.

`func init` writes `UseDevelopmentStorage=true` into every app. If something answers as Azure
Storage on the development ports, funchost uses it as before (Azurite). If nothing listens
there, funchost starts its endpoint (`funchost storage serve`) as a process of its own, in a
session of its own, so it outlives the app that started it: every app of the user then shares
one account, and apps start and stop in any order. An app on the same machine reads and writes
the endpoint's SQLite file directly (its path is in every answer of the endpoint,
`x-funchost-store`), so its triggers run at the embedded store's speed, while the SDK clients
of the app and of other tools use the REST endpoint. The endpoint stops by itself once no app
uses the account (`AccountUse`) and no request came for a while. Two apps starting at once may
both start an endpoint: one binds the ports, the other exits, and both use the one that
answers.
"""

from __future__ import annotations

import fcntl
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

STORE_HEADER = "x-funchost-store"
BLOB_PORT = 10000
QUEUE_PORT = 10001
# How long funchost's endpoint waits without a request, and without an app using its account,
# before it stops.
IDLE_EXIT = 30 * 60.0
# In the account's folder: every app using the account holds a shared lock on it.
APPS_FILE = "apps.lock"


@dataclass(frozen=True)
class Found:
    """What answers on the development Blob port."""

    kind: Literal["nothing", "funchost", "azure", "other"]
    store: Path | None = None  # funchost's: the endpoint's SQLite file


class AccountUse:
    """An app's use of the development account in `location`: a shared lock on its
    `apps.lock`, held until `release` or the app's end, however it ends (kill -9 included).

    Apps use the account's store directly, so the endpoint sees no request from them; yet
    their own SDK clients and the user's tools need it while they run: it does not stop for
    idleness while an app holds the account (`in_use`)."""

    def __init__(self, location: Path) -> None:
        self._file: BinaryIO | None = open(location / APPS_FILE, "ab")  # noqa: SIM115
        fcntl.flock(self._file.fileno(), fcntl.LOCK_SH)

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # which releases the lock
            self._file = None


def in_use(location: Path) -> bool:
    """Whether an app holds the development account in `location` (`AccountUse`)."""
    try:
        with open(location / APPS_FILE, "ab") as file:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
    except OSError:
        pass
    return False


def development_location() -> Path:
    """Where the development account's data lives: one folder per user, never in an app."""
    import platformdirs

    return platformdirs.user_data_path("funchost") / "devstorage"


def probe(host: str, port: int = BLOB_PORT, timeout: float = 2.0) -> Found:
    """Ask the Blob port who is there, with one unsigned request (Azure Storage answers it
    with an error that carries `x-ms-request-id`)."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return Found("nothing")
    with sock:
        try:
            sock.sendall(
                f"GET /devstoreaccount1?comp=list HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 64 * 1024:
                part = sock.recv(4096)
                if not part:
                    break
                head += part
        except OSError:
            return Found("other")
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if STORE_HEADER in headers:
        return Found("funchost", Path(headers[STORE_HEADER]))
    if "x-ms-request-id" in headers:
        return Found("azure")
    return Found("other")


def start_endpoint(host: str, location: Path) -> subprocess.Popen[bytes]:
    """Start funchost's endpoint for the development account, detached from this process.

    It is never waited for by the app, yet a thread of this process reaps it when it ends
    (after its idle time, or at once when another endpoint has the ports): no zombie is left,
    and a `Popen` dropped while its process runs would warn (ResourceWarning) in every app
    that starts one, `TestHost` under pytest's `-W error` included."""
    location.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-P", "-m", "funchost", "storage", "serve",
        "--host", host, "--location", str(location), "--idle-exit", str(int(IDLE_EXIT)),
    ]  # fmt: skip
    with open(location / "endpoint.log", "ab") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    threading.Thread(
        target=process.wait, name=f"funchost-endpoint-{process.pid}", daemon=True
    ).start()
    return process


def ensure(host: str, location: Path, timeout: float = 20.0) -> Found:
    """What serves the development account on `host`, starting funchost's endpoint when
    nothing does. If the endpoint started here ends (another one had the ports, or it
    failed: its log is in `location`), whatever answers then is the answer."""
    found = probe(host)
    if found.kind != "nothing":
        return found
    process = start_endpoint(host, location)
    deadline = time.monotonic() + timeout
    while found.kind == "nothing" and time.monotonic() < deadline:
        ended = process.returncode is not None
        time.sleep(0.05)
        found = probe(host)
        if ended:
            break
    return found
