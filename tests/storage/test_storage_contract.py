"""The storage interface's semantics, checked on every backend the same way.

The embedded backend runs on a real SQLite file in the test's folder, the Azure backend on a
real Azurite and on funchost's own storage endpoint (`funchost storage serve`), both started by
the tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from funchost.storage.azure import AzureStorage
from funchost.storage.base import (
    BlobExists,
    BlobInfo,
    ContainerNotFound,
    LeaseHeld,
    MessageNotFound,
    QueueNotFound,
    Storage,
)
from funchost.storage.connections import parse_connection_string
from funchost.storage.sqlite import SqliteStorage
from tests.conftest import AZURE_SERVERS
from tests.stores import AzureServer

T = TypeVar("T")


class Backend:
    """A storage backend with an event loop of its own, so tests read top to bottom."""

    def __init__(self, storage: Storage, unit: float, lease: float) -> None:
        self.storage = storage
        self.loop = asyncio.new_event_loop()
        # Azure counts visibility in whole seconds and leases from 15 s; the embedded store in
        # fractions. Timing tests are written in these units, so they hold on both.
        self.unit = unit
        self.lease = lease

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await awaitable

        return self.loop.run_until_complete(wrapped())

    def close(self) -> None:
        self.run(self.storage.close())
        self.loop.close()


@pytest.fixture(params=["embedded", *AZURE_SERVERS])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "embedded":
        b = Backend(SqliteStorage(tmp_path / "store.db"), unit=0.3, lease=0.5)
    else:
        server: AzureServer = request.getfixturevalue(AZURE_SERVERS[request.param])
        connection = parse_connection_string("AzureWebJobsStorage", server.connection_string)
        b = Backend(AzureStorage(connection), unit=1.0, lease=15)
    yield b
    b.close()


def test_sent_messages_are_received_oldest_first_and_hidden(backend: Backend) -> None:
    s = backend.storage
    backend.run(s.create_queue("orders"))
    for i in range(3):
        backend.run(s.send_message("orders", f"m{i}"))
    got = backend.run(s.receive_messages("orders", 2, visibility_timeout=30))
    assert [m.content for m in got] == ["m0", "m1"]
    assert all(m.dequeue_count == 1 and m.pop_receipt for m in got)
    rest = backend.run(s.receive_messages("orders", 5, visibility_timeout=30))
    assert [m.content for m in rest] == ["m2"]
    assert backend.run(s.receive_messages("orders", 5, visibility_timeout=30)) == []
    assert backend.run(s.queue_length("orders")) == 3


def test_message_reappears_after_its_visibility_timeout_with_a_higher_dequeue_count(
    backend: Backend,
) -> None:
    s = backend.storage
    backend.run(s.create_queue("work"))
    backend.run(s.send_message("work", "retry me"))
    first = backend.run(s.receive_messages("work", 1, visibility_timeout=backend.unit))[0]
    assert backend.run(s.receive_messages("work", 1, visibility_timeout=backend.unit)) == []
    time.sleep(backend.unit * 1.5)
    second = backend.run(s.receive_messages("work", 1, visibility_timeout=30))[0]
    assert second.id == first.id
    assert second.dequeue_count == 2
    assert second.pop_receipt != first.pop_receipt


def test_delete_needs_the_current_pop_receipt(backend: Backend) -> None:
    s = backend.storage
    backend.run(s.create_queue("work"))
    backend.run(s.send_message("work", "x"))
    first = backend.run(s.receive_messages("work", 1, visibility_timeout=30))[0]
    renewed = backend.run(s.update_visibility("work", first, 30))
    with pytest.raises(MessageNotFound):
        backend.run(s.delete_message("work", first))  # stale receipt
    backend.run(s.delete_message("work", renewed))
    assert backend.run(s.queue_length("work")) == 0
    with pytest.raises(MessageNotFound):
        backend.run(s.delete_message("work", renewed))


def test_deletes_at_once_each_succeed_or_fail_on_their_own(backend: Backend) -> None:
    """Many deletes in flight together (a trigger finishing a batch; the embedded store writes
    them in one transaction): each deletes its message, and one with a stale pop receipt fails
    alone."""
    s = backend.storage
    backend.run(s.create_queue("work"))
    for i in range(12):
        backend.run(s.send_message("work", f"m{i}"))
    got = backend.run(s.receive_messages("work", 12, visibility_timeout=30))
    stale = got[5]
    got[5] = backend.run(s.update_visibility("work", stale, 30))

    async def delete_all() -> list[BaseException | None]:
        deletes = [s.delete_message("work", m) for m in [*got[:5], stale, *got[6:]]]
        return await asyncio.gather(*deletes, return_exceptions=True)

    outcomes = backend.run(delete_all())
    assert [o is None for o in outcomes] == [True] * 5 + [False] + [True] * 6
    assert isinstance(outcomes[5], MessageNotFound)  # the stale receipt
    assert backend.run(s.queue_length("work")) == 1
    backend.run(s.delete_message("work", got[5]))
    assert backend.run(s.queue_length("work")) == 0


def test_update_visibility_keeps_a_message_hidden_while_it_is_worked_on(backend: Backend) -> None:
    s = backend.storage
    backend.run(s.create_queue("work"))
    backend.run(s.send_message("work", "long job"))
    held = backend.run(s.receive_messages("work", 1, visibility_timeout=backend.unit))[0]
    for _ in range(3):
        time.sleep(backend.unit / 2)
        held = backend.run(s.update_visibility("work", held, backend.unit))
    assert backend.run(s.receive_messages("work", 1, visibility_timeout=30)) == []


def test_peek_does_not_hide_or_count(backend: Backend) -> None:
    s = backend.storage
    backend.run(s.create_queue("work"))
    backend.run(s.send_message("work", "look"))
    peeked = backend.run(s.peek_messages("work", 5))
    assert [(m.content, m.dequeue_count, m.pop_receipt) for m in peeked] == [("look", 0, None)]
    assert len(backend.run(s.receive_messages("work", 5, visibility_timeout=30))) == 1


def test_delayed_and_expired_messages(backend: Backend) -> None:
    s = backend.storage
    backend.run(s.create_queue("work"))
    u = backend.unit
    backend.run(s.send_message("work", "later", visibility_delay=2 * u))
    backend.run(s.send_message("work", "short-lived", time_to_live=u))
    time.sleep(1.5 * u)
    assert backend.run(s.receive_messages("work", 5, visibility_timeout=30)) == []
    time.sleep(u)
    got = backend.run(s.receive_messages("work", 5, visibility_timeout=30))
    assert [m.content for m in got] == ["later"]


def test_missing_queue_and_container_are_errors_until_created(backend: Backend) -> None:
    s = backend.storage
    with pytest.raises(QueueNotFound):
        backend.run(s.send_message("nowhere", "x"))
    with pytest.raises(ContainerNotFound):
        backend.run(s.put_blob("nowhere", "a.txt", b"x"))
    backend.run(s.create_queue("nowhere"))
    backend.run(s.create_queue("nowhere"))  # idempotent
    backend.run(s.send_message("nowhere", "x"))
    assert "nowhere" in backend.run(s.list_queues())


def info_of(backend: Backend, container: str, name: str) -> BlobInfo:
    info = backend.run(backend.storage.blob_info(container, name))
    assert info is not None
    return info


def test_blob_put_get_list_delete_with_etags_and_metadata(backend: Backend) -> None:
    s = backend.storage
    backend.run(s.create_container("photos"))
    first = backend.run(
        s.put_blob("photos", "2024/a.jpg", b"one", content_type="image/jpeg", metadata={"k": "v"})
    )
    assert first.length == 3 and first.content_type == "image/jpeg"
    data, info = backend.run(s.get_blob("photos", "2024/a.jpg")) or (b"", None)
    assert data == b"one" and info is not None and info.metadata == {"k": "v"}
    time.sleep(0.01)
    second = backend.run(s.put_blob("photos", "2024/a.jpg", b"two!"))
    assert second.etag != first.etag and second.length == 4
    backend.run(s.put_blob("photos", "2025/b.jpg", b"b"))
    backend.run(s.put_blob("photos", "other.txt", b"o"))
    listed = backend.run(s.list_blobs("photos", prefix="20"))
    assert [b.name for b in listed] == ["2024/a.jpg", "2025/b.jpg"]
    # One ETag for one version, whichever call reports it.
    assert listed[0].etag == second.etag == info_of(backend, "photos", "2024/a.jpg").etag
    assert backend.run(s.delete_blob("photos", "other.txt")) is True
    assert backend.run(s.delete_blob("photos", "other.txt")) is False
    assert backend.run(s.get_blob("photos", "other.txt")) is None
    assert backend.run(s.blob_info("photos", "2025/b.jpg")) is not None


def test_conditional_put_refuses_an_existing_blob(backend: Backend) -> None:
    s = backend.storage
    backend.run(s.create_container("receipts"))
    backend.run(s.put_blob("receipts", "r1", b"", if_none_match=True))
    with pytest.raises(BlobExists):
        backend.run(s.put_blob("receipts", "r1", b"", if_none_match=True))


def test_a_lease_has_one_holder_until_it_expires_or_is_released(backend: Backend) -> None:
    s = backend.storage
    backend.run(s.create_container("locks"))
    lease = backend.lease
    assert (
        backend.run(
            s.acquire_lease("locks", "timer", "0b6c4b39-7a7c-4d7c-9d1e-00000000000a", lease)
        )
        is True
    )
    assert (
        backend.run(
            s.acquire_lease("locks", "timer", "0b6c4b39-7a7c-4d7c-9d1e-00000000000b", lease)
        )
        is False
    )
    assert (
        backend.run(
            s.acquire_lease("locks", "timer", "0b6c4b39-7a7c-4d7c-9d1e-00000000000a", lease)
        )
        is True
    )  # renewal
    backend.run(s.release_lease("locks", "timer", "0b6c4b39-7a7c-4d7c-9d1e-00000000000a"))
    assert (
        backend.run(
            s.acquire_lease("locks", "timer", "0b6c4b39-7a7c-4d7c-9d1e-00000000000b", lease)
        )
        is True
    )  # released
    assert (
        backend.run(
            s.acquire_lease("locks", "timer", "0b6c4b39-7a7c-4d7c-9d1e-00000000000a", lease)
        )
        is False
    )
    time.sleep(lease + 0.5)
    assert (
        backend.run(
            s.acquire_lease("locks", "timer", "0b6c4b39-7a7c-4d7c-9d1e-00000000000a", lease)
        )
        is True
    )  # expired


def test_a_leased_blob_takes_writes_only_with_its_lease(backend: Backend) -> None:
    s = backend.storage
    backend.run(s.create_container("receipts"))
    assert backend.run(s.acquire_lease("receipts", "r", "1f0e4c8e-0000-4000-8000-000000000001", 15))
    with pytest.raises(LeaseHeld):
        backend.run(s.put_blob("receipts", "r", b"x", metadata={"Completed": "true"}))
    backend.run(
        s.put_blob(
            "receipts",
            "r",
            b"",
            metadata={"Completed": "true"},
            lease_id="1f0e4c8e-0000-4000-8000-000000000001",
        )
    )
    info = backend.run(s.blob_info("receipts", "r"))
    assert info is not None and info.metadata == {"Completed": "true"}
    assert (
        backend.run(s.acquire_lease("receipts", "r", "1f0e4c8e-0000-4000-8000-000000000002", 15))
        is False
    )
