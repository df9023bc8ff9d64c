"""Blob storage: the `blobTrigger` listener and the `blob` input and output bindings.

A trigger's path is `container/pattern`: the container is literal, and `{name}` parameters of
the pattern match greedily, across `/` (`{name}.{ext}`: the name runs to the last dot); what
they capture is binding data. The listener scans the container (every `SCAN_EMBEDDED` seconds
on the embedded store, `SCAN_AZURE` on Azure Storage, at once when this host writes to it) and
runs the function once per blob version, across restarts and across every host of the app:

- a version is recorded by a receipt blob in `azure-webjobs-hosts`,
  `blobreceipts/{hostId}/Host.Functions.{Name}/{ETag}/{container}/{blob}`, marked
  `Completed` once its invocation succeeded, so a new host never replays it;
- a host works on a version only while it holds the lease on that receipt, so two hosts never
  run the same version at once, and a host that dies leaves it to the others when the lease
  expires;
- a failed invocation is retried at the next scan, up to `MAX_ATTEMPTS` in all; then a message
  describing the blob goes to queue `webjobs-blobtrigger-poison` and the version is complete.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any

from azure.functions import meta

from funchost.bindings.converters import payload_datum
from funchost.bindings.expressions import BindingData, resolve_settings
from funchost.bindings.kinds import BindingKind
from funchost.bindings.queue import encode_content
from funchost.bindings.queue import resource as queue_resource
from funchost.bindings.runtime import BackgroundListener, BindingRuntime
from funchost.bindings.triggers import ADMIN_REASON
from funchost.indexing.spec import BindingSpec, FunctionSpec, ParamSpec
from funchost.invocation.invoker import TriggerEvent
from funchost.storage.base import BlobInfo, Storage
from funchost.storage.names import InvalidName, blob_name, blob_path, container_name

logger = logging.getLogger("funchost.blobs")

HOSTS_CONTAINER = "azure-webjobs-hosts"
POISON_QUEUE = "webjobs-blobtrigger-poison"
SCAN_EMBEDDED = 0.5
SCAN_AZURE = 2.0
MAX_ATTEMPTS = 5
RECEIPT_LEASE = 30.0
CONCURRENCY = 16
_PARAMETER = re.compile(r"\{([^{}]+)\}")


def resource(container: str) -> str:
    return f"container:{container}"


class BlobPattern:
    """A blob trigger's `container/pattern`, matched against the blobs of the container."""

    def __init__(self, path: str) -> None:
        container, sep, pattern = path.strip().partition("/")
        if "{" in container or "}" in container:
            raise ValueError(
                f"Invalid blob trigger path '{path}': the container name cannot contain "
                "binding parameters."
            )
        self.container = container_name(container)
        self.pattern = pattern if sep else ""
        self.prefix = self.pattern.split("{", 1)[0]
        regex, position = [], 0
        self.names: list[str] = []
        for match in _PARAMETER.finditer(self.pattern):
            regex.append(re.escape(self.pattern[position : match.start()]))
            self.names.append(match[1].strip())
            regex.append(f"(?P<p{len(self.names) - 1}>.+)")
            position = match.end()
        regex.append(re.escape(self.pattern[position:]))
        self._regex = re.compile("".join(regex)) if self.pattern else re.compile(".+")

    def match(self, name: str) -> dict[str, str] | None:
        m = self._regex.fullmatch(name)
        if m is None:
            return None
        return {n: m[f"p{i}"] for i, n in enumerate(self.names)}


def trigger_pattern(binding: BindingSpec, settings: Mapping[str, str]) -> BlobPattern:
    return BlobPattern(resolve_settings(str(binding.get("path") or ""), settings))


def blob_datum(data: bytes, binding: BindingSpec, param: ParamSpec | None) -> meta.Datum:
    return payload_datum(
        data, binding.data_type or binding.get("dataType"), param.pytype if param else None
    )


def _param(spec: FunctionSpec, binding: BindingSpec) -> ParamSpec | None:
    return next((p for p in spec.params if p.binding is binding), None)


