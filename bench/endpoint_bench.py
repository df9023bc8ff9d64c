"""funchost's storage endpoint (`funchost storage serve`) against Azurite, with the official SDKs.

    .venv/bin/python bench/endpoint_bench.py [--ops 10000] [--concurrent-ops 10000]
                                             [--big-mib 1024] [--trigger-messages 2000]
                                             [--latency-messages 60] [--skip PART ...]

In one run, each server on free ports of 127.0.0.1, started here and stopped by its PID:
  funchost  `funchost storage serve --location <temp folder>` (the serving process is the one
            started: a Python process, no wrapper);
  Azurite   .tools/azurite `--disableTelemetry --loose --skipApiVersionCheck
            --inMemoryPersistence` (the started process is node itself: its `#!/usr/bin/env node`
            line execs node; the script checks that /proc/PID/exe is node).
Parts (all with the sync clients of azure-storage-queue and azure-storage-blob, defaults):
  ops         one client thread, `--ops` operations of each kind, in this order: queue send,
              receive one + delete (the messages just sent) on a fresh server, then 1 KiB blob
              upload (a new blob each), 1 KiB download (those blobs) on another fresh one (the
              blobs do not pay for Azurite's queue history). Per kind: the server process's CPU
              (utime + stime from /proc/PID/stat, read just before and after) per operation,
              and operations per second. Targets: CPU <= 1/4 of Azurite's; rate >= 1.5x.
  concurrent  16 clients (4 processes x 4 threads, each thread its own client), the same four
              kinds one after another (per kind, not mixed), `--concurrent-ops` in all per kind,
              on fresh servers (queues, then blobs, as above). Target: throughput >= 1.5x
              Azurite's, no errors.
  big         a `--big-mib` blob (1 GiB) from a file, uploaded with `upload_blob` and downloaded
              with `download_blob().readinto`, SDK defaults (4 MiB blocks, 1 connection), on a
              fresh server; Azurite here persists to a temporary folder (its default, as users
              run it; in memory it would hold the whole blob). Targets: throughput >= Azurite's
              each way; funchost's process grows by <= 64 MiB (VmHWM after - VmRSS before,
              from /proc/PID/status).
  trigger     bench/apps/queue_dev (one `def` queue-triggered function, host.json defaults) under
              `funchost start` on (a) the development account, `UseDevelopmentStorage=true;
              DevelopmentStorageProxyUri=http://127.0.0.N` served by this run's own `funchost
              storage serve --host 127.0.0.N` (ports 10000-10002 of a loopback address where
              nothing listens, so the real development ports are never touched), which the app
              finds and uses, and (b) an empty AzureWebJobsStorage (the app's embedded store).
              Throughput: `--trigger-messages` preloaded, drained; target (a) >= 0.8 x (b).
              Latency, (a) only: another process sends `--latency-messages` with the SDK, one
              every 0.1-0.3 s, each carrying time.time() from just before `send_message`; the
              function records when it starts. Target: p50 <= 50 ms.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, cast

import harness as h

sys.path.insert(0, str(h.REPO_ROOT))

from tests.azurite import AZURITE_BIN, free_ports
from tests.azurite import development_connection_string as connection_string

KIND = "endpoint"
OPS = ("send", "receive+delete", "upload 1 KiB", "download 1 KiB")
# Each group runs on a fresh server: Azurite's in-memory store slows down with a queue's
# history, and blob operations should not pay for the queue's.
GROUPS = {"queues": OPS[:2], "blobs": OPS[2:]}
QUEUE = "bench-q"
CONTAINER = "bench-c"
TRIGGER_QUEUE = "bench-trigger"
TRIGGER_APP = h.APPS_DIR / "queue_dev"
PAYLOAD = bytes(random.Random(7).getrandbits(8) for _ in range(1024))
WORKERS = 4
THREADS = 4
TARGET_CPU = 0.25
TARGET_RATE = 1.5
TARGET_GROWTH_MIB = 64
TARGET_P50_MS = 50.0
TARGET_TRIGGER = 0.8


# --------------------------------------------------------------------------- servers


@dataclass
class Storage:
    """A running storage server: the process serving it and how to reach it."""

    name: str
    server: h.Server
    connection: str
    pid: int  # the serving process

    def cpu_ticks(self) -> int:
        return process_ticks(self.pid)


def process_ticks(pid: int) -> int:
    """utime + stime of `pid` alone (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # proc(5) fields 14 and 15


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, in bytes."""
    found: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0]) * 1024
    return found


def wait_answering(server: h.Server, connection: str, timeout: float = 60.0) -> None:
    """Until both services answer an SDK call (the server may still be starting)."""
    from azure.core.exceptions import AzureError
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

    deadline = time.monotonic() + timeout
    while True:
        if not server.is_running():
            raise h.BenchError(
                f"{server.spec.label} exited before answering; log {server.log_path}:\n"
                f"{server.log_tail()}"
            )
        try:
            QueueServiceClient.from_connection_string(
                connection, retry_total=0
            ).get_service_properties()
            BlobServiceClient.from_connection_string(
                connection, retry_total=0
            ).get_service_properties()
            return
        except AzureError:
            if time.monotonic() > deadline:
                raise h.BenchError(
                    f"{server.spec.label} did not answer within {timeout:.0f} s; log "
                    f"{server.log_path}:\n{server.log_tail()}"
                ) from None
            time.sleep(0.05)


@contextlib.contextmanager
def funchost_storage(
    work: Path, log_dir: Path, label: str, host: str = h.LOCALHOST, ports: Sequence[int] = ()
) -> Iterator[Storage]:
    """`funchost storage serve` on free ports (or `ports`: blob, queue, table) of `host`, with a
    data folder of its own."""
    blob, queue, table = ports or free_ports(3, host)
    location = work / f"funchost-{label}"
    argv = (
        h.executable("funchost"), "storage", "serve", "--host", host,
        "--blob-port", str(blob), "--queue-port", str(queue), "--table-port", str(table),
        "--location", str(location),
    )  # fmt: skip
    spec = h.ServerSpec(
        key=f"funchost-{label}", label="funchost storage serve", argv=argv, path="/"
    )
    connection = connection_string(host, blob, queue)
    server = h.Server(spec, log_dir)
    server.start()
    try:
        wait_answering(server, connection)
        yield Storage("funchost", server, connection, server.pid)
    finally:
        server.stop()


@contextlib.contextmanager
def azurite_storage(
    work: Path, log_dir: Path, label: str, in_memory: bool = True
) -> Iterator[Storage]:
    """Azurite on free ports of 127.0.0.1, in memory or on a temporary folder."""
    binary = Path(os.environ.get("FUNCHOST_AZURITE") or AZURITE_BIN)
    if not binary.exists():
        raise h.BenchError(f"Azurite is not installed at {binary}; run scripts/setup")
    blob, queue, table = free_ports(3)
    location = work / f"azurite-{label}"
    location.mkdir(parents=True)
    persistence = ("--inMemoryPersistence",) if in_memory else ("--location", str(location))
    argv = (
        str(binary), "--disableTelemetry", "--loose", "--skipApiVersionCheck", *persistence,
        "--blobHost", h.LOCALHOST, "--blobPort", str(blob),
        "--queueHost", h.LOCALHOST, "--queuePort", str(queue),
        "--tableHost", h.LOCALHOST, "--tablePort", str(table),
    )  # fmt: skip
    spec = h.ServerSpec(key=f"azurite-{label}", label="Azurite", argv=argv, path="/")
    connection = connection_string(h.LOCALHOST, blob, queue)
    server = h.Server(spec, log_dir)
    server.start()
    try:
        wait_answering(server, connection)
        pid = node_pid(server.pid)
        yield Storage("Azurite", server, connection, pid)
    finally:
        server.stop()


def node_pid(pid: int) -> int:
    """The node process serving Azurite: the started process if it is node (the script's
    shebang execs it), else its one node descendant (an npm or sh wrapper's child)."""
    for member in (pid, *h.descendants(pid)):
        with contextlib.suppress(OSError):
            if os.path.basename(os.readlink(f"/proc/{member}/exe")).startswith("node"):
                return member
    raise h.BenchError(f"no node process among {pid} and its descendants")


@contextlib.contextmanager
def server_of(kind: str, work: Path, log_dir: Path, label: str) -> Iterator[Storage]:
    if kind == "funchost":
        with funchost_storage(work, log_dir, label) as storage:
            yield storage
    else:
        with azurite_storage(work, log_dir, label) as storage:
            yield storage


# --------------------------------------------------------------------------- operations


class Client:
    """One client: the SDK's sync queue and blob clients, its own connections."""

    def __init__(self, connection: str, queue: str, container: str) -> None:
        from azure.storage.blob import BlobServiceClient
        from azure.storage.queue import QueueClient

        self.queue = QueueClient.from_connection_string(connection, queue)
        self.container = BlobServiceClient.from_connection_string(connection).get_container_client(
            container
        )

    def prepare(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            self.queue.create_queue()
        with contextlib.suppress(ResourceExistsError):
            self.container.create_container()

    def run(self, op: str, names: Sequence[str]) -> tuple[int, int, list[str]]:
        """Do `op` once per name; (done, empty receives, first errors)."""
        errors: list[str] = []
        done = empty = 0
        for name in names:
            try:
                if op == "send":
                    self.queue.send_message(name)
                elif op == "receive+delete":
                    while True:
                        message = self.queue.receive_message()
                        if message is not None:
                            break
                        empty += 1
                        if empty > 1000:
                            raise RuntimeError("the queue stayed empty")
                    self.queue.delete_message(message)
                elif op == "upload 1 KiB":
                    self.container.upload_blob(name, PAYLOAD, overwrite=True)
                else:
                    data = self.container.download_blob(name).readall()
                    if data != PAYLOAD:
                        raise RuntimeError(f"blob {name} read back wrong")
                done += 1
            except Exception as exc:  # counted and reported
                if len(errors) < 5:
                    errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                elif len(errors) == 5:
                    errors.append("...")
        failed = len(names) - done
        return done, empty, errors if failed else []


def names_for(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:06d}" for i in range(count)]


def single_thread(storage: Storage, ops: int, kinds: Sequence[str]) -> dict[str, Any]:
    """One client thread: `ops` operations of each kind, with the server's CPU around each."""
    client = Client(storage.connection, QUEUE, CONTAINER)
    client.prepare()
    warm = Client(storage.connection, "bench-warm", "bench-warm")
    warm.prepare()
    for op in kinds:  # connections open, code paths warm
        warm.run(op, names_for("w", 50))
    names = names_for("b", ops)
    results: dict[str, Any] = {}
    for op in kinds:
        ticks0 = storage.cpu_ticks()
        t0 = time.perf_counter()
        done, empty, errors = client.run(op, names)
        elapsed = time.perf_counter() - t0
        ticks = storage.cpu_ticks() - ticks0
        cpu_ms = ticks / h.CLOCK_TICKS_PER_SEC * 1000 / max(done, 1)
        results[op] = {
            "ops": done,
            "seconds": elapsed,
            "rate": done / elapsed,
            "cpu_ticks": ticks,
            "cpu_ms_per_op": cpu_ms,
            "empty_receives": empty,
            "errors": len(names) - done,
            "error_samples": errors,
        }
        h.say(
            f"  [{storage.name}] {op:<15} {done / elapsed:8,.0f} ops/s  server CPU "
            f"{cpu_ms:6.3f} ms/op  errors {len(names) - done}"
        )
    return results


# --------------------------------------------------------------------------- concurrent clients


def worker_main() -> int:
    """A client process of the concurrent part: THREADS threads, each with its own client.
    Reads its configuration (one JSON line) from stdin, prints READY, then for each line naming
    an operation runs it on every thread and prints one JSON line of results."""
    config = json.loads(sys.stdin.readline())
    clients = [Client(config["connection"], QUEUE, CONTAINER) for _ in range(config["threads"])]
    clients[0].prepare()
    print("READY", flush=True)
    for line in sys.stdin:
        op = line.strip()
        if not op:
            break
        share: int = config["shares"][op]
        outcome: list[tuple[int, int, list[str]]] = [(0, 0, [])] * len(clients)

        def work(
            index: int, op: str = op, share: int = share, outcome: list[Any] = outcome
        ) -> None:
            prefix = f"c{config['worker']}t{index}-"
            outcome[index] = clients[index].run(op, names_for(prefix, share))

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clients))]
        started = time.time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ended = time.time()
        errors = [error for _, _, found in outcome for error in found]
        done = sum(count for count, _, _ in outcome)
        result = {
            "started": started,
            "ended": ended,
            "done": done,
            "errors": share * len(clients) - done,
            "empty_receives": sum(empty for _, empty, _ in outcome),
            "error_samples": errors[:5],
        }
        print(json.dumps(result), flush=True)
    return 0


