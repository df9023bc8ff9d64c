"""The console handler: host lines batched and written by the event loop, or by a writer thread
for pipes, never lost and never blocking the loop."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from pathlib import Path

import pytest

from funchost.invocation.logs import ConsoleHandler

STAMPED = re.compile(r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] (.*)$")


def _lines(text: str) -> list[str]:
    out = []
    for raw in text.splitlines():
        match = STAMPED.match(raw)
        assert match, raw
        out.append(match.group(1))
    return out


def test_lines_on_a_loop_are_written_in_a_batch_shortly_after(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with open(path, "w") as stream:
        handler = ConsoleHandler(stream, interval=0.05)

        async def main() -> tuple[str, str]:
            handler.line("Executing 'Functions.%s' (Id=%s)", "a", "1")
            handler.line("Executed 'Functions.a' (100% done, no arguments to format)")
            at_once = path.read_text()
            await asyncio.sleep(0.3)
            return at_once, path.read_text()

        at_once, later = asyncio.run(main())
    assert at_once == ""  # batched, not written line by line
    assert _lines(later) == [
        "Executing 'Functions.a' (Id=1)",
        "Executed 'Functions.a' (100% done, no arguments to format)",
    ]


def test_without_a_running_loop_lines_are_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with open(path, "w") as stream:
        handler = ConsoleHandler(stream)
        handler.line("no loop here")
        assert _lines(path.read_text()) == ["no loop here"]


def test_records_from_other_threads_are_never_lost(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    logger = logging.getLogger("tests.console.threads")
    logger.propagate = False
    with open(path, "w") as stream:
        handler = ConsoleHandler(stream, interval=0.001)
        logger.addHandler(handler)
        try:

            async def main() -> None:
                def worker(n: int) -> None:
                    for i in range(500):
                        logger.warning("t%d-%d", n, i)

                threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
                for t in threads:
                    t.start()
                for i in range(500):  # the loop's own lines, batched and flushed meanwhile
                    handler.line(f"loop-{i}")
                    if i % 50 == 0:
                        await asyncio.sleep(0.002)
                for t in threads:
                    t.join()
                await asyncio.sleep(0.2)

            asyncio.run(main())
        finally:
            logger.removeHandler(handler)
        lines = path.read_text().splitlines()
    assert len(lines) == 2500
    for n in range(4):  # each thread's lines, complete and in order
        mine = [line for line in lines if f" t{n}-" in line]
        assert [line.rsplit("-", 1)[1] for line in mine] == [str(i) for i in range(500)]


def test_a_pipe_nobody_reads_never_blocks_the_loop() -> None:
    read_fd, write_fd = os.pipe()
    stream = os.fdopen(write_fd, "w")
    handler = ConsoleHandler(stream, interval=0.005)
    payload = "x" * 200
    loop_done = threading.Event()
    received = bytearray()

    def reader() -> None:
        # Reads only once the loop is done, or after 5 s if a blocked loop never gets there.
        loop_done.wait(5)
        deadline = time.monotonic() + 10
        while received.count(b"\n") < 3000 and time.monotonic() < deadline:
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            received.extend(chunk)

    async def main() -> None:
        # Far more than a pipe holds (64 KiB): a write from the loop itself would block it.
        for i in range(3000):
            handler.line(f"{i} {payload}")
            if i % 100 == 0:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)

    drain = threading.Thread(target=reader)
    drain.start()
    try:
        started = time.monotonic()
        asyncio.run(main())
        assert time.monotonic() - started < 4, "the loop waited for the pipe's reader"
        loop_done.set()
        drain.join(15)
        numbers = [line.split(" ")[0] for line in _lines(received.decode())]
        assert numbers == [str(i) for i in range(3000)]
    finally:
        loop_done.set()
        drain.join(15)
        stream.close()
        os.close(read_fd)


def test_flush_writes_what_a_stopped_loop_left_queued(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with open(path, "w") as stream:
        handler = ConsoleHandler(stream, interval=60)

        async def main() -> None:
            handler.line("queued when the loop stopped")

        asyncio.run(main())
        assert path.read_text() == ""
        handler.flush()  # what logging.shutdown and the exit hook call
        assert _lines(path.read_text()) == ["queued when the loop stopped"]


def test_each_line_is_stamped_with_its_own_millisecond_even_when_the_clock_goes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from funchost.invocation import logs

    times = iter([1_700_000_000.0004, 1_700_000_000.0009, 1_700_000_000.0011, 1_699_999_999.5])
    monkeypatch.setattr(logs, "_now", lambda: next(times))
    path = tmp_path / "out.log"
    with open(path, "w") as stream:
        handler = ConsoleHandler(stream)
        for name in ("a", "b", "c", "d"):
            handler.line(name)  # no running loop: written at once
    stamps = [line.split("]")[0] for line in path.read_text().splitlines()]
    assert stamps == [
        "[2023-11-14T22:13:20.000Z",
        "[2023-11-14T22:13:20.000Z",
        "[2023-11-14T22:13:20.001Z",
        "[2023-11-14T22:13:19.500Z",
    ]
