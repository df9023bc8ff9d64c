"""The hand-written queue consumer that `queue_bench.py` compares funchost with.

    python bench/reference_consumer.py CONNECTION_STRING QUEUE [--batch 16] [--threshold 16]

The same SDK (azure-storage-queue, async), batch size and concurrency as funchost's queue
trigger with host.json defaults on 2 CPUs: fetch up to `batch` messages, fetch again once no
more than `threshold` are in flight, decode each (base64) and delete it. It stops when the
queue has been empty for one second with nothing in flight. No retries, poison queue,
visibility renewal, logging or function call: the floor for this work.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time

from azure.storage.queue.aio import QueueClient


async def consume(connection: str, queue: str, batch: int, threshold: int) -> int:
    handled = 0
    async with QueueClient.from_connection_string(connection, queue) as client:
        in_flight: set[asyncio.Task[None]] = set()

        async def handle(message: object) -> None:
            nonlocal handled
            base64.b64decode(message.content)  # type: ignore[attr-defined]
            await client.delete_message(message)  # type: ignore[arg-type]
            handled += 1

        empty_since: float | None = None
        while True:
            while len(in_flight) > threshold:
                _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            messages = [
                m
                async for m in client.receive_messages(
                    messages_per_page=batch, max_messages=batch, visibility_timeout=30
                )
            ]
            if messages:
                empty_since = None
                for m in messages:
                    in_flight.add(asyncio.create_task(handle(m)))
                continue
            if in_flight:
                _, in_flight = await asyncio.wait(in_flight, timeout=0.1)
                continue
            empty_since = empty_since or time.monotonic()
            if time.monotonic() - empty_since > 1.0:
                return handled
            await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("connection")
    parser.add_argument("queue")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threshold", type=int, default=16)
    args = parser.parse_args()
    handled = asyncio.run(consume(args.connection, args.queue, args.batch, args.threshold))
    print(f"handled {handled}")


if __name__ == "__main__":
    main()