def machine_ticks() -> tuple[int, int]:
    """All CPUs' ticks so far, and those idle (idle + iowait), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    return sum(values), values[3] + values[4]


def idle_fraction(before: tuple[int, int]) -> float:
    total, idle = machine_ticks()
    return (idle - before[1]) / max(total - before[0], 1)


def concurrent(storage: Storage, total: int, log_dir: Path, kinds: Sequence[str]) -> dict[str, Any]:
    """WORKERS processes x THREADS threads, each kind of operation in turn, `total` per kind."""
    clients = WORKERS * THREADS
    share = max(1, total // clients)
    procs: list[subprocess.Popen[str]] = []
    results: dict[str, Any] = {}
    try:
        for worker in range(WORKERS):
            log = open(log_dir / f"worker-{storage.name}-{kinds[0]}-{worker}.log", "wb")  # noqa: SIM115
            proc = subprocess.Popen(
                [sys.executable, __file__, "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=h.REPO_ROOT,
            )
            log.close()
            procs.append(proc)
            config = {
                "connection": storage.connection,
                "threads": THREADS,
                "worker": worker,
                "shares": dict.fromkeys(OPS, share),
            }
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(config) + "\n")
            proc.stdin.flush()
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "READY":
                raise h.BenchError(f"a client process did not start; logs in {log_dir}")
        for op in kinds:
            ticks0 = storage.cpu_ticks()
            client_ticks0 = sum(process_ticks(proc.pid) for proc in procs)
            idle0 = machine_ticks()
            for proc in procs:
                assert proc.stdin is not None
                proc.stdin.write(op + "\n")
                proc.stdin.flush()
            answers = []
            for proc in procs:
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if not line:
                    raise h.BenchError(f"a client process died; logs in {log_dir}")
                answers.append(json.loads(line))
            ticks = storage.cpu_ticks() - ticks0
            client_ticks = sum(process_ticks(proc.pid) for proc in procs) - client_ticks0
            elapsed = max(a["ended"] for a in answers) - min(a["started"] for a in answers)
            done = sum(a["done"] for a in answers)
            errors = sum(a["errors"] for a in answers)
            results[op] = {
                "ops": done,
                "seconds": elapsed,
                "rate": done / elapsed,
                "errors": errors,
                "cpu_ms_per_op": ticks / h.CLOCK_TICKS_PER_SEC * 1000 / max(done, 1),
                "client_cpu_ms_per_op": client_ticks / h.CLOCK_TICKS_PER_SEC * 1000 / max(done, 1),
                "machine_idle": idle_fraction(idle0),
                "empty_receives": sum(a["empty_receives"] for a in answers),
                "error_samples": [s for a in answers for s in a["error_samples"]][:5],
                "per_process": answers,
            }
            h.say(
                f"  [{storage.name}] {op:<15} {done / elapsed:8,.0f} ops/s with {clients} "
                f"clients  server CPU {results[op]['cpu_ms_per_op']:6.3f} ms/op  clients' CPU "
                f"{results[op]['client_cpu_ms_per_op']:6.3f} ms/op  machine idle "
                f"{results[op]['machine_idle']:.0%}  errors {errors}"
            )
    finally:
        for proc in procs:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
    return results


# --------------------------------------------------------------------------- one big blob


class Sink(io.RawIOBase):
    """A writable that keeps only the length and CRC-32 of what it is given."""

    def __init__(self) -> None:
        self.length = 0
        self.crc = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.crc = zlib.crc32(view, self.crc)
        self.length += view.nbytes
        return view.nbytes


def make_big_file(path: Path, size: int) -> int:
    """A file of `size` bytes (a random MiB, repeated with a counter); its CRC-32."""
    block = random.Random(11).randbytes(h.MIB)
    crc = 0
    with open(path, "wb") as out:
        written = 0
        index = 0
        while written < size:
            piece = (index.to_bytes(8, "big") + block[8:])[: size - written]
            out.write(piece)
            crc = zlib.crc32(piece, crc)
            written += len(piece)
            index += 1
    return crc


def big_blob(storage: Storage, source: Path, crc: int) -> dict[str, Any]:
    from azure.storage.blob import BlobServiceClient

    size = source.stat().st_size
    service = BlobServiceClient.from_connection_string(storage.connection)
    container = service.get_container_client("bench-big")
    container.create_container()
    container.upload_blob("warm", b"x")  # connections open
    before = memory(storage.pid)
    blob = container.get_blob_client("big.bin")
    t0 = time.perf_counter()
    with open(source, "rb") as data:
        blob.upload_blob(data, length=size)
    upload_s = time.perf_counter() - t0
    after_upload = memory(storage.pid)
    sink = Sink()
    t0 = time.perf_counter()
    blob.download_blob().readinto(cast("IO[bytes]", sink))
    download_s = time.perf_counter() - t0
    after = memory(storage.pid)
    if sink.length != size or sink.crc != crc:
        raise h.BenchError(f"{storage.name}: the {size}-byte blob read back wrong")
    growth = after["VmHWM"] - before["VmRSS"]
    result = {
        "bytes": size,
        "upload_seconds": upload_s,
        "download_seconds": download_s,
        "upload_mib_s": size / h.MIB / upload_s,
        "download_mib_s": size / h.MIB / download_s,
        "memory_before": before,
        "memory_after_upload": after_upload,
        "memory_after": after,
        "growth": growth,
    }
    h.say(
        f"  [{storage.name}] {size / h.MIB:,.0f} MiB up {result['upload_mib_s']:,.0f} MiB/s, "
        f"down {result['download_mib_s']:,.0f} MiB/s; VmRSS before "
        f"{before['VmRSS'] / h.MIB:.0f} MiB, VmHWM after {after['VmHWM'] / h.MIB:.0f} MiB "
        f"(+{growth / h.MIB:.0f} MiB)"
    )
    return result


# --------------------------------------------------------------------------- queue trigger


def sender_main(connection: str, count: int) -> int:
    """Send `count` latency probes, one every 0.1-0.3 s, each carrying the time just before
    its send_message."""
    from azure.storage.queue import QueueClient

    queue = QueueClient.from_connection_string(connection, TRIGGER_QUEUE)
    queue.get_queue_properties()  # the connection is open
    for _ in range(count):
        time.sleep(random.uniform(0.1, 0.3))
        body = f"t:{time.time()!r}".encode()
        queue.send_message(base64.b64encode(body).decode())
    return 0


def loopback_address() -> str:
    """A 127.0.x.y (not 127.0.0.1) on which nothing listens on ports 10000-10002."""
    rng = random.Random()
    for _ in range(50):
        address = f"127.0.{rng.randint(1, 254)}.{rng.randint(2, 254)}"
        if all(_nothing_on(address, port) for port in (10000, 10001, 10002)):
            return address
    raise h.BenchError("no loopback address with ports 10000-10002 free")


def _nothing_on(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((address, port)) != 0


def drain(store_path: Path, count: int, timeout: float = 600.0) -> float:
    """Messages per second from the first one leaving the trigger queue until it is empty,
    read by polling its length every 20 ms."""
    import sqlite3

    db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=30)

    def length() -> int:
        (value,) = db.execute(
            "SELECT count(*) FROM messages WHERE queue = ?", (TRIGGER_QUEUE,)
        ).fetchone()
        return int(value)

    try:
        deadline = time.monotonic() + timeout
        start: float | None = None
        start_length = count
        while time.monotonic() < deadline:
            now = time.perf_counter()
            left = length()
            if start is None and left < count:
                start, start_length = now, left
            if start is not None and left == 0:
                return start_length / (now - start)
            time.sleep(0.02)
    finally:
        db.close()
    raise h.BenchError(f"the trigger queue was not drained within {timeout:.0f} s")


def preload(store_path: Path, count: int) -> None:
    import asyncio

    from funchost.storage.sqlite import SqliteStorage

    async def fill() -> None:
        store = SqliteStorage(store_path)
        try:
            await store.create_queue(TRIGGER_QUEUE)
            body = base64.b64encode(b"work item").decode()
            for _ in range(count):
                await store.send_message(TRIGGER_QUEUE, body)
            if await store.queue_length(TRIGGER_QUEUE) != count:
                raise h.BenchError("the trigger queue does not hold the preloaded messages")
        finally:
            await store.close()

    asyncio.run(fill())


def host_spec(app: Path, work: Path, label: str, settings: dict[str, str]) -> h.ServerSpec:
    spec = h.funchost_spec(
        f"start-{label}",
        f"funchost start ({label})",
        app,
        command="start",
        path="/admin/host/ping",
        secrets_dir=work / f"secrets-{label}",
    )
    return replace(spec, env={**spec.env, **settings})


def trigger_dev(work: Path, log_dir: Path, messages: int, probes: int) -> dict[str, Any]:
    """The app on the development account, served by this run's own endpoint."""
    address = loopback_address()
    app = work / "app-dev"
    shutil.copytree(TRIGGER_APP, app)
    records = work / "records-dev"
    records.mkdir()
    settings = {
        "AzureWebJobsStorage": (
            f"UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://{address}"
        ),
        "BENCH_RECORD_DIR": str(records),
        "XDG_DATA_HOME": str(work / "xdg-data"),  # never the user's development account
    }
    with funchost_storage(work, log_dir, "dev", address, (10000, 10001, 10002)) as storage:
        store_path = work / "funchost-dev" / "storage.db"
        preload(store_path, messages)
        with h.running(host_spec(app, work, "dev", settings), log_dir, ready_timeout=60) as host:
            rate = drain(store_path, messages)
            h.say(f"  [development account] {rate:,.0f} messages/s drained")
            banner = storage_banner(host.log_path)
            if "funchost's storage endpoint" not in banner:
                h.say(f"  WARNING: the app does not use funchost's endpoint: {banner!r}")
            sender = subprocess.run(
                [sys.executable, __file__, "--sender", storage.connection, str(probes)],
                capture_output=True,
                text=True,
                timeout=probes + 60,
                check=False,
                cwd=h.REPO_ROOT,
            )
            if sender.returncode != 0:
                raise h.BenchError(f"the sender failed:\n{sender.stdout}{sender.stderr}")
            latencies = wait_records(records / "latency.txt", probes)
    p50 = percentile(latencies, 50)
    p99 = percentile(latencies, 99)
    h.say(f"  [development account] send_message to start: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    return {
        "address": address,
        "banner": banner,
        "rate": rate,
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "latencies_ms": latencies,
    }


