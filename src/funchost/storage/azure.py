"""Azure Storage (or Azurite) behind the storage interface, through the official async SDKs.

`azure-storage-queue` and `azure-storage-blob` do the talking; this module only maps their
results and errors onto `funchost.storage.base`. Message text is stored as given: the queue
bindings apply the host's base64 message encoding themselves, as on the embedded store.

Azure takes whole seconds where the interface takes fractions: visibility timeouts are rounded
up (a received message is hidden for at least 1 s, as Azure requires), and lease durations are
clamped to Azure's 15 to 60 seconds.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContentSettings
from azure.storage.blob.aio import BlobLeaseClient, BlobServiceClient
from azure.storage.queue.aio import QueueServiceClient

from funchost.storage.base import (
    DEFAULT_MESSAGE_TTL,
    BlobExists,
    BlobInfo,
    ContainerNotFound,
    LeaseHeld,
    MessageNotFound,
    QueueNotFound,
    Storage,
    StorageError,
    StoredMessage,
)
from funchost.storage.connections import ConnectionString

# Retries of a failed call, a short linear backoff: a listener polls again anyway, and a
# long exponential wait would hide an unreachable account from the user.
CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 3,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 4,
    "connection_timeout": 5,
    "read_timeout": 30,
}

MIN_LEASE, MAX_LEASE = 15, 60


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.fromtimestamp(0, UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _code(error: HttpResponseError) -> str:
    code = getattr(error, "error_code", None) or ""
    return str(getattr(code, "value", code))


def _stale(error: HttpResponseError) -> bool:
    """The message is gone, or the pop receipt presented is not the current one."""
    return error.status_code == 404 or _code(error) == "PopReceiptMismatch"


def _message(raw: Any, content: str | None = None) -> StoredMessage:
    return StoredMessage(
        id=raw.id,
        content=raw.content if content is None else content,
        insertion_time=_utc(raw.inserted_on),
        expiration_time=_utc(raw.expires_on),
        next_visible_time=_utc(raw.next_visible_on),
        dequeue_count=int(raw.dequeue_count or 0),
        pop_receipt=raw.pop_receipt,
    )


def _etag(value: str) -> str:
    """ETags quoted, as HTTP sends them (listings give them bare)."""
    return value if value.startswith('"') else f'"{value}"'


def _blob(container: str, props: Any) -> BlobInfo:
    settings = props.content_settings
    return BlobInfo(
        container=container,
        name=props.name,
        etag=_etag(props.etag),
        last_modified=_utc(props.last_modified),
        length=int(props.size or 0),
        content_type=settings.content_type if settings is not None else None,
        metadata=dict(props.metadata or {}),
    )


class AzureStorage(Storage):
    def __init__(self, connection: ConnectionString) -> None:
        self.connection = connection
        self.description = connection.description
        self._queues = QueueServiceClient.from_connection_string(connection.value, **CLIENT_OPTIONS)
        self._blobs = BlobServiceClient.from_connection_string(connection.value, **CLIENT_OPTIONS)

    async def check(self) -> None:
        """Reach both services once; raises AzureError when the account cannot be reached."""
        await self._queues.get_service_properties(retry_total=0)
        await self._blobs.get_service_properties(retry_total=0)

    async def close(self) -> None:
        await self._queues.close()
        await self._blobs.close()

    # -- queues
    async def create_queue(self, queue: str) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self._queues.get_queue_client(queue).create_queue()

    async def list_queues(self) -> list[str]:
        return sorted([q.name async for q in self._queues.list_queues()])

    def _queue_error(self, queue: str, error: ResourceNotFoundError) -> StorageError:
        if _code(error) == "QueueNotFound":
            return QueueNotFound(f"queue {queue!r} does not exist")
        return StorageError(f"queue {queue!r}: {error.reason or error}")

    async def send_message(
        self,
        queue: str,
        content: str,
        *,
        visibility_delay: float = 0.0,
        time_to_live: float = DEFAULT_MESSAGE_TTL,
    ) -> StoredMessage:
        client = self._queues.get_queue_client(queue)
        try:
            sent = await client.send_message(
                content,
                visibility_timeout=math.ceil(visibility_delay) or None,
                time_to_live=math.ceil(time_to_live),
            )
        except ResourceNotFoundError as exc:
            raise self._queue_error(queue, exc) from None
        return _message(sent, content)

    async def receive_messages(
        self, queue: str, max_messages: int, visibility_timeout: float
    ) -> list[StoredMessage]:
        client = self._queues.get_queue_client(queue)
        count = max(1, min(32, max_messages))
        try:
            pages = client.receive_messages(
                messages_per_page=count,
                max_messages=count,
                visibility_timeout=max(1, math.ceil(visibility_timeout)),
            )
            return [_message(m) async for m in pages]
        except ResourceNotFoundError as exc:
            raise self._queue_error(queue, exc) from None

    async def peek_messages(self, queue: str, max_messages: int) -> list[StoredMessage]:
        client = self._queues.get_queue_client(queue)
        try:
            peeked = await client.peek_messages(max_messages=max(1, min(32, max_messages)))
        except ResourceNotFoundError as exc:
            raise self._queue_error(queue, exc) from None
        return [_message(m) for m in peeked]

    async def update_visibility(
        self, queue: str, message: StoredMessage, visibility_timeout: float
    ) -> StoredMessage:
        client = self._queues.get_queue_client(queue)
        try:
            updated = await client.update_message(
                message.id,
                pop_receipt=message.pop_receipt,
                visibility_timeout=max(0, math.ceil(visibility_timeout)),
            )
        except HttpResponseError as exc:
            if _stale(exc):
                raise MessageNotFound(f"message {message.id} in queue {queue!r} is gone") from None
            raise
        return StoredMessage(
            id=message.id,
            content=message.content,
            insertion_time=message.insertion_time,
            expiration_time=message.expiration_time,
            next_visible_time=_utc(updated.next_visible_on),
            dequeue_count=message.dequeue_count,
            pop_receipt=updated.pop_receipt,
        )

    async def delete_message(self, queue: str, message: StoredMessage) -> None:
        client = self._queues.get_queue_client(queue)
        try:
            await client.delete_message(message.id, pop_receipt=message.pop_receipt)
        except HttpResponseError as exc:
            if _stale(exc):
                raise MessageNotFound(f"message {message.id} in queue {queue!r} is gone") from None
            raise

    async def queue_length(self, queue: str) -> int:
        client = self._queues.get_queue_client(queue)
        try:
            props = await client.get_queue_properties()
        except ResourceNotFoundError as exc:
            raise self._queue_error(queue, exc) from None
        return int(props.approximate_message_count or 0)

    # -- blobs
    async def create_container(self, container: str) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self._blobs.get_container_client(container).create_container()

    async def list_containers(self) -> list[str]:
        return sorted([c.name async for c in self._blobs.list_containers()])

    async def put_blob(
        self,
        container: str,
        name: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_none_match: bool = False,
        lease_id: str | None = None,
    ) -> BlobInfo:
        client = self._blobs.get_blob_client(container, name)
        try:
            written = await client.upload_blob(
                data,
                overwrite=not if_none_match,
                content_settings=ContentSettings(content_type=content_type),
                metadata=dict(metadata or {}),
                lease=lease_id,  # type: ignore[arg-type]  # the SDK takes an id too
            )
        except ResourceExistsError as exc:
            if "Lease" in _code(exc):
                raise LeaseHeld(f"blob {container}/{name} is leased") from None
            raise BlobExists(f"blob {container}/{name} already exists") from None
        except ResourceNotFoundError as exc:
            if _code(exc) == "ContainerNotFound":
                raise ContainerNotFound(f"container {container!r} does not exist") from None
            raise
        except HttpResponseError as exc:
            if exc.status_code == 412 and "Lease" in _code(exc):
                raise LeaseHeld(f"blob {container}/{name} is leased") from None
            raise
        return BlobInfo(
            container=container,
            name=name,
            etag=_etag(written["etag"]),
            last_modified=_utc(written.get("last_modified")),
            length=len(data),
            content_type=content_type,
            metadata=dict(metadata or {}),
        )

    def blob_url(self, container: str, name: str) -> str:
        return str(self._blobs.get_blob_client(container, name).url)

    async def get_blob(self, container: str, name: str) -> tuple[bytes, BlobInfo] | None:
        client = self._blobs.get_blob_client(container, name)
        try:
            downloader = await client.download_blob()
            data = await downloader.readall()
        except ResourceNotFoundError:
            return None
        return data, _blob(container, downloader.properties)

    async def blob_info(self, container: str, name: str) -> BlobInfo | None:
        try:
            props = await self._blobs.get_blob_client(container, name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return _blob(container, props)

    async def list_blobs(self, container: str, prefix: str = "") -> list[BlobInfo]:
        client = self._blobs.get_container_client(container)
        try:
            return [
                _blob(container, props)
                async for props in client.list_blobs(
                    name_starts_with=prefix or None, include=["metadata"]
                )
            ]
        except ResourceNotFoundError:
            raise ContainerNotFound(f"container {container!r} does not exist") from None

    async def delete_blob(self, container: str, name: str) -> bool:
        try:
            await self._blobs.get_blob_client(container, name).delete_blob()
        except ResourceNotFoundError:
            return False
        return True

    # -- leases
    async def acquire_lease(
        self, container: str, name: str, lease_id: str, duration: float
    ) -> bool:
        client = self._blobs.get_blob_client(container, name)
        seconds = min(MAX_LEASE, max(MIN_LEASE, math.ceil(duration)))
        for _ in range(2):
            try:
                await BlobLeaseClient(client, lease_id=lease_id).acquire(lease_duration=seconds)
                return True
            except ResourceNotFoundError as exc:
                if _code(exc) == "ContainerNotFound":
                    raise ContainerNotFound(f"container {container!r} does not exist") from None
                with contextlib.suppress(ResourceExistsError):  # another host was first
                    await client.upload_blob(b"", overwrite=False)
            except ResourceExistsError:
                return False  # LeaseAlreadyPresent: someone else holds it
            except HttpResponseError as exc:
                if exc.status_code == 409:
                    return False
                raise
        return False

    async def release_lease(self, container: str, name: str, lease_id: str) -> None:
        client = self._blobs.get_blob_client(container, name)
        # Not ours any more, or gone: nothing to release.
        with contextlib.suppress(ResourceNotFoundError, HttpResponseError):
            await BlobLeaseClient(client, lease_id=lease_id).release()


__all__ = ["AzureError", "AzureStorage"]
