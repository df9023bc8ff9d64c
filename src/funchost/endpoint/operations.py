"""Which Azure Storage operation a request is, and what a SAS must grant to run it.

Requests use path-style URLs, as the development account's connection string makes the SDKs
send them: `/<account>[/<container>[/<blob name>]]` on the Blob port and
`/<account>[/<queue>[/messages[/<message id>]]]` on the Queue port. An operation is picked by
the method, the depth of the path and the `restype`/`comp` parameters, the way the services'
REST references define them. Operations outside funchost's scope (page and append blobs,
snapshots, versions, tags, batches, access policies, ...) are named, so the caller can be told
exactly what is not supported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from funchost.endpoint.auth import Access, Service
from funchost.endpoint.errors import StorageFailure


@dataclass(frozen=True)
class Operation:
    name: str  # the REST reference's name: "Put Blob", "Get Messages"
    access: Access
    supported: bool = True


@dataclass(frozen=True)
class Target:
    """What a request's path names, decoded."""

    account: str
    container: str | None = None  # the container or queue
    blob: str | None = None  # the blob name (may hold '/')
    messages: bool = False  # a queue's `/messages`
    message_id: str | None = None


# Container and queue names: 3 to 63 lower-case letters, digits and single dashes, starting and
# ending with a letter or digit.
RESOURCE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*")


def resource_name(name: str | None) -> str:
    """`name` if it is a valid container or queue name, else Azure's error for it."""
    name = name or ""
    if not 3 <= len(name) <= 63:
        raise StorageFailure(
            400,
            "OutOfRangeInput",
            "The specified resource name length is not within the permissible limits.",
        )
    if RESOURCE_NAME.fullmatch(name) is None:
        raise StorageFailure(
            400, "InvalidResourceName", "The specified resource name contains invalid characters."
        )
    return name


def _service_access(letters: str) -> Access:
    return Access("b", "s", letters)


def _container_access(letters: str, service: str = "") -> Access:
    return Access("b", "c", letters, service)


def _blob_access(letters: str) -> Access:
    return Access("b", "o", letters, letters)


def blob_target(raw_path: str) -> Target:
    """`/<account>/<container>/<blob name>`: the blob name is everything after the container,
    percent-decoded."""
    parts = raw_path.lstrip("/").split("/", 2)
    account = unquote(parts[0])
    container = unquote(parts[1]) if len(parts) > 1 and parts[1] else None
    blob = unquote(parts[2]) if len(parts) > 2 and parts[2] else None
    return Target(account, container, blob)


def queue_target(raw_path: str) -> Target:
    parts = [unquote(p) for p in raw_path.strip("/").split("/")]
    if len(parts) > 4 or (len(parts) > 2 and parts[2] != "messages"):
        raise StorageFailure(
            400, "InvalidUri", "The requested URI does not represent any resource on the server."
        )
    return Target(
        account=parts[0],
        container=parts[1] if len(parts) > 1 and parts[1] else None,
        messages=len(parts) > 2,
        message_id=parts[3] if len(parts) > 3 and parts[3] else None,
    )


def _unsupported(name: str, service: Service = "b") -> Operation:
    return Operation(name, Access(service, "s", ""), supported=False)


def blob_operation(
    method: str, target: Target, query: Mapping[str, str], headers: Mapping[str, str]
) -> Operation:
    """The Blob service operation of a request; `query` holds the first value of each
    parameter, `headers` lower-case names."""
    restype = query.get("restype", "")
    comp = query.get("comp", "")
    if target.container is None:
        return _account_level(method, restype, comp)
    if target.blob is None:
        return _container_level(method, restype, comp)
    if "snapshot" in query or "versionid" in query:
        return _unsupported("Blob snapshots and versions")
    return _blob_level(method, comp, headers)


def _account_level(method: str, restype: str, comp: str) -> Operation:
    if method == "GET" and comp == "list":
        return Operation("List Containers", _service_access("l"))
    if restype == "service" and comp == "properties":
        if method == "GET":
            return Operation("Get Blob Service Properties", _service_access("r"))
        if method == "PUT":
            return Operation("Set Blob Service Properties", _service_access("w"))
    if restype == "account" and comp == "properties" and method in ("GET", "HEAD"):
        return Operation("Get Account Information", _service_access("rwdlacup"))
    names = {
        "stats": "Get Blob Service Stats",
        "batch": "Blob Batch",
        "blobs": "Find Blobs by Tags",
        "userdelegationkey": "Get User Delegation Key",
    }
    return _unsupported(names.get(comp, f"{method} on the Blob service"))


def _container_level(method: str, restype: str, comp: str) -> Operation:
    if restype == "container":
        if comp == "":
            if method == "PUT":
                return Operation("Create Container", _container_access("cw"))
            if method == "DELETE":
                return Operation("Delete Container", _container_access("d"))
            if method in ("GET", "HEAD"):
                return Operation("Get Container Properties", _container_access("r"))
        if comp == "metadata":
            if method in ("GET", "HEAD"):
                return Operation("Get Container Metadata", _container_access("r"))
            if method == "PUT":
                return Operation("Set Container Metadata", _container_access("w"))
        if comp == "list" and method == "GET":
            return Operation("List Blobs", _container_access("l", "l"))
        names = {
            "acl": "Container access policies",
            "lease": "Lease Container",
            "rename": "Rename Container",
            "undelete": "Restore Container",
            "batch": "Blob Batch",
            "blobs": "Find Blobs by Tags",
        }
        return _unsupported(names.get(comp, f"{method} on a container"))
    return _unsupported(f"{method} on a container without restype=container")


