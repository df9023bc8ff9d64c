"""Host processes that share one listening socket: the socket, and starting and stopping them.

Both `funchost start` with reload on save and `funchost serve --workers N` run the host in
child processes (`python -m funchost ... --no-reload`) that inherit a socket this process
bound, passed by file descriptor in FUNCHOST_LISTEN_FD, so connections queue in the socket
while a child starts or is replaced.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from funchost.config import LISTEN_FD_ENV
from funchost.errors import ConfigError

# A host drains in-flight requests for up to 30 s after SIGTERM.
STOP_TIMEOUT = 35.0


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def inherited_socket() -> socket.socket | None:
    """The socket a supervisor passed to this process, if any (and forget it for children)."""
    fd = os.environ.pop(LISTEN_FD_ENV, None)
    return socket.socket(fileno=int(fd)) if fd else None


class HostChild:
    """One host process serving the supervisor's socket."""

    def __init__(self, args: Sequence[str], sock: socket.socket) -> None:
        self.command = [sys.executable, "-m", "funchost", *args]
        self.sock = sock
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.started_at = time.monotonic()
        env = {**os.environ, LISTEN_FD_ENV: str(self.sock.fileno())}
        return subprocess.Popen(self.command, env=env, pass_fds=[self.sock.fileno()])

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_code(self) -> int | None:
        return self.process.poll()

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    def restart(self) -> None:
        self.stop()
        self.process = self._spawn()

    def stop(self) -> None:
        """SIGTERM, wait for the drain, then SIGKILL if it is still running."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
