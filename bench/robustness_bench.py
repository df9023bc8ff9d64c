"""Robustness under attack: a normal client's latency and the host's memory while attackers try
to hold, stall or bloat the server; funchost's own server against the same host on uvicorn.

    .venv/bin/python bench/robustness_bench.py [--duration 12] [--slowloris-duration 33]
                                               [--requests 2000] [--rate 200]
                                               [--connections 500] [--servers funchost,uvicorn]

Both servers run bench/apps/robustness (an anonymous `async def` GET /api/hello and a POST
/api/upload that returns the length of its body), one process each, on a free port on
127.0.0.1:
  funchost  funchost serve bench/apps/robustness --port P
  uvicorn   FUNCHOST_APP_DIR=bench/apps/robustness uvicorn --factory
            funchost.asgi:app_from_environment --http httptools --loop uvloop
For each server: the normal client's latency while quiet, then while attacked by
  slowloris     --connections connections, each sending a partial head and one more header
                byte every --drip-interval seconds (a line that never ends);
  header-lines  one client sending one head of short header lines that never ends, at
                --attack-rate bytes/s, again on a new connection whenever the server refuses it;
  header-line   the same with one header line that never ends (no newline at all);
  slow-body     --connections connections declaring a 1 MiB body (POST /api/upload) and
                sending it at 1 byte/s;
then quiet again. The attackers run in a process of their own (this script with --attacker),
so that they do not share the normal client's interpreter. The normal client sends GET
/api/hello on one kept-alive connection at --rate requests/s through each phase, each
request's latency counted from when it was due; the server's memory (VmRSS summed over its
processes) is sampled every 0.2 s. The attacker's report says how each attack connection
ended: the status the server answered (408, 414, 431, 503) and when, or that it was still open
when the attack stopped. bench/README.md has the details and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import harness as h

APP_DIR = h.APPS_DIR / "robustness"
HELLO = "/api/hello"
ATTACKS = ("slowloris", "header-lines", "header-line", "slow-body")
# Phases may run several attacks at once ("a+b"): the target is for slowloris and
# endless header lines together.
COMBINED = "slowloris+header-lines"
PHASES = (*ATTACKS, COMBINED)

# What funchost's server promises (Kestrel's defaults, funchost.http.limits): when and how each
# attack connection must end. Seconds are from the attack connection's first byte; the server's
# sweep runs once a second, so one second (and one more for a loaded machine) is added.
HEAD_TIMEOUT = 30.0
BODY_GRACE = 5.0
SWEEP_SLACK = 2.0
EXPECTED: dict[str, tuple[frozenset[int], float]] = {
    "slowloris": (frozenset({408}), HEAD_TIMEOUT + SWEEP_SLACK),
    "header-lines": (frozenset({431}), 2.0),
    "header-line": (frozenset({431}), 2.0),
    # 503: the request bodies buffered across all connections would pass the host's budget.
    "slow-body": (frozenset({408, 503}), BODY_GRACE + 1.0 + SWEEP_SLACK),
}
# The targets: while slowloris and endless header lines attack, the normal client's p99
# stays within 2x of the quiet p99; the host's memory stays within a documented bound.
P99_TARGET = 2.0
P99_ATTACKS = ("slowloris", "header-lines", COMBINED)
# Peak RSS of the host's process(es) in any phase. An idle host is about 40 MiB; what the
# attacks may make it hold is bounded by funchost's limits: at most 32 KiB of head per
# connection (500 x 32 KiB = 16 MiB), and request bodies only as they are read, within the
# body budget (the slow bodies here hold a few bytes each).
MEMORY_BOUND_MIB = 96.0

SLOW_BODY_SIZE = 1024 * 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--duration", type=float, default=12.0, help="seconds of each attack but slowloris"
    )
    parser.add_argument(
        "--slowloris-duration",
        type=float,
        default=33.0,
        help="seconds of the slowloris attack (beyond the 30 s head timeout to see it end)",
    )
    parser.add_argument(
        "--requests", type=int, default=2000, help="normal client's requests while quiet"
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="normal client's requests per second"
    )
    parser.add_argument("--connections", type=int, default=500, help="slowloris/slow-body")
    parser.add_argument("--drip-interval", type=float, default=5.0, help="slowloris: s/byte")
    parser.add_argument(
        "--attack-rate",
        type=float,
        default=8 * h.MIB,
        help="header-line(s): bytes/s the attacker sends (default 8 MiB/s)",
    )
    parser.add_argument("--servers", default="funchost,uvicorn", help="comma-separated")
    parser.add_argument(
        "--attacks",
        default=",".join(PHASES),
        help="comma-separated; a+b runs attacks a and b at once",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep full server logs")
    # The attacker process (this script, started by itself).
    parser.add_argument("--attacker", choices=ATTACKS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attacker is None:
        unknown = set(args.servers.split(",")) - {"funchost", "uvicorn"}
        unknown |= {k for p in args.attacks.split(",") for k in p.split("+")} - set(ATTACKS)
        if unknown:
            parser.error(f"unknown server or attack: {', '.join(sorted(unknown))}")
        if args.requests < 100 or args.duration < 2 or args.connections < 1 or args.rate <= 0:
            parser.error(
                "need --requests >= 100, --duration >= 2, --connections >= 1 and --rate > 0"
            )
    return args


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE (inherited by the servers and attackers it
    starts) to at least `wanted` if the hard limit allows; the soft limit after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --------------------------------------------------------------------------- the attacker


@dataclass
class AttackConnection:
    """One attack connection, times in seconds from the attack's start."""

    started: float
    status: int | None = None  # of the first response the server sent, if any
    answered: float | None = None
    ended: float | None = None  # when the server closed or reset it
    how: str = "open"  # closed | reset | open (still open when the attacker stopped)
    sent: int = 0  # bytes
    connect_error: str = ""


