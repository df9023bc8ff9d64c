"""Host processes under a supervisor that holds the listening socket: starting, watching and
stopping them.

`funchost start` with reload on save runs the host in one child process (`HostChild`) that
inherits the socket, passed by file descriptor in FUNCHOST_LISTEN_FD, so connections queue in
the socket while a child starts or is replaced.

`funchost serve --workers N` runs N worker processes (`WorkerPool`) and accepts every
connection itself, handing each to the least-loaded worker (funchost.dispatch). One SIGTERM
or SIGINT ends every worker's channel, which drains it (in-flight requests finish, up to
30 s), and the pool exits 0 once they have all exited; a second one stops them at once. A
worker that dies is replaced; one that leaves on its own (a signal of its own, an exhausted
thread pool) is replaced as soon as it says so, while it drains. A worker that has made a
new version of the app current (funchost.publishing) asks the pool to switch: the pool starts
N new workers (each serves the current version), and once they are all ready, hands
connections to them only, has the old ones close their idle kept-alive connections, answers
the worker that asked, and drains the old ones.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from types import FrameType

from funchost.config import LISTEN_FD_ENV
from funchost.dispatch import (
    FORCE,
    LEAVING,
    READY,
    RETIRE,
    RETIRED,
    STOP,
    SWITCH,
    SWITCHED,
    WorkerLink,
)
from funchost.errors import ConfigError

logger = logging.getLogger("funchost")

# A host drains in-flight requests for up to 30 s after SIGTERM.
STOP_TIMEOUT = 35.0
# After a second SIGTERM, how long workers get to stop before they are killed.
FORCE_TIMEOUT = 10.0
# How often the supervisor of --workers looks for a worker that exited, at least.
WATCH_INTERVAL = 0.5
# A worker that exits with this code this soon after it started cannot start (bad settings):
# the pool stops rather than restart it forever.
STARTUP_FAILED = 2
STARTUP_PERIOD = 10.0
# How long old workers get to close their idle connections in a switch before it goes on.
RETIRE_TIMEOUT = 5.0
# Connections accepted at once before the pool looks at its workers' messages again.
ACCEPT_BATCH = 64


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


def _spawn(
    args: Sequence[str], env: Mapping[str, str], fds: Sequence[int]
) -> subprocess.Popen[bytes]:
    """`python -P -m funchost ARGS` with `env` added and the descriptors `fds` inherited.

    `-P`: the current folder (often the app's) does not go first on `sys.path`, where an app's
    `queue.py` or `logging.py` would take the place of the standard module the host imports.
    """
    command = [sys.executable, "-P", "-m", "funchost", *args]
    return subprocess.Popen(command, env={**os.environ, **env}, pass_fds=fds)


# What else a child inherits: environment variables and the descriptors they name (the
# storage endpoint's sockets, funchost.endpoint.embedded).
Passed = tuple[Mapping[str, str], Sequence[int]]
NOTHING_PASSED: Passed = ({}, ())


class HostChild:
    """One host process serving the supervisor's socket (reload on save)."""

    def __init__(
        self, args: Sequence[str], sock: socket.socket, passed: Passed = NOTHING_PASSED
    ) -> None:
        self.args = args
        self.sock = sock
        self.passed = passed
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        self.started_at = time.monotonic()
        fd = self.sock.fileno()
        env, fds = self.passed
        return _spawn(self.args, {**env, LISTEN_FD_ENV: str(fd)}, [fd, *fds])

    @property
    def pid(self) -> int:
        return self.process.pid

    def restart(self) -> None:
        self.stop()
        self.process = self._spawn()

    def stop(self) -> None:
        """SIGTERM (once: a second one stops it at once), wait for the drain, then SIGKILL if
        it is still running."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Worker:
    """One worker process of a `WorkerPool`, and its link."""

    def __init__(self, args: Sequence[str], passed: Passed = NOTHING_PASSED) -> None:
        self.link = WorkerLink()
        env, fds = self.link.environment()
        self.process = _spawn(args, {**passed[0], **env}, [*fds, *passed[1]])
        self.link.spawned()
        self.started_at = time.monotonic()
        self.ready = False  # it serves: hand it connections
        self.leaving = False  # it stops: hand it nothing more
        self.gone = False  # its channel ended: it has exited, or is exiting

    @property
    def pid(self) -> int:
        return self.process.pid

    def tell(self, message: bytes) -> None:
        """`STOP` or `FORCE`; by signal if the worker is not reading its channel (a first
        SIGTERM drains, a second stops at once)."""
        if not self.link.tell(message) and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)


class WorkerPool:
    """`serve --workers N`: N host processes behind one listening socket that the pool
    accepts on, handing each connection to the least-loaded worker."""

    def __init__(
        self, args: Sequence[str], size: int, sock: socket.socket, passed: Passed = NOTHING_PASSED
    ) -> None:
        self.args = args
        self.passed = passed
        self.size = size
        self.sock = sock
        sock.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.workers: list[Worker] = []
        # Connections (descriptors) accepted that no worker could take yet.
        self.waiting: deque[int] = deque()
        self.turn = 0  # where the search for the least-loaded worker starts (ties rotate)
        self.accepting = False
        self.stopping = False
        self.forced = False
        self.deadline = float("inf")
        self.exit_code = 0
        # When to look for exited workers next: every WATCH_INTERVAL, and soon after a
        # worker's channel ends (not on every wakeup: they come with every connection).
        self.reap_at = 0.0
        # During a switch to a new version: the workers of the old one, and those that asked.
        self.replacing: set[Worker] = set()
        self.switch_asked: list[Worker] = []
        self.switch_next: list[Worker] = []  # asked during a switch: another one follows
        self.retiring: set[Worker] = set()  # old workers yet to answer RETIRED
        self.retire_deadline = float("inf")
        self.retired: set[Worker] = set()  # old workers of the switch under way

    def run(self) -> int:
        """Run until SIGINT/SIGTERM and every worker has exited; 0, or 2 if workers cannot
        start."""
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        previous_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        previous = {s: signal.signal(s, _record) for s in (signal.SIGINT, signal.SIGTERM)}
        self._watch(wake_r, lambda: self._signals(wake_r))
        try:
            for _ in range(self.size):
                self._start_worker()
            while self.workers:
                self._step()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for s, handler in previous.items():
                signal.signal(s, handler)
            for worker in self.workers:  # only after an error in the pool itself
                worker.process.kill()
                worker.process.wait()
                worker.link.close()
            for fd in self.waiting:
                os.close(fd)
            self.selector.close()
            self.sock.close()
            wake_r.close()
            wake_w.close()
        return self.exit_code

    def _step(self) -> None:
        now = time.monotonic()
        timeout = min(self.reap_at, self.deadline, self.retire_deadline) - now
        if self.waiting:
            timeout = min(timeout, 0.02)
        for key, _events in self.selector.select(max(0.0, timeout)):
            key.data()
        now = time.monotonic()
        if now >= self.reap_at:
            self._reap()
            gone = any(w.gone for w in self.workers)
            self.reap_at = now + (0.02 if gone else WATCH_INTERVAL)
        if self.waiting:
            self._hand_waiting()
        if now >= self.retire_deadline:
            self._finish_switch()
        if now >= self.deadline:
            for worker in self.workers:
                if worker.process.poll() is None:
                    logger.warning("Worker %d did not stop in time; killing it.", worker.pid)
                    worker.process.kill()
            self.deadline = float("inf")

    def _watch(self, sock: socket.socket, callback: Callable[[], None]) -> None:
        self.selector.register(sock, selectors.EVENT_READ, callback)

    # -- workers
    def _start_worker(self) -> None:
        worker = Worker(self.args, self.passed)
        self.workers.append(worker)
        self._watch(worker.link.channel, lambda: self._from_worker(worker))

    def _from_worker(self, worker: Worker) -> None:
        while True:
            received = worker.link.receive()
            if received is None:
                return
            data, returned = received
            for fd in returned:  # sent back by a leaving worker
                self._dispatch(fd)
            if not data:
                worker.gone = True
                worker.ready = False
                self.reap_at = 0.0
                self.selector.unregister(worker.link.channel)
                self._update_accepting()
                return
            if READY[0] in data:
                worker.ready = True
                self._update_accepting()
                self._finish_switch()
            if LEAVING[0] in data:
                self._leaving(worker)
            if SWITCH[0] in data:
                self._switch(worker)
            if RETIRED[0] in data:
                self.retiring.discard(worker)
                self._finish_switch()

    def _switch(self, asking: Worker) -> None:
        """Start a new worker for each, then (`_finish_switch`) retire the old ones."""
        if self.switch_asked:
            # Its version may have been made current after the new workers read the pointer.
            self.switch_next.append(asking)
            return
        self.switch_asked.append(asking)
        if self.stopping:
            return
        self.replacing = {w for w in self.workers if not w.leaving}
        logger.info("A new version is current: starting %d new worker(s).", self.size)
        for _ in range(self.size):
            self._start_worker()

    def _finish_switch(self) -> None:
        """Once the new workers all serve: hand them every connection, have the old ones
        `RETIRE`, and once they have (or after `RETIRE_TIMEOUT`), answer and stop them."""
        if not self.switch_asked:
            return
        if self.replacing:
            new = [w for w in self.workers if w not in self.replacing and not w.leaving]
            if len(new) < self.size or not all(w.ready for w in new):
                return
            for worker in self.replacing:
                worker.leaving = True  # hand it nothing more
                if worker.link.tell(RETIRE):
                    self.retiring.add(worker)
            self._update_accepting()
            self.retire_deadline = time.monotonic() + RETIRE_TIMEOUT
            self.retired, self.replacing = self.replacing, set()
        if self.retiring and time.monotonic() < self.retire_deadline:
            return
        self.retiring.clear()
        self.retire_deadline = float("inf")
        for worker in self.switch_asked:
            worker.link.tell(SWITCHED)
        self.switch_asked.clear()
        for worker in self.retired:
            worker.tell(STOP)
        self.retired = set()
        if self.switch_next:
            asking, *rest = self.switch_next
            self.switch_next = []
            self._switch(asking)
            self.switch_asked.extend(rest)

    def _leaving(self, worker: Worker) -> None:
        if worker.leaving:
            return
        worker.leaving = True
        self._update_accepting()
        if not self.stopping and not worker.gone:
            worker.tell(STOP)  # nothing more after this
            logger.warning("Worker %d is stopping; starting a new one.", worker.pid)
            self._start_worker()

    def _reap(self) -> None:
        for worker in list(self.workers):
            code = worker.process.poll()
            if code is None:
                continue
            self.workers.remove(worker)
            if not worker.gone:
                self.selector.unregister(worker.link.channel)
            worker.link.close()
            if worker in self.retiring:
                self.retiring.discard(worker)
                self._finish_switch()
            if self.stopping or worker.leaving or worker in self.replacing:
                self.replacing.discard(worker)
                continue
            if code == STARTUP_FAILED and time.monotonic() - worker.started_at < STARTUP_PERIOD:
                logger.error("Worker %d exited at startup (code %d); stopping.", worker.pid, code)
                self.exit_code = STARTUP_FAILED
                self._stop()
                continue
            logger.warning("Worker %d exited with code %d; starting a new one.", worker.pid, code)
            self._start_worker()
        self._update_accepting()

    # -- connections
    def _update_accepting(self) -> None:
        accepting = (
            not self.stopping
            and not self.waiting
            and any(w.ready and not w.leaving for w in self.workers)
        )
        if accepting != self.accepting:
            self.accepting = accepting
            if accepting:
                self._watch(self.sock, self._accept)
            else:
                self.selector.unregister(self.sock)

    def _accept(self) -> None:
        # The raw accept: `socket.accept()` would wrap each descriptor in a socket object (its
        # family and type as enums) only to close it, a third of this process's time for a
        # connection.
        accept = self.sock._accept  # type: ignore[attr-defined]
        for _ in range(ACCEPT_BATCH):
            try:
                fd, _address = accept()
            except (BlockingIOError, ConnectionAbortedError):
                return
            except OSError as exc:  # out of descriptors: leave the rest in the backlog
                logger.error("Cannot accept connections: %s", exc)
                return
            self._dispatch(fd)
            if self.waiting:
                return

    def _dispatch(self, fd: int) -> None:
        """Hand the connection `fd` to the least-loaded worker, or keep it waiting."""
        if self.stopping:
            os.close(fd)
            return
        full: set[Worker] = set()
        while (worker := self._least_loaded(full)) is not None:
            if worker.link.hand(fd):
                os.close(fd)
                return
            full.add(worker)
        self.waiting.append(fd)
        self._update_accepting()

    def _hand_waiting(self) -> None:
        while self.waiting:
            worker = self._least_loaded(set())
            if worker is None or not worker.link.hand(self.waiting[0]):
                break
            os.close(self.waiting.popleft())
        self._update_accepting()

    def _least_loaded(self, excluded: set[Worker]) -> Worker | None:
        """The ready worker with the least load; among equals, the next after the last one
        chosen."""
        workers = self.workers
        count = len(workers)
        best: Worker | None = None
        best_load = 0
        best_index = 0
        for i in range(count):
            index = (self.turn + i) % count
            worker = workers[index]
            if worker.ready and not worker.leaving and worker not in excluded:
                load = worker.link.load()
                if best is None or load < best_load:
                    best, best_load, best_index = worker, load, index
        if best is not None:
            self.turn = best_index + 1
        return best

    # -- stopping
    def _signals(self, wake: socket.socket) -> None:
        try:
            received = wake.recv(64)
        except BlockingIOError:
            return
        for signum in received:
            if signum in (signal.SIGINT, signal.SIGTERM):
                if self.stopping:
                    self._force()
                else:
                    self._stop()

    def _stop(self) -> None:
        """Drain: accept no more, and end every worker's channel (each then drains)."""
        if self.stopping:
            return
        if self.waiting:
            self._hand_waiting()
        self.stopping = True
        self.deadline = time.monotonic() + STOP_TIMEOUT
        self._update_accepting()
        self.sock.close()  # new connections are refused, as by a single host
        for fd in self.waiting:
            os.close(fd)
        self.waiting.clear()
        for worker in self.switch_asked + self.switch_next:
            # Its version is current: the next start serves it.
            worker.link.tell(SWITCHED)
        self.switch_asked.clear()
        self.switch_next.clear()
        for worker in self.retired:  # leaving, but without its STOP yet
            worker.tell(STOP)
        self.retired = set()
        self.retiring.clear()
        self.retire_deadline = float("inf")
        for worker in self.workers:
            if not worker.leaving:  # a leaving worker has had its STOP
                worker.tell(STOP)
        logger.info(
            "Stopping: in-flight requests finish first (up to 30 s); signal again to stop at once."
        )

    def _force(self) -> None:
        if self.forced:
            return
        self.forced = True
        self.deadline = min(self.deadline, time.monotonic() + FORCE_TIMEOUT)
        logger.warning("Stopping at once: in-flight requests are cut off.")
        for worker in self.workers:
            worker.tell(FORCE)


def _record(signum: int, frame: FrameType | None) -> None:
    """Python's handler for the pool's signals: the wakeup descriptor carries them."""
