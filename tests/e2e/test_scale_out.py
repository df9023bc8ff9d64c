"""Several host processes on one storage account share the work: every queue message is
completed exactly once without faults and at least once when a host is killed, each blob
version triggers once in the group, and a timer has one owner at a time, taken over when its
holder dies.

Two `funchost serve` hosts share one Azurite; `funchost serve --workers 2` shares the
embedded store.
"""

from __future__ import annotations

import collections
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import APPS, RunningHost, StartHost
from tests.stores import Backend, StoreClient, copy_app, eventually, records

MESSAGES = 1000


def counts(record_dir: Path) -> collections.Counter[str]:
    return collections.Counter(r["body"] for r in records(record_dir, "work"))


def feed(store: StoreClient, first: int, count: int) -> set[str]:
    bodies = [f"m{i}" for i in range(first, first + count)]
    store.send("work", *bodies)
    return set(bodies)


def tick_owners(record_dir: Path, since: float = 0.0, until: float = float("inf")) -> set[int]:
    return {t["pid"] for t in records(record_dir, "tick") if since <= t["at"] < until}


def assert_one_tick_per_second(record_dir: Path) -> None:
    seconds = collections.Counter(int(t["at"]) for t in records(record_dir, "tick"))
    assert max(seconds.values()) == 1, "two hosts ran the timer in the same second"


@pytest.fixture
def record_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    return folder


def _workers_with_the_store_open(pool: int) -> int:
    """How many worker processes of the `serve --workers` pool `pool` have opened the
    embedded store: each opens it when its host starts its triggers."""
    try:
        children = Path(f"/proc/{pool}/task/{pool}/children").read_text().split()
    except OSError:
        return 0
    opened = 0
    for child in children:
        try:
            fds = os.listdir(f"/proc/{child}/fd")
            links = [os.readlink(f"/proc/{child}/fd/{fd}") for fd in fds]
        except OSError:  # exited meanwhile, or a descriptor closed between the two calls
            continue
        opened += any(link.endswith("storage.db") for link in links)
    return opened


def start_group(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> list[RunningHost]:
    env = {**backend.settings, "RECORD_DIR": str(record_dir)}
    if backend.name == "embedded":
        pool = start_host(app, "--workers", "2", command="serve", env=env)
        # The pool answers once one worker serves; the other may still be starting, and one
        # worker alone drains the first messages faster than the other starts.
        eventually(lambda: _workers_with_the_store_open(pool.proc.pid) == 2, timeout=30)
        return [pool]
    return [start_host(app, command="serve", env=env) for _ in range(2)]


def test_hosts_share_messages_exactly_once_then_at_least_once_across_a_kill_9(
    start_host: StartHost, backend: Backend, tmp_path: Path, record_dir: Path
) -> None:
    app = copy_app(APPS / "scaleout", tmp_path / "scaleout")
    hosts = start_group(start_host, backend, app, record_dir)
    store = backend.client(app)

    # No faults: every message exactly once, the work shared, one timer owner.
    expected = feed(store, 0, MESSAGES)
    eventually(lambda: len(counts(record_dir)) == MESSAGES, timeout=120)
    time.sleep(1.5)
    done = counts(record_dir)
    assert set(done) == expected and set(done.values()) == {1}
    workers = {r["pid"] for r in records(record_dir, "work")}
    assert len(workers) == 2, "both processes take messages"
    eventually(lambda: len(records(record_dir, "tick")) >= 3)
    (owner,) = tick_owners(record_dir)

    # Each blob version triggers once in the whole group.
    for i in range(30):
        store.put_blob("drops", f"d{i:02d}.txt", b"x")
    eventually(lambda: len(records(record_dir, "drop")) >= 30, timeout=30)
    time.sleep(3)  # more scans by every process
    drops = collections.Counter(r["name"] for r in records(record_dir, "drop"))
    assert len(drops) == 30 and set(drops.values()) == {1}

    # The timer owner is killed mid-run: at least once, nothing lost, the timer taken over.
    expected |= feed(store, MESSAGES, MESSAGES)
    eventually(lambda: len(counts(record_dir)) > MESSAGES + 100, timeout=60)
    killed_at = time.time()
    if backend.name == "embedded":
        os.kill(owner, signal.SIGKILL)  # one worker; the supervisor starts a new one
    else:
        victim = next(h for h in hosts if h.proc.pid == owner)
        victim.stop(signal.SIGKILL)
    eventually(lambda: set(counts(record_dir)) == expected, timeout=90)
    eventually(lambda: store.length("work") == 0, timeout=60)
    eventually(lambda: tick_owners(record_dir, since=killed_at + 1) - {owner}, timeout=60)
    takeover = min(
        t["at"] for t in records(record_dir, "tick") if t["at"] > killed_at and t["pid"] != owner
    )
    assert takeover - killed_at < 60
    assert owner not in tick_owners(record_dir, since=killed_at + 1)
    assert_one_tick_per_second(record_dir)


def test_a_host_killed_while_processing_2000_messages_loses_none_after_restart(
    start_host: StartHost, backend: Backend, tmp_path: Path, record_dir: Path
) -> None:
    app = copy_app(APPS / "scaleout", tmp_path / "scaleout")
    env = {**backend.settings, "RECORD_DIR": str(record_dir)}
    store = backend.client(app)
    expected = feed(store, 0, 2000)
    host = start_host(app, command="serve", env=env)
    eventually(lambda: len(counts(record_dir)) > 300, timeout=60)
    host.stop(signal.SIGKILL)
    partial = len(counts(record_dir))
    assert partial < 2000, "the kill came too late to test anything"
    start_host(app, command="serve", env=env)
    # Messages the dead host held (some already run, not yet deleted) are visible again once
    # their lease (30 s from the kill) runs out; then the new host runs and deletes them.
    eventually(lambda: set(counts(record_dir)) == expected, timeout=90)
    eventually(lambda: store.length("work") == 0, timeout=90)
