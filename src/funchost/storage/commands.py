"""The storage operations behind `funchost queue ...` and `funchost blob ...`.

They work on the storage an app's connection setting names (default `AzureWebJobsStorage`),
read the way `funchost start` reads it, so they reach the embedded store that no storage
explorer can open, or the Azure account the app uses. Queue messages are encoded as the app's
host.json says (`messageEncoding`), so what `queue send` sends is what a trigger receives.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from funchost.config import HostConfig
from funchost.storage.accounts import StorageAccounts
from funchost.storage.base import BlobInfo, Storage, StorageError
from funchost.storage.names import blob_path, container_name, queue_name


@dataclass(frozen=True)
class PeekedMessage:
    id: str
    text: str
    dequeue_count: int
    inserted: str


@asynccontextmanager
async def open_storage(config: HostConfig, connection: str | None) -> AsyncIterator[Storage]:
    accounts = StorageAccounts.for_config(config)
    try:
        yield await accounts.get(connection)
    finally:
        await accounts.close()


def describe(config: HostConfig, connection: str | None) -> str:
    accounts = StorageAccounts.for_config(config)
    return accounts.describe(connection)


def _encoding(config: HostConfig) -> str:
    return config.host_options.queues.message_encoding


def _decode(content: str, encoding: str) -> str:
    if encoding == "none":
        return content
    try:
        return base64.b64decode(content, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return content  # not base64: shown as stored


async def send_messages(
    storage: Storage, config: HostConfig, queue: str, texts: Sequence[str], raw: bool = False
) -> list[str]:
    """Send each text as one message; the ids of the messages."""
    name = queue_name(queue)
    await storage.create_queue(name)
    encoding = "none" if raw else _encoding(config)
    ids = []
    for text in texts:
        content = text if encoding == "none" else base64.b64encode(text.encode()).decode()
        ids.append((await storage.send_message(name, content)).id)
    return ids


async def peek_messages(
    storage: Storage, config: HostConfig, queue: str, count: int
) -> list[PeekedMessage]:
    name = queue_name(queue)
    if name not in await storage.list_queues():
        raise StorageError(f"queue '{name}' does not exist")
    messages = await storage.peek_messages(name, count)
    encoding = _encoding(config)
    return [
        PeekedMessage(
            m.id, _decode(m.content, encoding), m.dequeue_count, m.insertion_time.isoformat()
        )
        for m in messages
    ]


async def list_queues(storage: Storage) -> list[tuple[str, int]]:
    return [(name, await storage.queue_length(name)) for name in await storage.list_queues()]


async def put_blob(
    storage: Storage, path: str, data: bytes, content_type: str | None = None
) -> BlobInfo:
    container, name = blob_path(path)
    await storage.create_container(container)
    return await storage.put_blob(container, name, data, content_type=content_type)


async def get_blob(storage: Storage, path: str) -> bytes:
    container, name = blob_path(path)
    found = await storage.get_blob(container, name)
    if found is None:
        raise StorageError(f"blob '{container}/{name}' does not exist")
    return found[0]


async def list_blobs(storage: Storage, container: str | None, prefix: str = "") -> list[str]:
    """The containers, or the blobs of `container` whose name starts with `prefix`."""
    if container is None:
        return await storage.list_containers()
    name = container_name(container)
    if name not in await storage.list_containers():
        raise StorageError(f"container '{name}' does not exist")
    return [
        f"{b.name}\t{b.length}\t{b.last_modified.isoformat()}"
        for b in await storage.list_blobs(name, prefix)
    ]


async def delete_blob(storage: Storage, path: str) -> None:
    container, name = blob_path(path)
    if not await storage.delete_blob(container, name):
        raise StorageError(f"blob '{container}/{name}' does not exist")