def storage_banner(log: Path) -> str:
    """The banner's `Storage:` line."""
    with open(log, encoding="utf-8", errors="replace") as text:
        for _, line in zip(range(200), text, strict=False):
            if line.startswith("Storage:"):
                return line.strip()
    return ""


def wait_records(path: Path, count: int, timeout: float = 30.0) -> list[float]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            break
        time.sleep(0.1)
    if len(lines) < count:
        raise h.BenchError(f"only {len(lines)} of {count} probes started the function")
    return [(float(b) - float(a)) * 1000 for a, b in (line.split() for line in lines)]


def trigger_embedded(work: Path, log_dir: Path, messages: int) -> dict[str, Any]:
    """The same app on an empty AzureWebJobsStorage: its own embedded store."""
    from funchost.storage.accounts import embedded_path

    app = work / "app-embedded"
    shutil.copytree(TRIGGER_APP, app)
    records = work / "records-embedded"
    records.mkdir()
    store_path = embedded_path(app / ".funchost")
    store_path.parent.mkdir(parents=True, exist_ok=True)
    preload(store_path, messages)
    settings = {"AzureWebJobsStorage": "", "BENCH_RECORD_DIR": str(records)}
    with h.running(host_spec(app, work, "embedded", settings), log_dir, ready_timeout=60):
        rate = drain(store_path, messages)
    h.say(f"  [embedded store] {rate:,.0f} messages/s drained")
    return {"rate": rate}


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


