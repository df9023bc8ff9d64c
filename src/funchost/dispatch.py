"""Connections of `serve --workers N`, handed by the supervisor to its least-loaded worker.

The supervisor accepts every connection itself and sends its descriptor (SCM_RIGHTS) over a
Unix socket pair, the worker's *channel*, to the worker with the least load at that moment.
A worker's load is what it has not finished: requests in progress, connections it took but
has not yet read a request from (for a second at most), and connections sent to it that it
has not taken yet. The worker publishes its two counts (connections taken, load) in a page
of memory it shares with the supervisor and only it writes; the supervisor adds what it sent.
So a burst of connections is split exactly, before any worker has read a byte, and nothing
crosses between the processes per request: one counter write in the worker.

A connection stays with the worker it was handed to while it is kept alive. Idle keep-alive
connections are not load: they hold no thread and no CPU, and a worker neither closes them
nor hands them back when it is busy (a client may be sending its next request on one at
that moment, and only idempotent requests are safely retried).

The channel also carries each worker's life, in one-byte messages. Stopping never takes a
signal, so a signal from outside (systemd signals every process of a service at once) is
still a worker's first, which drains, never a second one, which would cut requests off.
- `READY` (worker): it serves; the supervisor starts handing it connections.
- `STOP` (supervisor): drain. Every connection sent before it has been read by then, so it
  is served.
- `LEAVING` (worker): it stops, on its own (a signal, an exhausted thread pool) or after
  `STOP`. The supervisor hands it nothing more and answers `STOP`; until then, a leaving
  worker sends each connection it still receives back (`RETURNED`, with the descriptor) to
  be handed to another worker.
- `FORCE` (supervisor): stop at once (a second SIGTERM to the supervisor).
- `SWITCH` (worker): a new version of the app is current (funchost.publishing): start new
  workers, and once they all serve, hand connections to them only and `RETIRE` every worker of
  the old version; once each has answered `RETIRED`, answer `SWITCHED` to the workers that
  asked, and `STOP` the old ones.
- `RETIRE` (supervisor): take no more requests on kept-alive connections (a `STOP` follows);
  the worker answers `RETIRED` once it has closed those that are idle.
- the end of the stream: the other side has gone. A worker whose supervisor is gone drains
  and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mmap
import os
import socket
import tempfile
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # Only in annotations: the supervisors (reload, --workers) import this module, and must not
    # load azure.functions and werkzeug with it.
    from funchost.http.exchange import Request, Respond, Response


logger = logging.getLogger("funchost")

# "<channel fd>,<counters fd>" in a worker's environment.
LINK_ENV = "FUNCHOST_WORKER_LINK"

CONNECTION = b"c"  # supervisor -> worker, with one descriptor
STOP = b"s"
FORCE = b"f"
READY = b"r"  # worker -> supervisor
LEAVING = b"l"
RETURNED = b"b"  # worker -> supervisor, with one descriptor
SWITCH = b"w"  # worker -> supervisor
RETIRED = b"d"
RETIRE = b"t"  # supervisor -> worker
SWITCHED = b"n"

# Slots of a worker's counters page.
TAKEN = 0  # connections the worker has received, ever
LOAD = 1  # requests in progress + connections with no request read yet

# A connection taken counts as load until its first request starts, or this long.
FRESH_FOR = 1.0
# How long a leaving worker waits for its supervisor's `STOP`.
LEAVE_TIMEOUT = 5.0
# How long the connections closed on `RETIRE` take to be closed (the next turn of the loop).
CLOSED_AFTER = 0.01
# How long a stopping worker gives connections it took a moment ago to start their request
# before the drain, which closes connections without one.
SETTLE_FOR = 0.25


class LoadCounters:
    """A worker's counts in a page of memory shared with its supervisor; the worker writes."""

    def __init__(self, fd: int) -> None:
        self.page = mmap.mmap(fd, mmap.PAGESIZE)
        self.values = memoryview(self.page).cast("q")

    @classmethod
    def create(cls) -> tuple[LoadCounters, int]:
        """New zeroed counters and a descriptor of them for the worker (close it once given)."""
        with tempfile.TemporaryFile() as file:
            file.truncate(mmap.PAGESIZE)
            fd = os.dup(file.fileno())
        return cls(fd), fd

    def close(self) -> None:
        self.values.release()
        self.page.close()