def blob_event(
    storage: Storage,
    spec: FunctionSpec,
    data: bytes,
    info: BlobInfo,
    captures: Mapping[str, str],
    reason: str,
) -> TriggerEvent:
    properties = {
        "ContentLength": info.length,
        "Length": info.length,
        "ContentType": info.content_type,
        "ETag": info.etag,
        "LastModified": info.last_modified.isoformat(),
        "BlobType": "BlockBlob",
    }
    path = f"{info.container}/{info.name}"
    metadata = {
        "BlobTrigger": meta.Datum(path, "string"),
        "Uri": meta.Datum(storage.blob_url(info.container, info.name), "string"),
        "Properties": meta.Datum(json.dumps(properties), "json"),
        "Metadata": meta.Datum(json.dumps(dict(info.metadata)), "json"),
        **{name: meta.Datum(value, "string") for name, value in captures.items()},
    }
    binding_data = BindingData({"BlobTrigger": path, "Uri": metadata["Uri"].value})
    binding_data.update({"Properties": properties, "Metadata": dict(info.metadata)})
    binding_data.update(captures)
    return TriggerEvent(
        blob_datum(data, spec.trigger, _param(spec, spec.trigger)),
        metadata,
        reason=reason,
        binding_data=binding_data,
    )


class BlobListener(BackgroundListener):
    def __init__(self, runtime: BindingRuntime, spec: FunctionSpec) -> None:
        super().__init__()
        self.runtime = runtime
        self.spec = spec
        self.pattern = trigger_pattern(spec.trigger, runtime.settings)
        self.account = runtime.account_key(spec.trigger)
        self.function_id = f"Host.Functions.{spec.name}"
        self.lease_id = str(uuid.UUID(runtime.instance_id))
        embedded = runtime.accounts.connection(spec.trigger.get("connection")) is None
        self.interval = SCAN_EMBEDDED if embedded else SCAN_AZURE
        self.wake = runtime.changes.watch(self.account, resource(self.pattern.container))
        self._done: set[tuple[str, str]] = set()  # (blob name, ETag) known to be complete
        self._working: set[str] = set()
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def _prepare(self, storage: Storage) -> None:
        await storage.create_container(self.pattern.container)
        await storage.create_container(HOSTS_CONTAINER)

    async def drain(self) -> None:
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))
        self.runtime.changes.unwatch(self.account, resource(self.pattern.container), self.wake)

    async def run(self) -> None:
        storage = await self.runtime.listener_storage(self.spec, self.stopping, self._prepare)
        if storage is None:
            return
        while not self.stopping.is_set():
            self.wake.clear()
            self.polling()
            try:
                blobs = await storage.list_blobs(self.pattern.container, self.pattern.prefix)
            except Exception as exc:
                logger.warning("Scanning container '%s' failed: %s", self.pattern.container, exc)
                blobs = []
            for info in blobs:
                if (info.name, info.etag) in self._done or info.name in self._working:
                    continue
                captures = self.pattern.match(info.name)
                if captures is None:
                    continue
                await self._slots.acquire()
                self._working.add(info.name)
                task = asyncio.get_running_loop().create_task(
                    self._process(storage, info, captures)
                )
                self._in_flight.add(task)
                task.add_done_callback(functools.partial(self._finished, name=info.name))
            self.polled()
            await self.pause(self.interval)

    def _finished(self, task: asyncio.Task[None], *, name: str) -> None:
        self._in_flight.discard(task)
        self._working.discard(name)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            logger.error("Processing blob '%s' failed", name, exc_info=task.exception())

    def _receipt(self, info: BlobInfo) -> str:
        etag = info.etag.strip('"')
        return (
            f"blobreceipts/{self.runtime.host_id}/{self.function_id}/{etag}/"
            f"{info.container}/{info.name}"
        )

    async def _process(self, storage: Storage, info: BlobInfo, captures: dict[str, str]) -> None:
        receipt = self._receipt(info)
        found = await storage.blob_info(HOSTS_CONTAINER, receipt)
        if found is not None and found.metadata.get("Completed") == "true":
            self._done.add((info.name, info.etag))
            return
        if not await storage.acquire_lease(HOSTS_CONTAINER, receipt, self.lease_id, RECEIPT_LEASE):
            return  # another host is on it; if it dies, its lease expires and a scan retries
        try:
            await self._run_version(storage, info, captures, receipt)
        finally:
            await storage.release_lease(HOSTS_CONTAINER, receipt, self.lease_id)

    async def _complete(self, storage: Storage, info: BlobInfo, receipt: str) -> None:
        await storage.put_blob(
            HOSTS_CONTAINER, receipt, b"", metadata={"Completed": "true"}, lease_id=self.lease_id
        )
        self._done.add((info.name, info.etag))

    async def _run_version(
        self, storage: Storage, info: BlobInfo, captures: dict[str, str], receipt: str
    ) -> None:
        found = await storage.blob_info(HOSTS_CONTAINER, receipt)  # again, now that we hold it
        metadata = dict(found.metadata) if found is not None else {}
        if metadata.get("Completed") == "true":
            self._done.add((info.name, info.etag))
            return
        blob = await storage.get_blob(info.container, info.name)
        if blob is None or blob[1].etag != info.etag:
            return  # deleted or changed since the scan: the next scan sees what is there now
        data, current = blob
        event = blob_event(
            storage,
            self.spec,
            data,
            current,
            captures,
            reason=f"New blob detected(LogsAndContainerScan): {current.container}/{current.name}",
        )
        renewing = asyncio.get_running_loop().create_task(self._renew(storage, receipt))
        try:
            result = await self.runtime.run(self.spec, event)
        finally:
            renewing.cancel()
        if result.succeeded:
            await self._complete(storage, info, receipt)
            return
        attempts = int(metadata.get("Attempts", "0")) + 1
        if attempts < MAX_ATTEMPTS:
            await storage.put_blob(
                HOSTS_CONTAINER,
                receipt,
                b"",
                metadata={"Attempts": str(attempts)},
                lease_id=self.lease_id,
            )
            return
        await self._poison(storage, info)
        await self._complete(storage, info, receipt)

    async def _renew(self, storage: Storage, receipt: str) -> None:
        while True:
            await asyncio.sleep(RECEIPT_LEASE / 3)
            try:
                await storage.acquire_lease(HOSTS_CONTAINER, receipt, self.lease_id, RECEIPT_LEASE)
            except Exception as exc:
                logger.warning("Renewing the receipt of %s failed: %s", receipt, exc)

    async def _poison(self, storage: Storage, info: BlobInfo) -> None:
        logger.warning(
            "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
            MAX_ATTEMPTS,
            POISON_QUEUE,
        )
        message = {
            "Type": "BlobTrigger",
            "FunctionId": self.function_id,
            "BlobType": "BlockBlob",
            "ContainerName": info.container,
            "BlobName": info.name,
            "ETag": info.etag,
        }
        encoding = self.runtime.host_options.queues.message_encoding
        await storage.create_queue(POISON_QUEUE)
        await storage.send_message(POISON_QUEUE, encode_content(json.dumps(message), encoding))
        self.runtime.changes.notify(self.account, queue_resource(POISON_QUEUE))