_REQUEST_HEAD = b"GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
_SLOW_BODY_HEAD = (
    b"POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
    b"Content-Length: %d\r\n\r\n" % SLOW_BODY_SIZE
)


async def _watch(reader: asyncio.StreamReader, record: AttackConnection, t0: float) -> None:
    """Read what the server sends until it ends the connection: its first status and when."""
    loop = asyncio.get_running_loop()
    seen = b""
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                record.how = "closed"
                break
            if record.status is None:
                seen = (seen + data)[:64]
                if b"\r\n" in seen or len(seen) >= 12:
                    record.answered = loop.time() - t0
                    parts = seen.split(b" ", 2)
                    with contextlib.suppress(IndexError, ValueError):
                        record.status = int(parts[1])
    except (ConnectionError, OSError):
        record.how = "reset"
    record.ended = loop.time() - t0


async def _hold(
    kind: str,
    port: int,
    t0: float,
    deadline: float,
    interval: float,
    record: AttackConnection,
    ready: asyncio.Event,
) -> None:
    """slowloris or slow-body: a head, then one byte every `interval` s until the server ends
    the connection or the attack ends."""
    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.open_connection(h.LOCALHOST, port)
    except OSError as exc:
        record.connect_error = str(exc)
        record.how = "refused"
        ready.set()
        return
    record.started = loop.time() - t0
    head = _REQUEST_HEAD + b"X-Slowloris: " if kind == "slowloris" else _SLOW_BODY_HEAD
    writer.write(head)
    record.sent = len(head)
    ready.set()
    watch = asyncio.create_task(_watch(reader, record, t0))
    drip = b"abcdefghijklmnopqrstuvwxyz" if kind == "slowloris" else b"x"
    try:
        while loop.time() < deadline:
            await asyncio.wait([watch], timeout=min(interval, max(0.0, deadline - loop.time())))
            if watch.done() or loop.time() >= deadline:
                break
            writer.write(drip[record.sent % len(drip) :][:1])
            record.sent += 1
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    await asyncio.wait([watch], timeout=0.5)
    watch.cancel()
    writer.close()


async def _stream(
    kind: str, port: int, t0: float, deadline: float, rate: float, records: list[AttackConnection]
) -> None:
    """header-lines or header-line: one head that never ends, sent at `rate` bytes/s; when the
    server refuses it, again on a new connection, until the attack ends."""
    loop = asyncio.get_running_loop()
    if kind == "header-lines":
        start, block = _REQUEST_HEAD, b"X-Line: y\r\n" * 1489  # 16 KB
    else:
        start, block = _REQUEST_HEAD + b"X-Long: ", b"a" * 16384
    # The rate holds over the whole attack, across reconnections: one client sending at
    # `rate`, not a new connection as fast as the server refuses the last one.
    began = loop.time()
    total = 0
    while loop.time() < deadline:
        pause = began + total / rate - loop.time()
        if pause > 0:
            await asyncio.sleep(min(pause, deadline - loop.time()))
            continue
        record = AttackConnection(started=loop.time() - t0)
        records.append(record)
        try:
            reader, writer = await asyncio.open_connection(h.LOCALHOST, port)
        except OSError as exc:
            record.connect_error = str(exc)
            record.how = "refused"
            await asyncio.sleep(0.1)
            continue
        watch = asyncio.create_task(_watch(reader, record, t0))
        try:
            writer.write(start)
            record.sent = len(start)
            total += len(start)
            while loop.time() < deadline and not watch.done():
                writer.write(block)
                record.sent += len(block)
                total += len(block)
                await writer.drain()
                delay = began + total / rate - loop.time()
                if delay > 0:
                    await asyncio.wait([watch], timeout=min(delay, deadline - loop.time()))
        except (ConnectionError, OSError):
            pass
        await asyncio.wait([watch], timeout=1.0)
        watch.cancel()
        writer.close()