# --------------------------------------------------------------------------- main


def run_part(
    name: str, skip: Sequence[str], results: dict[str, Any], part: Callable[[], Any]
) -> None:
    if name in skip:
        h.say(f"{name}: skipped")
        return
    h.say(f"{name}:")
    results[name] = part()


def both(
    kinds: Sequence[str],
    work: Path,
    log_dir: Path,
    label: str,
    body: Callable[[Storage, Sequence[str]], dict[str, Any]],
) -> dict[str, Any]:
    """`body` on each server kind, each group of operations on a fresh server."""
    found: dict[str, Any] = {}
    for kind in kinds:
        for group, ops in GROUPS.items():
            with server_of(kind, work, log_dir, f"{label}-{group}") as storage:
                found.setdefault(storage.name, {}).update(body(storage, ops))
                found.setdefault(storage.name + " pids", []).append(storage.pid)
            if not storage.server.stopped_cleanly:
                h.say(f"  WARNING: {storage.name} {storage.server.exit_note}")
    return found


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker_main()
    if len(sys.argv) > 1 and sys.argv[1] == "--sender":
        return sender_main(sys.argv[2], int(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=10_000, help="per kind, one client thread")
    parser.add_argument(
        "--concurrent-ops", type=int, default=None, help="per kind, 16 clients (default: --ops)"
    )
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--trigger-messages", type=int, default=2000)
    parser.add_argument("--latency-messages", type=int, default=60)
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["ops", "concurrent", "big", "trigger"],
    )
    parser.add_argument(
        "--azurite-first", action="store_true", help="measure Azurite before funchost"
    )
    args = parser.parse_args()
    if args.concurrent_ops is None:
        args.concurrent_ops = args.ops
    run_stamp, info, log_dir = h.begin(KIND)
    info["versions"].update(
        {
            "azure-storage-queue": h._version("azure-storage-queue"),
            "azure-storage-blob": h._version("azure-storage-blob"),
            "azure-core": h._version("azure-core"),
            "azurite": azurite_version(),
            "node": node_version(),
        }
    )
    kinds = ("Azurite", "funchost") if args.azurite_first else ("funchost", "Azurite")
    results: dict[str, Any] = {"args": vars(args), "machine": info}
    with h.temp_dir("funchost-endpoint-bench-") as work:
        run_part(
            "ops",
            args.skip,
            results,
            lambda: both(
                kinds, work, log_dir, "ops", lambda s, ops: single_thread(s, args.ops, ops)
            ),
        )
        run_part(
            "concurrent",
            args.skip,
            results,
            lambda: both(
                kinds,
                work,
                log_dir,
                "concurrent",
                lambda s, ops: concurrent(s, args.concurrent_ops, log_dir, ops),
            ),
        )

        def big() -> dict[str, Any]:
            source = work / "big.bin"
            crc = make_big_file(source, args.big_mib * h.MIB)
            found: dict[str, Any] = {}
            for kind in kinds:
                opener = (
                    funchost_storage(work, log_dir, "big")
                    if kind == "funchost"
                    else azurite_storage(work, log_dir, "big", in_memory=False)
                )
                with opener as storage:
                    found[storage.name] = big_blob(storage, source, crc)
            source.unlink()
            return found

        run_part("big", args.skip, results, big)

        def trigger() -> dict[str, Any]:
            return {
                "development": trigger_dev(
                    work, log_dir, args.trigger_messages, args.latency_messages
                ),
                "embedded": trigger_embedded(work, log_dir, args.trigger_messages),
            }

        run_part("trigger", args.skip, results, trigger)
    rows = verdict_rows(results)
    results["verdicts"] = rows
    h.say()
    h.say(h.text_table(["Measure", "funchost", "Azurite / baseline", "Ratio", "Target"], rows))
    h.report(
        KIND,
        run_stamp,
        info,
        results,
        ["Measure", "funchost", "Azurite / baseline", "Ratio", "Target"],
        rows,
    )
    return 0 if all("MISS" not in row[-1] for row in rows) else 1


