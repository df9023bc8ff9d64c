"""The storage interface that queue, blob and timer bindings use, and the values it returns.

Semantics follow Azure Storage, so that both backends behave alike:
- a queue message is text; receiving it hides it for a visibility timeout, counts the dequeue
  and issues a new pop receipt, which later updates and the delete must present;
- a blob has an ETag that changes with every write, metadata and a content type; a put can be
  made conditional on the blob not existing (`if_none_match`);
- a lease is held on a blob (created empty if missing) by a lease id, for a duration, and is
  renewed or released only by its holder.
Queues and containers must exist before use (`QueueNotFound`, `ContainerNotFound`); the
bindings create them on demand.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime


class StorageError(Exception):
    """A storage operation failed; the message says which resource and why."""


class QueueNotFound(StorageError):
    pass


class ContainerNotFound(StorageError):
    pass


class MessageNotFound(StorageError):
    """The message is gone, or the pop receipt is no longer the current one."""


class PopReceiptMismatch(MessageNotFound):
    """The message is there, but the pop receipt is no longer the current one."""


class BlobExists(StorageError):
    pass


class BlobRefused(StorageError):
    """A blob operation the store refuses, named by Azure's error code (`ConditionNotMet`,
    `LeaseIdMissing`, `InvalidBlockList`, ...)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class LeaseHeld(StorageError):
    """The blob is leased and the write did not present that lease."""


@dataclass(frozen=True)
class StoredMessage:
    id: str
    content: str
    insertion_time: datetime
    expiration_time: datetime
    next_visible_time: datetime
    dequeue_count: int
    pop_receipt: str | None


@dataclass(frozen=True)
class BlobInfo:
    container: str
    name: str
    etag: str
    last_modified: datetime
    length: int
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    created: datetime | None = None
    # The other HTTP headers the blob was written with: content-encoding, content-language,
    # content-disposition, cache-control, content-md5 (base64).
    headers: Mapping[str, str] = field(default_factory=dict)
    lease_state: str = "available"  # available, leased, expired, breaking, broken
    lease_infinite: bool = False


# Azure's default time-to-live of a queue message: 7 days.
DEFAULT_MESSAGE_TTL = 7 * 24 * 3600.0


class Storage(ABC):
    """One storage account: the embedded store or an Azure Storage account."""

    #: Where the data is, for the banner and error messages (never contains a secret).
    description: str

    # -- queues
    @abstractmethod
    async def create_queue(self, queue: str) -> None:
        """Create `queue` if it does not exist."""

    @abstractmethod
    async def list_queues(self) -> list[str]: ...

    @abstractmethod
    async def send_message(
        self,
        queue: str,
        content: str,
        *,
        visibility_delay: float = 0.0,
        time_to_live: float = DEFAULT_MESSAGE_TTL,
    ) -> StoredMessage: ...

    @abstractmethod
    async def receive_messages(
        self, queue: str, max_messages: int, visibility_timeout: float
    ) -> list[StoredMessage]:
        """Up to `max_messages` visible messages, oldest first, each hidden for
        `visibility_timeout` seconds with its dequeue count raised and a new pop receipt."""

    @abstractmethod
    async def peek_messages(self, queue: str, max_messages: int) -> list[StoredMessage]:
        """Visible messages without changing them (pop receipts are None)."""

    @abstractmethod
    async def update_visibility(
        self, queue: str, message: StoredMessage, visibility_timeout: float
    ) -> StoredMessage:
        """Hide `message` for `visibility_timeout` more seconds from now; the result carries
        the new pop receipt. MessageNotFound if the receipt is stale."""

    @abstractmethod
    async def delete_message(self, queue: str, message: StoredMessage) -> None:
        """MessageNotFound if the message is gone or the receipt is stale."""

    @abstractmethod
    async def queue_length(self, queue: str) -> int:
        """Messages in the queue, visible or not (Azure's approximate count)."""

    # -- blobs
    @abstractmethod
    async def create_container(self, container: str) -> None: ...

    @abstractmethod
    async def list_containers(self) -> list[str]: ...

    @abstractmethod
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
        """Write the blob (a new ETag). With `if_none_match`, BlobExists if it exists. A blob
        under a lease takes writes only with its `lease_id` (LeaseHeld otherwise); the lease
        stays."""

    @abstractmethod
    def blob_url(self, container: str, name: str) -> str:
        """Where the blob is, as a URI (a function's `InputStream.uri`)."""

    @abstractmethod
    async def get_blob(self, container: str, name: str) -> tuple[bytes, BlobInfo] | None: ...

    @abstractmethod
    async def blob_info(self, container: str, name: str) -> BlobInfo | None: ...

    @abstractmethod
    async def list_blobs(self, container: str, prefix: str = "") -> list[BlobInfo]:
        """Blobs whose name starts with `prefix`, in name order."""

    @abstractmethod
    async def delete_blob(self, container: str, name: str) -> bool:
        """True if the blob existed."""

    # -- leases
    @abstractmethod
    async def acquire_lease(
        self, container: str, name: str, lease_id: str, duration: float
    ) -> bool:
        """Take (or extend, for its holder) the lease on the blob, creating an empty blob if
        there is none; False while another lease id holds it."""

    @abstractmethod
    async def release_lease(self, container: str, name: str, lease_id: str) -> None: ...

    def follow_changes(self, callback: Callable[[], None]) -> None:
        """Have `callback` called (on the event loop) soon after anyone else changes the
        storage: another process of the app, another app, an SDK client. Backends that cannot
        tell do nothing: their listeners poll."""
        return None

    @abstractmethod
    async def close(self) -> None:
        """Release connections and threads."""