class WorkerLink:
    """The supervisor's end of one worker's channel, and that worker's load."""

    def __init__(self) -> None:
        self.channel, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.channel.setblocking(False)
        self.counters, counters_fd = LoadCounters.create()
        self._for_worker = (worker_end, counters_fd)
        self.sent = 0

    def environment(self) -> tuple[dict[str, str], list[int]]:
        """The worker's environment variable and the descriptors it inherits."""
        channel, counters = self._for_worker[0].fileno(), self._for_worker[1]
        return {LINK_ENV: f"{channel},{counters}"}, [channel, counters]

    def spawned(self) -> None:
        """The worker has its ends: close them here, so its death ends the channel."""
        worker_end, counters_fd = self._for_worker
        worker_end.close()
        with contextlib.suppress(OSError):
            os.close(counters_fd)

    def load(self) -> int:
        values = self.counters.values
        return self.sent - values[TAKEN] + values[LOAD]

    def hand(self, fd: int) -> bool:
        """Send the connection `fd` to the worker; False if its channel is full (it is not
        reading)."""
        try:
            socket.send_fds(self.channel, [CONNECTION], [fd])
        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
            return False
        self.sent += 1
        return True

    def receive(self) -> tuple[bytes, list[int]] | None:
        """Messages from the worker, with the connections it sent back; b"" at the end of the
        stream; None when there is nothing to read."""
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.channel, 64, 64)
        except BlockingIOError:
            return None
        except OSError:
            return b"", []
        return data, fds

    def tell(self, message: bytes) -> bool:
        """Send `STOP` or `FORCE`; False if the worker cannot be told (it is not reading)."""
        try:
            return self.channel.send(message) == 1
        except OSError:
            return False

    def close(self) -> None:
        self.channel.close()
        self.counters.close()