def verdict_rows(results: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    if "ops" in results:
        f, a = results["ops"]["funchost"], results["ops"]["Azurite"]
        for op in OPS:
            ratio = f[op]["cpu_ms_per_op"] / a[op]["cpu_ms_per_op"]
            rows.append(
                [
                    f"server CPU, {op}",
                    f"{f[op]['cpu_ms_per_op']:.3f} ms",
                    f"{a[op]['cpu_ms_per_op']:.3f} ms",
                    f"{ratio:.2f}",
                    f"{h.verdict(ratio <= TARGET_CPU)} (<= 0.25)",
                ]
            )
        for op in OPS:
            ratio = f[op]["rate"] / a[op]["rate"]
            ok = ratio >= TARGET_RATE and not f[op]["errors"]
            rows.append(
                [
                    f"1 thread, {op}",
                    f"{f[op]['rate']:,.0f}/s",
                    f"{a[op]['rate']:,.0f}/s",
                    f"{ratio:.2f}",
                    f"{h.verdict(ok)} (>= 1.5)",
                ]
            )
    if "concurrent" in results:
        f, a = results["concurrent"]["funchost"], results["concurrent"]["Azurite"]
        for op in OPS:
            ratio = f[op]["rate"] / a[op]["rate"]
            ok = ratio >= TARGET_RATE and not f[op]["errors"]
            rows.append(
                [
                    f"16 clients, {op}",
                    f"{f[op]['rate']:,.0f}/s, {f[op]['errors']} errors",
                    f"{a[op]['rate']:,.0f}/s, {a[op]['errors']} errors",
                    f"{ratio:.2f}",
                    f"{h.verdict(ok)} (>= 1.5, no errors)",
                ]
            )
    if "big" in results:
        f, a = results["big"]["funchost"], results["big"]["Azurite"]
        size = (
            f"{f['bytes'] / h.MIB / 1024:g} GiB"
            if f["bytes"] >= 1 << 30
            else (f"{f['bytes'] / h.MIB:g} MiB")
        )
        for way in ("upload", "download"):
            ratio = f[f"{way}_mib_s"] / a[f"{way}_mib_s"]
            rows.append(
                [
                    f"{size} {way}",
                    f"{f[f'{way}_mib_s']:,.0f} MiB/s",
                    f"{a[f'{way}_mib_s']:,.0f} MiB/s",
                    f"{ratio:.2f}",
                    f"{h.verdict(ratio >= 1.0)} (>= 1)",
                ]
            )
        rows.append(
            [
                f"{size} round trip, process growth",
                f"+{f['growth'] / h.MIB:.0f} MiB",
                f"+{a['growth'] / h.MIB:.0f} MiB",
                "",
                f"{h.verdict(f['growth'] <= TARGET_GROWTH_MIB * h.MIB)} (<= 64 MiB)",
            ]
        )
    if "trigger" in results:
        dev, emb = results["trigger"]["development"], results["trigger"]["embedded"]
        rows.append(
            [
                "queue trigger, send to start p50 (dev account)",
                f"{dev['latency_p50_ms']:.1f} ms (p99 {dev['latency_p99_ms']:.1f})",
                "",
                "",
                f"{h.verdict(dev['latency_p50_ms'] <= TARGET_P50_MS)} (<= 50 ms)",
            ]
        )
        ratio = dev["rate"] / emb["rate"]
        rows.append(
            [
                "queue trigger throughput, dev account / embedded",
                f"{dev['rate']:,.0f} msg/s",
                f"{emb['rate']:,.0f} msg/s (embedded)",
                f"{ratio:.2f}",
                f"{h.verdict(ratio >= TARGET_TRIGGER)} (>= 0.8)",
            ]
        )
    return rows


def azurite_version() -> str:
    package = AZURITE_BIN.resolve().parents[2] / "package.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        return str(json.loads(package.read_text())["version"])
    return "unknown"


def node_version() -> str:
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        done = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10)
        return done.stdout.strip()
    return "unknown"


if __name__ == "__main__":
    h.run_main(main, "endpoint_bench")
