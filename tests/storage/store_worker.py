"""A separate process working on an embedded store, for the multi-process storage tests.

python store_worker.py consume DB QUEUE OUT   # receive+delete until the queue is empty
python store_worker.py send DB QUEUE N        # send N messages, print each id once sent
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from funchost.storage.sqlite import SqliteStorage


async def consume(db: Path, queue: str, out: Path) -> None:
    store = SqliteStorage(db)
    idle = 0
    with out.open("w") as f:
        while idle < 100:  # 2 s without a message
            messages = await store.receive_messages(queue, 16, visibility_timeout=60)
            if not messages:
                idle += 1
                await asyncio.sleep(0.02)
                continue
            idle = 0
            for m in messages:
                f.write(m.content + "\n")
                await store.delete_message(queue, m)
    await store.close()


async def send(db: Path, queue: str, count: int) -> None:
    store = SqliteStorage(db)
    await store.create_queue(queue)
    for i in range(count):
        await store.send_message(queue, f"m{i}")
        print(f"m{i}", flush=True)
    await store.close()


if __name__ == "__main__":
    command, db, queue, arg = sys.argv[1:5]
    if command == "consume":
        asyncio.run(consume(Path(db), queue, Path(arg)))
    else:
        asyncio.run(send(Path(db), queue, int(arg)))