class HandedConnections:
    """A worker's connections, accepted by its supervisor and handed over by descriptor.

    It is the worker's `funchost.http.server.Listener`; `counting` wraps the host
    application's `respond` to count requests in progress.
    """

    def __init__(self, channel_fd: int, counters_fd: int) -> None:
        self.channel = socket.socket(fileno=channel_fd)
        self.channel.setblocking(False)
        self.channel.set_inheritable(False)  # its end must go with this process
        self.family = -1  # of the handed connections, found from the first one
        self.counters = LoadCounters(counters_fd)
        os.close(counters_fd)
        self.load = 0
        self.taken = 0
        # When each connection with no request yet was taken, oldest first. A request that
        # starts takes the oldest: it may have come on another connection, but then the load
        # is short by one only until the fresh connection's own request starts, or expires.
        self.fresh: deque[float] = deque()
        self.leaving = False
        self.stopped: asyncio.Event | None = None  # STOP read, or the supervisor gone
        self.switched: asyncio.Event | None = None  # SWITCHED read
        # Called on `RETIRE`: the server stops taking requests on kept-alive connections.
        self.on_retire: Callable[[], None] | None = None
        self._expiry: asyncio.TimerHandle | None = None

    @classmethod
    def from_environment(cls) -> HandedConnections | None:
        """The link a supervisor gave this process, if any (and forget it for children)."""
        value = os.environ.pop(LINK_ENV, None)
        if not value:
            return None
        channel_fd, counters_fd = (int(part) for part in value.split(","))
        return cls(channel_fd, counters_fd)

    def counting(self, respond: Respond) -> Respond:
        """`respond`, counting the requests in progress in the shared load."""
        values = self.counters.values
        fresh = self.fresh

        async def counted(request: Request) -> Response:
            if fresh:
                fresh.popleft()  # a fresh connection's load becomes its request's
            else:
                self.load += 1
                values[LOAD] = self.load
            try:
                return await respond(request)
            finally:
                self.load -= 1
                values[LOAD] = self.load

        return counted

    # -- funchost.http.server.Listener
    async def start(
        self, new_connection: Callable[[], asyncio.Protocol], stop_server: Callable[[bool], None]
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.new_connection = new_connection
        self.stop_server = stop_server
        self.stopped = asyncio.Event()
        self.loop.add_reader(self.channel.fileno(), self._receive)
        self._send(READY)

    async def stop(self) -> None:
        """Leave: the supervisor hands this worker nothing more once this returns."""
        assert self.stopped is not None
        self.leaving = True
        self._send(LEAVING)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopped.wait(), LEAVE_TIMEOUT)
        # Connections taken a moment ago read their first request before the drain, which
        # closes connections that have none.
        deadline = self.loop.time() + SETTLE_FOR
        while self.fresh and self.loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def switch(self, timeout: float) -> bool:
        """Ask the supervisor to replace every worker with one on the current version; True
        once it hands connections to new workers only."""
        self.switched = asyncio.Event()
        self._send(SWITCH)
        try:
            await asyncio.wait_for(self.switched.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- the channel
    def _send(self, message: bytes) -> None:
        try:
            self.channel.send(message)
        except OSError:  # the supervisor is gone
            self._stopped()

    def _receive(self) -> None:
        while True:
            try:
                data, fds, _flags, _addr = socket.recv_fds(self.channel, 64, 64)
            except BlockingIOError:
                return
            except OSError:
                data, fds = b"", []
            for fd in fds:  # sent before any message that follows them
                self._take(fd)
            if not data:  # the supervisor is gone: drain
                self.loop.remove_reader(self.channel.fileno())
                self._stopped()
                return
            if STOP in data:
                self._stopped()
            if RETIRE in data:
                if self.on_retire is not None:
                    self.on_retire()
                # Once the closes have reached the clients: the loop closes sockets after
                # this turn, and the pool answers the publish call as soon as this arrives.
                self.loop.call_later(CLOSED_AFTER, self._send, RETIRED)
            if SWITCHED in data and self.switched is not None:
                self.switched.set()
            if FORCE in data:
                self.stop_server(True)

    def _stopped(self) -> None:
        assert self.stopped is not None
        if not self.stopped.is_set():
            self.stopped.set()
            self.stop_server(False)

    def _take(self, fd: int) -> None:
        sock = socket.socket(self.family, socket.SOCK_STREAM, 0, fileno=fd)
        self.family = sock.family
        self.taken += 1
        self.counters.values[TAKEN] = self.taken
        if self.leaving:
            with contextlib.suppress(OSError):
                socket.send_fds(self.channel, [RETURNED], [fd])
            sock.close()
            return
        self.fresh.append(self.loop.time())
        self.load += 1
        self.counters.values[LOAD] = self.load
        if self._expiry is None:
            self._expiry = self.loop.call_later(FRESH_FOR, self._expire)
        task = self.loop.create_task(self.loop.connect_accepted_socket(self.new_connection, sock))
        task.add_done_callback(_log_failure)

    def _expire(self) -> None:
        """Stop counting connections that have sent no request for `FRESH_FOR`."""
        self._expiry = None
        fresh = self.fresh
        expired = self.loop.time() - FRESH_FOR
        while fresh and fresh[0] <= expired:
            fresh.popleft()
            self.load -= 1
        self.counters.values[LOAD] = self.load
        if fresh:
            self._expiry = self.loop.call_at(fresh[0] + FRESH_FOR, self._expire)


def _log_failure(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.debug("A handed-over connection could not be opened", exc_info=task.exception())
