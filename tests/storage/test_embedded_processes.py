"""The embedded store shared by several processes on one machine, and killed mid-write."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from funchost.storage.sqlite import SqliteStorage

WORKER = Path(__file__).with_name("store_worker.py")


def test_competing_processes_each_get_every_message_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "store.db"

    async def create() -> None:
        store = SqliteStorage(db)
        await store.create_queue("jobs")
        await store.close()

    async def fill() -> None:
        store = SqliteStorage(db)
        for i in range(1000):
            await store.send_message("jobs", f"m{i}")
        await store.close()

    asyncio.run(create())
    outs = [tmp_path / f"consumer{i}.txt" for i in range(3)]
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), "consume", str(db), "jobs", str(out)])
        for out in outs
    ]
    time.sleep(0.5)  # the consumers are polling while the messages arrive
    asyncio.run(fill())
    for proc in procs:
        assert proc.wait(60) == 0
    seen = Counter(line for out in outs for line in out.read_text().split())
    assert len(seen) == 1000
    assert max(seen.values()) == 1
    assert sum(1 for out in outs if out.read_text()) >= 2, "the work was not shared"


def test_a_sent_message_survives_kill_9_of_the_sender(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "send", str(db), "jobs", "100000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    acknowledged = []
    deadline = time.monotonic() + 30
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        acknowledged.append(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    assert len(acknowledged) == 300

    async def read_all() -> set[str]:
        store = SqliteStorage(db)
        found = {m.content for m in await store.receive_messages("jobs", 100000, 60)}
        await store.close()
        return found

    assert set(acknowledged) <= asyncio.run(read_all())
