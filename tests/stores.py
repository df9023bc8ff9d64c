"""The storage backends as the end-to-end tests see them (the embedded store, and Azure Storage
on Azurite or on funchost's storage endpoint): the settings that point a host at one, and a
synchronous client to put messages and blobs in and read them back."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol, TypeVar

from funchost.storage.accounts import embedded_path
from funchost.storage.base import Storage
from funchost.storage.connections import parse_connection_string
from funchost.storage.sqlite import SqliteStorage

T = TypeVar("T")


class StoreClient:
    """One backend, driven from test code with its own event loop."""

    def __init__(self, storage: Storage, encoding: str = "base64") -> None:
        self.storage = storage
        self.encoding = encoding
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def encode(self, text: str) -> str:
        if self.encoding == "none":
            return text
        return base64.b64encode(text.encode()).decode()

    def decode(self, content: str) -> str:
        if self.encoding == "none":
            return content
        return base64.b64decode(content).decode()

    def send(self, queue: str, *texts: str, raw: bool = False) -> None:
        self.run(self.storage.create_queue(queue))
        for text in texts:
            self.run(self.storage.send_message(queue, text if raw else self.encode(text)))

    def send_json(self, queue: str, value: Any) -> None:
        self.send(queue, json.dumps(value))

    def length(self, queue: str) -> int:
        if queue not in self.run(self.storage.list_queues()):
            return 0
        return self.run(self.storage.queue_length(queue))

    def take(self, queue: str, raw: bool = False) -> list[str]:
        """Every visible message of `queue`, decoded, removed from the queue."""
        if queue not in self.run(self.storage.list_queues()):
            return []
        taken: list[str] = []
        while True:
            batch = self.run(self.storage.receive_messages(queue, 32, 60))
            if not batch:
                return taken
            for m in batch:
                taken.append(m.content if raw else self.decode(m.content))
                self.run(self.storage.delete_message(queue, m))

    def put_blob(self, container: str, name: str, data: bytes, **kwargs: Any) -> None:
        self.run(self.storage.create_container(container))
        self.run(self.storage.put_blob(container, name, data, **kwargs))

    def get_blob(self, container: str, name: str) -> bytes | None:
        found = self.run(self.storage.get_blob(container, name))
        return None if found is None else found[0]

    def blob_names(self, container: str, prefix: str = "") -> list[str]:
        if container not in self.run(self.storage.list_containers()):
            return []
        return [b.name for b in self.run(self.storage.list_blobs(container, prefix))]

    def close(self) -> None:
        self.run(self.storage.close())
        self.loop.close()


class AzureServer(Protocol):
    """An Azure Storage account the tests run on (Azurite, funchost's storage endpoint)."""

    @property
    def connection_string(self) -> str: ...


class Backend:
    """A backend for a test: `settings` for the host, `client()` for the test. `server` is the
    Azure Storage the hosts use, or None for the embedded store."""

    def __init__(self, name: str, server: AzureServer | None, state_dir: Path) -> None:
        self.name = name
        self.server = server
        self.state_dir = state_dir  # the hosts' FUNCHOST_STATE_DIR: where the embedded store is
        self._clients: list[StoreClient] = []

    @property
    def connection_string(self) -> str:
        return self.server.connection_string if self.server is not None else ""

    @property
    def settings(self) -> dict[str, str]:
        return {"AzureWebJobsStorage": self.connection_string}

    def client(self, app_dir: Path, encoding: str = "base64") -> StoreClient:
        """A client of the storage the hosts of `app_dir` use."""
        if self.server is None:
            storage: Storage = SqliteStorage(embedded_path(self.state_dir))
        else:
            from funchost.storage.azure import AzureStorage

            storage = AzureStorage(
                parse_connection_string("AzureWebJobsStorage", self.connection_string)
            )
        client = StoreClient(storage, encoding)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in self._clients:
            client.close()


def copy_app(source: Path, target: Path) -> Path:
    """A private copy of a test app, so its embedded store starts empty."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".funchost", "__pycache__"))
    return target


def eventually(check: Callable[[], T], timeout: float = 15, interval: float = 0.05) -> T:
    """Poll `check` until it returns a truthy value; fail with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s; last value: {value!r}")
        time.sleep(interval)


def records(folder: Path, name: str) -> list[dict[str, Any]]:
    path = folder / f"{name}.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().split("\n")
    # The last line may be one a process is still writing: only complete lines count.
    return [json.loads(line) for line in lines[:-1] if line.strip()]