async def attack(args: argparse.Namespace) -> list[AttackConnection]:
    """Run one attack for its duration; print READY once it is established."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    kind = args.attacker
    duration = args.slowloris_duration if kind == "slowloris" else args.duration
    deadline = t0 + duration
    records: list[AttackConnection] = []
    if kind in ("slowloris", "slow-body"):
        interval = args.drip_interval if kind == "slowloris" else 1.0
        tasks = []
        events = []
        for _ in range(args.connections):
            record = AttackConnection(started=0.0)
            records.append(record)
            ready = asyncio.Event()
            events.append(ready)
            tasks.append(
                asyncio.create_task(_hold(kind, args.port, t0, deadline, interval, record, ready))
            )
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), timeout=30)
        print("READY", flush=True)
        await asyncio.gather(*tasks)
    else:
        stream = _stream(kind, args.port, t0, deadline, args.attack_rate, records)
        task = asyncio.create_task(stream)
        await asyncio.sleep(0.2)
        print("READY", flush=True)
        await task
    return records


def attacker_main(args: argparse.Namespace) -> int:
    raise_fd_limit(args.connections + 64)
    try:
        import uvloop

        records = uvloop.run(attack(args))
    except ImportError:
        records = asyncio.run(attack(args))
    Path(args.report).write_text(json.dumps([asdict(r) for r in records]), encoding="utf-8")
    return 0


# --------------------------------------------------------------------------- the normal client


class Client:
    """GET /api/hello, one request at a time on a kept-alive connection (a new one if the
    server closed it), with each request's latency."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.request = f"GET {HELLO} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((h.LOCALHOST, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        return sock

    def _read_response(self, sock: socket.socket) -> tuple[int, bool]:
        """(status, whether the server keeps the connection)."""
        while b"\r\n\r\n" not in self.buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-response")
            self.buffer += chunk
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        keep = True
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection" and value.strip().lower() == b"close":
                keep = False
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed mid-body")
            rest += chunk
        self.buffer = rest[length:]
        return status, keep

    def one(self) -> tuple[float, int | None]:
        """Seconds and status of one request (None: it failed; the time is then until it
        failed)."""
        started = time.perf_counter()
        try:
            if self.sock is None:
                self.sock = self._connect()
            self.sock.sendall(self.request)
            status, keep = self._read_response(self.sock)
        except (OSError, ValueError, IndexError):
            self.close()
            return time.perf_counter() - started, None
        elapsed = time.perf_counter() - started
        if not keep:
            self.close()
        return elapsed, status

    def run(self, count: int) -> None:
        """`count` requests as fast as they are answered (a warm-up)."""
        for _ in range(count):
            self.one()

    def paced(
        self, rate: float, duration: float, until: Callable[[], bool] = lambda: False
    ) -> tuple[list[float], int]:
        """Requests at `rate` per second, one at a time, for `duration` seconds or until
        `until()`; latencies (s) of those that answered 200, and how many did not.

        A request's latency runs from when it was due, not from when it was sent: when the
        server stalls, the requests that a client at this rate would have sent meanwhile count
        as waiting (no coordinated omission).
        """
        latencies: list[float] = []
        errors = 0
        start = time.perf_counter()
        index = 0
        while True:
            due = start + index / rate
            now = time.perf_counter()
            if now - start >= duration or until():
                break
            if due > now:
                time.sleep(due - now)
            elapsed, status = self.one()
            latency = time.perf_counter() - due
            if status == 200:
                latencies.append(max(latency, elapsed))
            else:
                errors += 1
            index += 1
        return latencies, errors

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# --------------------------------------------------------------------------- memory