class BlobBinding(BindingKind):
    expressions = ("path",)

    def check(self, binding: BindingSpec, settings: Mapping[str, str]) -> None:
        if binding.is_trigger:
            trigger_pattern(binding, settings)
            return
        path = resolve_settings(str(binding.get("path") or ""), settings)
        container, _, name = path.partition("/")
        if not _PARAMETER.search(container):
            container_name(container)
        if not name:
            raise InvalidName(f"Invalid blob path: {path!r}. Expected 'container/blob-name'.")
        if not _PARAMETER.search(name):
            blob_name(name)

    def listener(self, runtime: BindingRuntime, spec: FunctionSpec) -> BlobListener:
        return BlobListener(runtime, spec)

    async def read(
        self,
        runtime: BindingRuntime,
        binding: BindingSpec,
        param: ParamSpec | None,
        event: TriggerEvent,
    ) -> meta.Datum:
        container, name = blob_path(runtime.template(binding, "path").bind(event.binding_data))
        storage = await runtime.storage(binding)
        found = await storage.get_blob(container, name)
        if found is None:
            return meta.Datum(None, None)
        return blob_datum(found[0], binding, param)

    async def write(
        self, runtime: BindingRuntime, binding: BindingSpec, datum: Any, event: TriggerEvent
    ) -> None:
        container, name = blob_path(runtime.template(binding, "path").bind(event.binding_data))
        if datum.type == "string":
            data = str(datum.value).encode("utf-8")
        elif datum.type == "bytes":
            data = bytes(datum.value)
        else:
            raise TypeError(f"a blob output cannot take a value of type {datum.type!r}")
        storage = await runtime.storage(binding)
        account = runtime.account_key(binding)
        await runtime.ensure(account, resource(container), storage.create_container, container)
        await storage.put_blob(container, name, data)
        runtime.changes.notify(account, resource(container))

    async def admin_event(
        self, runtime: BindingRuntime, spec: FunctionSpec, value: str
    ) -> TriggerEvent:
        """The admin API names the blob to run on, as `container/name`."""
        container, name = blob_path(value.strip())
        storage = await runtime.storage(spec.trigger)
        found = await storage.get_blob(container, name)
        if found is None:
            raise LookupError(f"blob '{container}/{name}' does not exist")
        pattern = trigger_pattern(spec.trigger, runtime.settings)
        captures = pattern.match(name) if pattern.container == container else None
        return blob_event(storage, spec, found[0], found[1], captures or {}, ADMIN_REASON)


BLOB = BlobBinding()
