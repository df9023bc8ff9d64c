"""`StorageAccounts`: the storage each binding's `connection` setting names, opened once.

The embedded store is one SQLite file in the app's state folder (`<app>/.funchost/storage.db`,
or FUNCHOST_STATE_DIR), shared by every process of the app. An Azure account is checked once
when first opened: if it cannot be reached, `StorageUnavailable` says which setting and
endpoint failed and how to fix it, and the bindings that need it report that error while every
other function keeps serving.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, cast

from funchost.clock import REAL_TIME, Clock
from funchost.config import HostConfig
from funchost.storage.base import Storage, StorageError
from funchost.storage.connections import ConnectionString, resolve_connection

if TYPE_CHECKING:
    from funchost.endpoint.development import AccountUse
    from funchost.storage.sqlite import SqliteStorage

EMBEDDED_FILE = "storage.db"
# The setting funchost defines for the embedded store's endpoint (funchost.endpoint.embedded).
EMBEDDED_SETTING = "FUNCHOST_STORAGE"
SETTING = "\x00setting\x00"  # in a described place: where the setting's name goes


class StorageUnavailable(StorageError):
    """An Azure Storage account could not be reached."""


def embedded_path(state_dir: Path) -> Path:
    return state_dir / EMBEDDED_FILE


def unreachable_message(connection: ConnectionString, error: BaseException) -> str:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return (
        f"Cannot reach the storage account in setting '{connection.setting}' "
        f"(queues {connection.queue_endpoint}, blobs {connection.blob_endpoint}): {reason}. "
        f'Start Azurite (npx azurite), or set {connection.setting} to "" to use '
        "funchost's embedded store."
    )


class StorageAccounts:
    def __init__(
        self,
        state_dir: Path,
        settings: Mapping[str, str],
        connection_strings: Mapping[str, str] | None = None,
        development_dir: Path | None = None,
        clock: Clock = REAL_TIME,
    ) -> None:
        self.state_dir = state_dir
        # The embedded store's clock (funchost.clock); a shared store keeps real time.
        self.clock = clock
        self.development_dir = development_dir
        self.settings = settings
        self.connection_strings = connection_strings or {}
        self._open: dict[str, Storage] = {}
        self._connections: dict[str | None, ConnectionString | None] = {}
        self._development_places: dict[str, str | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._development_uses: list[AccountUse] = []

    @classmethod
    def for_config(cls, config: HostConfig, clock: Clock = REAL_TIME) -> StorageAccounts:
        return cls(
            config.state_dir,
            config.settings,
            config.connection_strings,
            config.development_storage_dir,
            clock,
        )

    @property
    def embedded_path(self) -> Path:
        return embedded_path(self.state_dir)

    def connection(self, name: str | None) -> ConnectionString | None:
        """The Azure account of connection `name`, None for the embedded store; a
        `ConfigError` names a setting that cannot be used. Read once per name: every output
        write asks."""
        if name not in self._connections:
            self._connections[name] = (
                None  # the setting of the embedded store's own endpoint
                if name == EMBEDDED_SETTING
                else resolve_connection(name, self.settings, self.connection_strings)
            )
        return self._connections[name]

    def describe(self, name: str | None) -> str:
        connection = self.connection(name)
        if connection is None:
            return f"embedded store {self.embedded_path}"
        host = connection.development_host
        if host is None or self.development_dir is None:
            return connection.description
        # Asked once per host: the banner describes every storage binding of every function.
        if host not in self._development_places:
            self._development_places[host] = self._development_place(host, self.development_dir)
        place = self._development_places[host]
        if place is None:
            return connection.description
        return place.replace(SETTING, connection.setting)

    @staticmethod
    def _development_place(host: str, location: Path) -> str | None:
        """What serves the development account on `host`, with SETTING for the setting's name;
        None when something else holds its port (the failure names it when storage opens)."""
        from funchost.endpoint import development

        found = development.probe(host)
        where = f"{host}:10000/10001"
        if found.kind == "azure":
            return f"development account on Azurite ({where}, from {SETTING})"
        if found.kind == "funchost":
            return (
                f"development account on funchost's storage endpoint ({where}, from {SETTING}), "
                f"data in {found.store}"
            )
        if found.kind == "nothing":
            return (
                f"development account: nothing answers on {where} (no Azurite), so funchost "
                f"serves it, data in {location}"
            )
        return None

    async def get(self, name: str | None) -> Storage:
        """The storage of connection `name`, opened (and for Azure, reached) on first use."""
        return await self._storage(self.connection(name))

    async def embedded(self) -> SqliteStorage:
        """The app's embedded store, the same object its bindings use."""
        return cast("SqliteStorage", await self._storage(None))

    async def _storage(self, connection: ConnectionString | None) -> Storage:
        key = "" if connection is None else connection.value
        storage = self._open.get(key)
        if storage is not None:
            return storage
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            storage = self._open.get(key)
            if storage is None:
                storage = await self._connect(connection)
                self._open[key] = storage
        return storage

    async def _connect(self, connection: ConnectionString | None) -> Storage:
        # Backends load only when a binding uses them: an HTTP-only app imports neither.
        if connection is None:
            from funchost.storage.sqlite import SqliteStorage

            return SqliteStorage(self.embedded_path, clock=self.clock)
        host = connection.development_host
        if host is not None and self.development_dir is not None:
            storage = await self._development(connection, host, self.development_dir)
            if storage is not None:
                return storage
        from funchost.storage.azure import AzureStorage

        storage = AzureStorage(connection)
        try:
            await storage.check()
        except Exception as exc:
            await storage.close()
            raise StorageUnavailable(unreachable_message(connection, exc)) from None
        return storage

    async def _development(
        self, connection: ConnectionString, host: str, location: Path
    ) -> Storage | None:
        """funchost's endpoint's own store when it serves the development account (started
        now if nothing answers); None when Azurite does."""
        from funchost.endpoint import development

        found = await asyncio.to_thread(development.ensure, host, location)
        if found.kind == "funchost" and found.store is not None:
            from funchost.storage.sqlite import SqliteStorage

            # Keeps the endpoint serving the SDK clients while this app runs.
            self._development_uses.append(development.AccountUse(found.store.parent))
            return SqliteStorage(found.store)
        if found.kind == "azure":
            return None
        if found.kind == "nothing":
            reason = (
                "funchost's storage endpoint did not start (its log: "
                f"{location / 'endpoint.log'}). Free ports 10000 and 10001, start Azurite there"
            )
        else:
            reason = (
                "something that is not Azure Storage listens on port 10000. Stop it, start "
                "Azurite there"
            )
        raise StorageUnavailable(
            f"Cannot use the development account in setting '{connection.setting}' on "
            f'{host}:10000/10001: {reason}, or set {connection.setting} to "" to use the '
            "app's embedded store."
        )

    async def close(self) -> None:
        opened, self._open = list(self._open.values()), {}
        for storage in opened:
            await storage.close()
        for use in self._development_uses:
            use.release()