class TreeRss:
    """The peak of VmRSS summed over a process and its descendants, sampled every 0.2 s."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-rss", daemon=True)
        self._t0 = time.perf_counter()

    def _run(self) -> None:
        while True:
            total = h.rss_tree(self.pid).total
            self.samples.append((time.perf_counter() - self._t0, total))
            self.peak = max(self.peak, total)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------- servers


def server_specs(secrets: Path, wanted: list[str]) -> list[h.ServerSpec]:
    specs = {
        "funchost": h.funchost_spec(
            "funchost", "funchost serve", APP_DIR, path=HELLO, secrets_dir=secrets
        ),
        "uvicorn": h.uvicorn_spec(
            "uvicorn",
            "uvicorn (funchost.asgi)",
            "funchost.asgi:app_from_environment",
            path=HELLO,
            env={"FUNCHOST_APP_DIR": str(APP_DIR), "FUNCTIONS_SECRETS_PATH": str(secrets)},
            factory=True,
        ),
    }
    return [specs[name] for name in wanted]


_live_attackers: set[subprocess.Popen[bytes]] = set()


def _stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM by PID, then SIGKILL by PID; only processes this script started."""
    _live_attackers.discard(proc)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextlib.contextmanager
def attacker(
    kind: str, port: int, args: argparse.Namespace, report: Path, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The attacker process, once its attack is established (it printed READY)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--attacker",
        kind,
        "--port",
        str(port),
        "--report",
        str(report),
        "--connections",
        str(args.connections),
        "--duration",
        str(args.duration),
        "--slowloris-duration",
        str(args.slowloris_duration),
        "--drip-interval",
        str(args.drip_interval),
        "--attack-rate",
        str(args.attack_rate),
    ]
    with open(log, "wb") as errors:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            start_new_session=True,
        )
    _live_attackers.add(proc)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        line = b""
        while not line.startswith(b"READY"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                raise h.BenchError(f"the {kind} attacker did not start; see {log}")
            if select.select([proc.stdout], [], [], min(remaining, 1.0))[0]:
                line = proc.stdout.readline()
        yield proc
    finally:
        _stop_process(proc)


def _stop_live_attackers() -> None:
    for proc in list(_live_attackers):
        _stop_process(proc)


# --------------------------------------------------------------------------- one phase


@dataclass
class Phase:
    attack: str  # "quiet" or one of ATTACKS
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    peak_rss_mib: float
    connections: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = ""
    outcome_ok: bool | None = None
    recovered_s: float | None = None  # after the attack: until the server answered again
    latencies: list[float] = field(default_factory=list)  # seconds, of the 200 answers


def describe_attack(kind: str, records: list[dict[str, Any]], duration: float) -> tuple[str, bool]:
    """One line on how the attack connections ended, and whether as funchost promises."""
    made = [r for r in records if not r["connect_error"]]
    if not made:
        return f"no connection made ({len(records)} refused)", False
    statuses = collections.Counter(r["status"] for r in made if r["status"] is not None)
    ended = [r for r in made if r["how"] != "open"]
    expected, within = EXPECTED[kind]
    parts = []
    if kind in ("header-lines", "header-line"):
        answered = [r for r in made if r["status"] is not None]
        # A head cut short by the attack's end before it reached the limit says nothing.
        unanswered = [r for r in made if r["status"] is None and r["sent"] > 64 * 1024]
        parts.append(f"{len(answered)} heads refused")
        if answered:
            sent = statistics.median(r["sent"] for r in answered)
            took = statistics.median(r["answered"] - r["started"] for r in answered)
            parts.append(f"after {sent / 1024:.0f} KiB sent, {took * 1000:.0f} ms (median)")
        if unanswered:
            most = max(r["sent"] for r in unanswered)
            parts.append(f"{len(unanswered)} never answered ({most / h.MIB:.0f} MiB sent)")
        ok = bool(answered) and not unanswered
        ok = ok and all(
            r["status"] in expected and r["answered"] - r["started"] <= within for r in answered
        )
    else:
        parts.append(f"{len(ended)}/{len(made)} closed")
        times = [r["ended"] - r["started"] for r in ended]
        if times:
            parts.append(f"at {min(times):.1f}-{max(times):.1f} s")
        left_open = sum(1 for r in made if r["status"] is not None and r["how"] == "open")
        if left_open:
            parts.append(f"{left_open} answered but left open")
        if len(made) < len(records):
            parts.append(f"{len(records) - len(made)} not connected")
        observable = duration >= within + 1
        ok = observable and all(
            r["how"] != "open" and r["status"] in expected and r["ended"] - r["started"] <= within
            for r in made
        )
        if not observable:
            parts.append(f"(not judged: needs {within + 1:.0f} s)")
    if statuses:
        parts.append(", ".join(f"{s}x{n}" for s, n in sorted(statuses.items())))
    else:
        parts.append("no status")
    return "; ".join(parts), ok


def wait_responsive(port: int, timeout: float = 60.0) -> float | None:
    """Seconds until GET /api/hello answers 200 on a new connection (None: not in `timeout`)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if h.http_status(port, HELLO, timeout=2.0) == 200:
            return time.perf_counter() - started
        time.sleep(0.05)
    return None


def _duration(kind: str, args: argparse.Namespace) -> float:
    return float(args.slowloris_duration if kind == "slowloris" else args.duration)


def run_phase(
    server: h.Server, kind: str, args: argparse.Namespace, work: Path, stamp: str
) -> Phase:
    client = Client(server.port)
    try:
        if kind.startswith("quiet"):
            count = args.requests if kind == "quiet" else args.requests // 2
            with TreeRss(server.pid) as rss:
                latencies, errors = client.paced(args.rate, count / args.rate)
            records: list[dict[str, Any]] = []
        else:
            kinds = kind.split("+")
            reports = {k: work / f"{server.spec.key}-{k}-{stamp}.json" for k in kinds}
            with TreeRss(server.pid) as rss, contextlib.ExitStack() as stack:
                procs = [
                    stack.enter_context(
                        attacker(
                            k, server.port, args, reports[k], work / f"{server.spec.key}-{k}.log"
                        )
                    )
                    for k in kinds
                ]
                # The normal client carries on for as long as the attack lasts.
                duration = max(_duration(k, args) for k in kinds)
                latencies, errors = client.paced(
                    args.rate, duration + 5, lambda: all(p.poll() is not None for p in procs)
                )
                for k, proc in zip(kinds, procs, strict=True):
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        h.say(f"    WARNING: the {k} attacker overran; stopping it")
            by_kind = {
                k: json.loads(r.read_text()) if r.exists() else [] for k, r in reports.items()
            }
            records = [{"attack": k, **r} for k, rs in by_kind.items() for r in rs]
    finally:
        client.close()
    phase = Phase(
        attack=kind,
        requests=len(latencies),
        errors=errors,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        max_ms=max(latencies, default=float("nan")) * 1000,
        peak_rss_mib=rss.peak / h.MIB,
        connections=records,
    )
    phase.latencies = [round(x, 7) for x in latencies]
    if not kind.startswith("quiet"):
        outcomes = [describe_attack(k, rs, _duration(k, args)) for k, rs in by_kind.items()]
        texts = [text for text, _ in outcomes]
        if len(outcomes) > 1:
            texts = [f"{k}: {text}" for k, text in zip(by_kind, texts, strict=True)]
        phase.outcome = "; ".join(texts)
        phase.outcome_ok = all(ok for _, ok in outcomes)
        phase.recovered_s = wait_responsive(server.port)
    return phase


def run_server(
    spec: h.ServerSpec, args: argparse.Namespace, log_dir: Path, work: Path, stamp: str
) -> dict[str, Any]:
    h.say(f"[{spec.key}] {spec.label}: starting")
    server = h.Server(spec, log_dir)
    server.start()
    phases: list[Phase] = []
    try:
        ready_s = server.wait_ready(timeout=60.0, interval=0.05)
        warm = Client(server.port)
        warm.run(500)
        warm.close()
        # Quiet before the attacks and again after them (half as long): the baseline is both.
        for kind in ["quiet", *args.attacks.split(","), "quiet again"]:
            if not server.is_running():
                h.say(f"  [{spec.key}] the server is gone; skipping {kind}")
                break
            phase = run_phase(server, kind, args, work, stamp)
            phases.append(phase)
            extra = f"; {phase.outcome}" if phase.outcome else ""
            h.say(
                f"  [{spec.key}] {kind}: p50 {phase.p50_ms:.2f} ms, p99 {phase.p99_ms:.2f} ms, "
                f"{phase.errors} errors, peak RSS {phase.peak_rss_mib:.1f} MiB{extra}"
            )
            if phase.recovered_s is None and not kind.startswith("quiet"):
                h.say(f"  [{spec.key}] not answering 60 s after {kind}; stopping here")
                break
        alive = server.is_running()
    finally:
        returncode = server.stop()
    server.summarize_log(keep=args.keep_logs)
    if not alive or not server.stopped_cleanly:
        h.warn_unclean(spec.key, server, alive, returncode, "the attacks")
    return {
        "key": spec.key,
        "label": spec.label,
        "command": spec.command(server.port),
        "ready_s": ready_s,
        "phases": [asdict(p) for p in phases],
        "alive_after": alive,
        "exit_code": returncode,
        "stopped_cleanly": server.stopped_cleanly,
    }


# --------------------------------------------------------------------------- main


def main() -> int:
    args = parse_args()
    if args.attacker is not None:
        return attacker_main(args)
    import atexit

    atexit.register(_stop_live_attackers)
    limit = raise_fd_limit(2 * args.connections + 256)
    if limit < args.connections + 64:
        raise h.BenchError(
            f"RLIMIT_NOFILE is {limit}: too low for {args.connections} attack connections"
        )
    run_stamp, info, log_dir = h.begin("robustness")
    info["rlimit_nofile"] = limit
    h.say(
        f"robustness_bench: a client at {args.rate:g} req/s ({args.requests} requests quiet, "
        f"then through each attack); {args.connections} slowloris/"
        f"slow-body connections; {args.slowloris_duration:g} s slowloris, {args.duration:g} s "
        f"other attacks; header attacks at {args.attack_rate / h.MIB:g} MiB/s; logs in {log_dir}"
    )
    results: list[dict[str, Any]] = []
    with h.temp_dir("funchost-bench-secrets-") as secrets, h.temp_dir("robustness-") as work:
        for spec in server_specs(secrets, args.servers.split(",")):
            results.append(run_server(spec, args, log_dir, work, run_stamp))

    rows: list[list[str]] = []
    verdicts: dict[str, bool] = {}
    for result in results:
        phases = result["phases"]
        # The baseline: every request of both quiet phases.
        quiet_latencies = [
            x for p in phases if p["attack"].startswith("quiet") for x in p["latencies"]
        ]
        quiet_p99 = percentile(quiet_latencies, 99) * 1000
        quiet_p50 = percentile(quiet_latencies, 50) * 1000
        result["quiet_p50_ms"], result["quiet_p99_ms"] = quiet_p50, quiet_p99
        peak = max((p["peak_rss_mib"] for p in phases), default=float("nan"))
        verdicts[f"{result['key']} memory <= {MEMORY_BOUND_MIB:g} MiB"] = peak <= MEMORY_BOUND_MIB
        for p in phases:
            ratio = p["p99_ms"] / quiet_p99 if quiet_p99 else float("nan")
            p["p99_ratio"] = ratio
            if p["attack"] in P99_ATTACKS:
                verdicts[f"{result['key']} {p['attack']} p99 <= {P99_TARGET:g}x quiet"] = (
                    ratio <= P99_TARGET and p["errors"] == 0
                )
            if p["outcome_ok"] is not None:
                verdicts[f"{result['key']} {p['attack']} ends as expected"] = p["outcome_ok"]
            rows.append(
                [
                    result["label"],
                    p["attack"],
                    h.fmt(p["p50_ms"]),
                    h.fmt(p["p99_ms"]),
                    h.fmt(ratio) + "x",
                    h.fmt(p["peak_rss_mib"], 1),
                    str(p["errors"]),
                    p["outcome"] or "-",
                ]
            )
    headers = ["server", "attack", "p50 ms", "p99 ms", "p99/quiet", "peak RSS MiB", "errors"]
    headers.append("attack outcome")
    h.say()
    h.say(h.text_table(headers, rows))
    h.say()
    for name, ok in verdicts.items():
        h.say(f"  {h.verdict(ok)}  {name}")
    data = {
        "kind": "robustness",
        "info": info,
        "args": {k: v for k, v in vars(args).items() if k not in ("attacker", "port", "report")},
        "targets": {
            "p99_ratio": P99_TARGET,
            "p99_attacks": P99_ATTACKS,
            "memory_bound_mib": MEMORY_BOUND_MIB,
            "expected": {k: [sorted(v[0]), v[1]] for k, v in EXPECTED.items()},
        },
        "results": results,
        "verdicts": verdicts,
    }
    md_rows = [[row[0], row[1], row[2], row[3], row[4], row[5], row[7]] for row in rows]
    h.report(
        "robustness",
        run_stamp,
        info,
        data,
        ["Server", "Attack", "p50 ms", "p99 ms", "p99/quiet", "Peak RSS MiB", "Attack outcome"],
        md_rows,
    )
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    h.run_main(main, "robustness_bench")
