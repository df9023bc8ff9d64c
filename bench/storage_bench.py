"""Queue throughput and blob-trigger latency, on the embedded store and on Azurite.

    .venv/bin/python bench/storage_bench.py [--messages 10000] [--azurite-messages 2000]
                                            [--blobs 40] [--rounds 2]

In one run:
  embedded   `funchost serve` on bench/apps/storage_triggers drains N preloaded messages from
             the embedded store through a trivial async queue-triggered function (default
             host.json, Executing/Executed lines on, as users run it); target >= 2,000 msg/s.
  reference  bench/reference_consumer.py (the same SDK, batch size and concurrency, nothing
             else) drains N messages from Azurite: the baseline.
  azurite    funchost drains N messages from Azurite; target funchost/reference >= 0.8.
             Each of these runs on a fresh Azurite (it slows down as a queue's history grows),
             `--rounds` times in alternating order; the medians are compared.
  latency    with a host running, `--blobs` blobs are uploaded one at a time (0.2-0.6 s apart);
             latency is from the end of each upload to the start of its blob-triggered
             invocation; p50/p99 on each backend (targets: <= 1 s embedded, <= 5 s Azure).
Throughput is messages drained per second, from the first message leaving the queue to the
queue being empty, read by polling the queue's length (every 50 ms on the embedded store,
100 ms on Azurite, for both consumers). Azurite runs in memory on 127.0.0.1, started here.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import random
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import harness as h

sys.path.insert(0, str(h.REPO_ROOT))

from funchost.storage.accounts import embedded_path
from funchost.storage.base import Storage
from funchost.storage.connections import parse_connection_string
from funchost.storage.sqlite import SqliteStorage
from tests.azurite import Azurite
from tests.stores import StoreClient

APP = h.APPS_DIR / "storage_triggers"
QUEUE = "bench-work"
CONTAINER = "bench-uploads"
TARGET_EMBEDDED_RATE = 2000.0
TARGET_RATIO = 0.8


def azure_storage(connection: str) -> Storage:
    from funchost.storage.azure import AzureStorage

    return AzureStorage(parse_connection_string("AzureWebJobsStorage", connection))


def preload(store: StoreClient, count: int) -> None:
    async def send_all() -> None:
        await store.storage.create_queue(QUEUE)
        body = base64.b64encode(b"work item").decode()
        semaphore = asyncio.Semaphore(64)

        async def send() -> None:
            async with semaphore:
                await store.storage.send_message(QUEUE, body)

        await asyncio.gather(*(send() for _ in range(count)))

    store.run(send_all())
    if store.run(store.storage.queue_length(QUEUE)) != count:
        raise h.BenchError("the queue does not hold the preloaded messages")


def drain_rate(store: StoreClient, count: int, interval: float, timeout: float = 600) -> float:
    """Messages per second from the first one leaving the queue until it is empty."""
    deadline = time.monotonic() + timeout
    start = None
    start_length = count
    while time.monotonic() < deadline:
        length = store.run(store.storage.queue_length(QUEUE))
        now = time.perf_counter()
        if start is None and length < count:
            start, start_length = now, length
        if start is not None and length == 0:
            elapsed = now - start
            return start_length / elapsed if elapsed > 0 else float("inf")
        time.sleep(interval)
    raise h.BenchError(f"the queue was not drained within {timeout} s")


def host_spec(app: Path, secrets: Path, settings: dict[str, str]) -> h.ServerSpec:
    spec = h.funchost_spec(
        "funchost", "funchost serve", app, secrets_dir=secrets, path="/admin/host/ping"
    )
    return replace(spec, env={**spec.env, **settings})


def blob_latencies(store: StoreClient, records: Path, count: int) -> list[float]:
    store.run(store.storage.create_container(CONTAINER))
    time.sleep(2.5)  # the listener is idle, scanning an empty container
    uploaded: dict[str, float] = {}
    for i in range(count):
        name = f"item-{i:04d}.txt"
        store.run(store.storage.put_blob(CONTAINER, name, b"payload"))
        uploaded[f"{CONTAINER}/{name}"] = time.time()
        time.sleep(random.uniform(0.2, 0.6))
    deadline = time.monotonic() + 30
    seen: dict[str, float] = {}
    while time.monotonic() < deadline and len(seen) < count:
        if records.exists():
            for line in records.read_text().splitlines():
                name, _, at = line.partition(" ")
                seen.setdefault(name, float(at))
        time.sleep(0.2)
    if len(seen) < count:
        raise h.BenchError(f"only {len(seen)} of {count} blobs triggered their function")
    return [seen[name] - uploaded[name] for name in uploaded]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def run_backend(
    name: str,
    store: StoreClient,
    app: Path,
    settings: dict[str, str],
    messages: int,
    blobs: int,
    interval: float,
    work: Path,
    log_dir: Path,
) -> dict[str, Any]:
    records = work / f"records-{name}"
    records.mkdir()
    spec = host_spec(app, work / f"secrets-{name}", {**settings, "BENCH_RECORD_DIR": str(records)})
    preload(store, messages)
    with h.running(replace(spec, key=f"funchost-{name}"), log_dir):
        rate = drain_rate(store, messages, interval)
        h.say(f"  [{name}] funchost: {rate:,.0f} messages/s")
        if not blobs:
            return {"rate": rate}
        latencies = blob_latencies(store, records / "blobs.txt", blobs)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    h.say(f"  [{name}] blob trigger latency: p50 {p50:.3f} s, p99 {p99:.3f} s")
    return {"rate": rate, "latency_p50": p50, "latency_p99": p99, "latencies": latencies}


def reference_rate(store: StoreClient, connection: str, messages: int, log_dir: Path) -> float:
    preload(store, messages)
    log = log_dir / "reference-consumer.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(h.BENCH_DIR / "reference_consumer.py"), connection, QUEUE],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        rate = drain_rate(store, messages, 0.1)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    h.say(f"  [azurite] reference consumer: {rate:,.0f} messages/s")
    return rate


def fresh_azurite(work: Path, label: str) -> Azurite:
    """A new in-memory Azurite: it slows down as a queue's history grows, so every
    measurement starts from an empty one."""
    return Azurite(work / f"azurite-{label}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    # Azurite keeps an in-memory queue whose every operation slows with its depth: at 10,000
    # messages it spends seconds of CPU per hundred operations and measures itself, not the
    # consumers. 2,000 keeps it fast enough that the consumers make the difference.
    parser.add_argument("--azurite-messages", type=int, default=2_000)
    parser.add_argument("--blobs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2, help="Azurite rounds (alternating)")
    args = parser.parse_args()
    run_stamp, info, log_dir = h.begin("storage")
    results: dict[str, Any] = {"args": vars(args), "machine": info}
    with h.temp_dir("funchost-storage-bench-") as work:
        app = work / "app-embedded"
        shutil.copytree(APP, app)
        store = StoreClient(SqliteStorage(embedded_path(app / ".funchost")))
        try:
            results["embedded"] = run_backend(
                "embedded",
                store,
                app,
                {"AzureWebJobsStorage": ""},
                args.messages,
                args.blobs,
                0.05,
                work,
                log_dir,
            )
        finally:
            store.close()
        reference: list[float] = []
        funchost: list[dict[str, Any]] = []
        for round_ in range(args.rounds):
            order = ("reference", "funchost") if round_ % 2 == 0 else ("funchost", "reference")
            for kind in order:
                label = f"{kind}-{round_}"
                azurite = fresh_azurite(work, label)
                store = StoreClient(azure_storage(azurite.connection_string))
                try:
                    if kind == "reference":
                        reference.append(
                            reference_rate(
                                store, azurite.connection_string, args.azurite_messages, log_dir
                            )
                        )
                    else:
                        app = work / f"app-{label}"
                        shutil.copytree(APP, app)
                        funchost.append(
                            run_backend(
                                f"azurite-{round_}",
                                store,
                                app,
                                {"AzureWebJobsStorage": azurite.connection_string},
                                args.azurite_messages,
                                args.blobs if round_ == 0 else 0,
                                0.1,
                                work,
                                log_dir,
                            )
                        )
                finally:
                    store.close()
                    azurite.stop()
    embedded = results["embedded"]
    results["reference_rates"] = reference
    results["azurite_runs"] = funchost
    reference_rate_ = h.median(reference)
    funchost_rate = h.median([run["rate"] for run in funchost])
    latency = funchost[0]
    ratio = funchost_rate / reference_rate_
    results["ratio"] = ratio
    rows = [
        [
            "embedded",
            f"{args.messages:,}",
            f"{embedded['rate']:,.0f} msg/s",
            "",
            f"{h.verdict(embedded['rate'] >= TARGET_EMBEDDED_RATE)} (>= 2,000 msg/s)",
            f"{embedded['latency_p50']:.2f} / {embedded['latency_p99']:.2f} s",
        ],
        [
            "Azurite",
            f"{args.azurite_messages:,}",
            f"{funchost_rate:,.0f} msg/s",
            f"{reference_rate_:,.0f} msg/s",
            f"{ratio:.2f} {h.verdict(ratio >= TARGET_RATIO)} (>= 0.8)",
            f"{latency['latency_p50']:.2f} / {latency['latency_p99']:.2f} s",
        ],
    ]
    h.report(
        "storage",
        run_stamp,
        info,
        results,
        ["Backend", "Messages", "funchost", "Reference", "Target", "Blob latency p50 / p99"],
        rows,
    )
    return 0


if __name__ == "__main__":
    h.run_main(main, "storage_bench")