def _blob_level(method: str, comp: str, headers: Mapping[str, str]) -> Operation:
    if comp == "":
        if method == "PUT":
            blob_type = headers.get("x-ms-blob-type", "")
            if "x-ms-copy-source" in headers:
                if blob_type:
                    return _unsupported("Put Blob From URL")
                if headers.get("x-ms-requires-sync", "").lower() == "true":
                    return Operation("Copy Blob From URL", _blob_access("wc"))
                return Operation("Copy Blob", _blob_access("wc"))
            if blob_type in ("PageBlob", "AppendBlob"):
                return _unsupported(f"{blob_type}s (Put Blob with x-ms-blob-type: {blob_type})")
            return Operation("Put Blob", _blob_access("wc"))
        if method == "GET":
            return Operation("Get Blob", _blob_access("r"))
        if method == "HEAD":
            return Operation("Get Blob Properties", _blob_access("r"))
        if method == "DELETE":
            return Operation("Delete Blob", _blob_access("d"))
    elif method == "PUT":
        puts = {
            "properties": ("Set Blob Properties", "w"),
            "metadata": ("Set Blob Metadata", "w"),
            "lease": ("Lease Blob", "w"),
            "block": ("Put Block", "w"),
            "blocklist": ("Put Block List", "w"),
            "copy": ("Abort Copy Blob", "w"),
        }
        if comp in puts:
            name, letters = puts[comp]
            if comp == "lease" and headers.get("x-ms-lease-action", "").lower() == "break":
                letters = "dw"
            return Operation(name, _blob_access(letters))
    elif method in ("GET", "HEAD"):
        if comp == "metadata":
            return Operation("Get Blob Metadata", _blob_access("r"))
        if comp == "blocklist" and method == "GET":
            return Operation("Get Block List", _blob_access("r"))
    names = {
        "snapshot": "Snapshot Blob",
        "tags": "Blob index tags",
        "tier": "Set Blob Tier",
        "page": "Page blobs",
        "pagelist": "Page blobs",
        "incrementalcopy": "Incremental Copy Blob",
        "appendblock": "Append blobs",
        "seal": "Append blobs",
        "undelete": "Undelete Blob",
        "expiry": "Set Blob Expiry",
        "immutabilityPolicies": "Blob immutability policies",
        "legalhold": "Blob legal holds",
        "query": "Query Blob Contents",
    }
    return _unsupported(names.get(comp, f"{method} on a blob with comp={comp}"))


def queue_operation(method: str, target: Target, query: Mapping[str, str]) -> Operation:
    """The Queue service operation of a request."""
    comp = query.get("comp", "")
    if target.container is None:
        if method == "GET" and comp == "list":
            return Operation("List Queues", Access("q", "s", "l"))
        if query.get("restype") == "service" and comp == "properties":
            if method == "GET":
                return Operation("Get Queue Service Properties", Access("q", "s", "r"))
            if method == "PUT":
                return Operation("Set Queue Service Properties", Access("q", "s", "w"))
        return _unsupported(
            "Get Queue Service Stats" if comp == "stats" else f"{method} on the Queue service",
            "q",
        )
    if not target.messages:
        if comp == "":
            if method == "PUT":
                return Operation("Create Queue", Access("q", "c", "cw"))
            if method == "DELETE":
                return Operation("Delete Queue", Access("q", "c", "d"))
        if comp == "metadata":
            if method in ("GET", "HEAD"):
                return Operation("Get Queue Metadata", Access("q", "c", "r", "r"))
            if method == "PUT":
                return Operation("Set Queue Metadata", Access("q", "c", "w"))
        if comp == "acl":
            return _unsupported("Queue access policies", "q")
        return _unsupported(f"{method} on a queue", "q")
    if target.message_id is None:
        if method == "POST":
            return Operation("Put Message", Access("q", "o", "a", "a"))
        if method == "GET":
            if query.get("peekonly", "").lower() == "true":
                return Operation("Peek Messages", Access("q", "o", "r", "r"))
            return Operation("Get Messages", Access("q", "o", "p", "p"))
        if method == "DELETE":
            return Operation("Clear Messages", Access("q", "o", "d"))
        return _unsupported(f"{method} on a queue's messages", "q")
    if method == "PUT":
        return Operation("Update Message", Access("q", "o", "u", "u"))
    if method == "DELETE":
        return Operation("Delete Message", Access("q", "o", "p", "p"))
    return _unsupported(f"{method} on a message", "q")


def not_supported(operation: Operation) -> StorageFailure:
    """The answer to an operation outside funchost's scope: 501, which the SDKs do not retry
    and raise as an `HttpResponseError` carrying this message."""
    return StorageFailure(
        501,
        "NotImplemented",
        f"funchost's storage endpoint does not support this operation: {operation.name}.",
    )
