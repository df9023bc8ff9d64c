"""The Blob service's operations over the embedded store (funchost.storage.sqlite_blobs).

Block blobs only: containers with metadata and paged, hierarchical listings; blobs written in
one request or as staged blocks and a block list, read whole or by range, with their HTTP
headers, metadata, leases, conditional requests and copies within the account. Bodies stream
in both directions: a large upload is written chunk by chunk as it arrives, a download read
chunk by chunk as the client takes it, so neither is ever held whole.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import re
from collections.abc import AsyncIterator, Mapping
from urllib.parse import unquote, urlsplit

from funchost.endpoint import errors, service, xml
from funchost.endpoint.app import Call, Handler, Reply, http_date
from funchost.endpoint.errors import StorageFailure
from funchost.endpoint.operations import resource_name
from funchost.storage import sqlite_blobs as store
from funchost.storage.base import BlobInfo, BlobRefused
from funchost.storage.sqlite_blobs import BlobWrite, Conditions, ContainerRecord, Piece

XML = "application/xml"
MAX_BLOB = 5000 * 1024 * 1024  # Put Blob
MAX_BLOCK = 4000 * 1024 * 1024  # Put Block
MAX_BLOCK_LIST = 8 * 1024 * 1024
# The HTTP headers a blob keeps, by the request header that sets them on Put Blob, Put Block
# List and Set Blob Properties (x-ms-blob-*), and the response header that returns them.
BLOB_HEADERS = {
    "content-encoding": "x-ms-blob-content-encoding",
    "content-language": "x-ms-blob-content-language",
    "content-disposition": "x-ms-blob-content-disposition",
    "cache-control": "x-ms-blob-cache-control",
    "content-md5": "x-ms-blob-content-md5",
}


# -- request parts


def _header_failure(code: str, message: str, name: str, value: str | None = None) -> StorageFailure:
    detail = {"HeaderName": name}
    if value is not None:
        detail["HeaderValue"] = value
    return StorageFailure(400, code, message, detail)


def invalid_header(name: str, value: str) -> StorageFailure:
    return _header_failure(
        "InvalidHeaderValue",
        "The value for one of the HTTP headers is not in the correct format.",
        name,
        value,
    )


def missing_header(name: str) -> StorageFailure:
    return _header_failure(
        "MissingRequiredHeader",
        "An HTTP header that's mandatory for this request is not specified.",
        name,
    )


def _date(call: Call, name: str) -> float | None:
    text = call.headers.get(name)
    if text is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        raise invalid_header(name, text) from None


def conditions(call: Call, *, lease: bool = True) -> Conditions:
    h = call.headers
    return Conditions(
        if_match=h.get("if-match"),
        if_none_match=h.get("if-none-match"),
        if_modified_since=_date(call, "if-modified-since"),
        if_unmodified_since=_date(call, "if-unmodified-since"),
        lease_id=h.get("x-ms-lease-id") if lease else None,
    )


def _blob_write(call: Call, *, put: bool) -> BlobWrite:
    """The properties a write sets: x-ms-blob-* headers, and on Put Blob the request's own
    Content-Type and friends when those are absent."""
    h = call.headers
    content_type = h.get("x-ms-blob-content-type")
    if content_type is None and put:
        content_type = h.get("content-type")
    headers: dict[str, str] = {}
    for name, own in BLOB_HEADERS.items():
        value = h.get(own)
        if value is None and put and name != "content-md5":
            value = h.get(name)
        if value:
            headers[name] = value
    return BlobWrite(content_type or "application/octet-stream", headers, call.metadata())


def _where(call: Call) -> tuple[str, str]:
    return call.target.container or "", call.target.blob or ""


def _etag_headers(etag: str, modified: str) -> list[tuple[str, str]]:
    return [("etag", etag), ("last-modified", modified)]


async def _receive_piece(call: Call, limit: int) -> tuple[Piece, bytes]:
    """The request body as a piece of the store, and its MD5: read whole when it is small,
    else written to the store chunk by chunk as it arrives."""
    declared = call.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise StorageFailure(
            411, "MissingContentLengthHeader", "Content-Length HTTP header is missing."
        )
    size = int(declared)
    if size > limit:
        raise errors.body_too_large(limit)
    digest = hashlib.md5(usedforsecurity=False)
    if size <= store.INLINE:
        data = await call.body(limit)
        digest.update(data)
        return Piece(len(data), data=data), digest.digest()

    async def parts() -> AsyncIterator[bytes]:
        async for part in call.stream():
            digest.update(part)
            yield part

    piece = await call.store.write_content(parts())
    return piece, digest.digest()


def _check_md5(call: Call, digest: bytes) -> None:
    given = call.headers.get("content-md5")
    if given is None:
        return
    try:
        expected = base64.b64decode(given, validate=True)
    except binascii.Error:
        raise invalid_header("Content-MD5", given) from None
    if expected != digest:
        raise StorageFailure(
            400,
            "Md5Mismatch",
            "The MD5 value specified in the request did not match with the MD5 value "
            "calculated by the server.",
            {
                "UserSpecifiedMd5": given,
                "ServerCalculatedMd5": base64.b64encode(digest).decode(),
            },
        )


async def _drop(call: Call, piece: Piece) -> None:
    if piece.content is not None:
        content = piece.content
        await call.store.run(lambda db: store.drop_content(db, content))


# -- the service


async def list_containers(call: Call) -> Reply:
    prefix = call.query.get("prefix", "")
    marker = call.query.get("marker", "")
    limit = _max_results(call)
    found, next_marker = await call.store.run(
        lambda db: store.container_page(db, prefix, marker, limit)
    )
    with_metadata = "metadata" in call.query.get("include", "").split(",")
    entries = [_container_xml(c, with_metadata) for c in found]
    parts = _listing_head(call, prefix, marker, limit)
    parts += [xml.element("Containers", entries), xml.element("NextMarker", next_marker)]
    body = xml.element("EnumerationResults", parts, {"ServiceEndpoint": call.base_url + "/"})
    return Reply(200, body=xml.document(body), content_type=XML)


def _max_results(call: Call) -> int:
    text = call.query.get("maxresults")
    if text is None:
        return 5000
    if not text.isdigit() or not 1 <= int(text) <= 5000:
        raise StorageFailure(
            400,
            "OutOfRangeQueryParameterValue",
            "One of the query parameters specified in the request URI is outside the "
            "permissible range.",
            {
                "QueryParameterName": "maxresults",
                "QueryParameterValue": text,
                "MinimumAllowed": "1",
                "MaximumAllowed": "5000",
            },
        )
    return int(text)


def _listing_head(call: Call, prefix: str, marker: str, limit: int) -> list[str]:
    parts = [xml.element("Prefix", prefix)] if prefix else []
    if marker:
        parts.append(xml.element("Marker", marker))
    if "maxresults" in call.query:
        parts.append(xml.element("MaxResults", str(limit)))
    return parts


def _container_xml(record: ContainerRecord, with_metadata: bool) -> str:
    properties = xml.element(
        "Properties",
        [
            xml.element("Last-Modified", http_date(record.last_modified)),
            xml.element("Etag", record.etag),
            xml.element("LeaseStatus", "unlocked"),
            xml.element("LeaseState", "available"),
            xml.element("HasImmutabilityPolicy", "false"),
            xml.element("HasLegalHold", "false"),
        ],
    )
    parts = [xml.element("Name", record.name), properties]
    if with_metadata:
        parts.append(xml.metadata_element(record.metadata))
    return xml.element("Container", parts)


async def get_account_information(call: Call) -> Reply:
    return Reply(
        200,
        [
            ("x-ms-sku-name", "Standard_LRS"),
            ("x-ms-account-kind", "StorageV2"),
            ("x-ms-is-hns-enabled", "false"),
        ],
    )


# -- containers


def _container_headers(record: ContainerRecord) -> list[tuple[str, str]]:
    headers = _etag_headers(record.etag, http_date(record.last_modified))
    headers += [(f"x-ms-meta-{k}", v) for k, v in record.metadata.items()]
    headers += [
        ("x-ms-lease-status", "unlocked"),
        ("x-ms-lease-state", "available"),
        ("x-ms-has-immutability-policy", "false"),
        ("x-ms-has-legal-hold", "false"),
        ("x-ms-default-encryption-scope", "$account-encryption-key"),
        ("x-ms-deny-encryption-scope-override", "false"),
    ]
    return headers


async def create_container(call: Call) -> Reply:
    name = resource_name(call.target.container)
    metadata = call.metadata()
    if not await call.store.run(lambda db: store.create_container(db, name, metadata)):
        raise StorageFailure(
            409, "ContainerAlreadyExists", "The specified container already exists."
        )
    record = await call.store.run(lambda db: store.container_properties(db, name))
    return Reply(201, _etag_headers(record.etag, http_date(record.last_modified)))


async def delete_container(call: Call) -> Reply:
    name = call.target.container or ""
    await call.store.run(lambda db: store.delete_container(db, name))
    return Reply(202)


async def get_container_properties(call: Call) -> Reply:
    name = call.target.container or ""
    record = await call.store.run(lambda db: store.container_properties(db, name))
    return Reply(200, _container_headers(record))


async def set_container_metadata(call: Call) -> Reply:
    name = call.target.container or ""
    metadata = call.metadata()
    record = await call.store.run(lambda db: store.set_container_metadata(db, name, metadata))
    return Reply(200, _etag_headers(record.etag, http_date(record.last_modified)))


async def list_blobs(call: Call) -> Reply:
    container = call.target.container or ""
    prefix = call.query.get("prefix", "")
    delimiter = call.query.get("delimiter", "")
    marker = call.query.get("marker", "")
    limit = _max_results(call)
    include = set(call.query.get("include", "").split(","))
    found, next_marker = await call.store.run(
        lambda db: store.blob_page(db, container, prefix, delimiter, marker, limit)
    )
    entries = [
        xml.element("BlobPrefix", [xml.element("Name", entry)])
        if isinstance(entry, str)
        else _blob_xml(entry, "metadata" in include)
        for entry in found
    ]
    parts = _listing_head(call, prefix, marker, limit)
    if delimiter:
        parts.append(xml.element("Delimiter", delimiter))
    parts += [xml.element("Blobs", entries), xml.element("NextMarker", next_marker)]
    attributes = {"ServiceEndpoint": call.base_url + "/", "ContainerName": container}
    body = xml.element("EnumerationResults", parts, attributes)
    return Reply(200, body=xml.document(body), content_type=XML)


def _blob_xml(info: BlobInfo, with_metadata: bool) -> str:
    headers = info.headers
    props = [
        xml.element("Creation-Time", http_date(info.created or info.last_modified)),
        xml.element("Last-Modified", http_date(info.last_modified)),
        xml.element("Etag", info.etag),
        xml.element("Content-Length", str(info.length)),
        xml.element("Content-Type", info.content_type or ""),
        xml.element("Content-Encoding", headers.get("content-encoding", "")),
        xml.element("Content-Language", headers.get("content-language", "")),
        xml.element("Content-CRC64", ""),
        xml.element("Content-MD5", headers.get("content-md5", "")),
        xml.element("Cache-Control", headers.get("cache-control", "")),
        xml.element("Content-Disposition", headers.get("content-disposition", "")),
        xml.element("BlobType", "BlockBlob"),
        xml.element("AccessTier", "Hot"),
        xml.element("AccessTierInferred", "true"),
        xml.element("LeaseStatus", _lease_status(info)),
        xml.element("LeaseState", info.lease_state),
    ]
    if info.lease_state == "leased":
        props.append(xml.element("LeaseDuration", "infinite" if info.lease_infinite else "fixed"))
    props.append(xml.element("ServerEncrypted", "true"))
    parts = [xml.element("Name", info.name), xml.element("Properties", props)]
    if with_metadata:
        parts.append(xml.metadata_element(info.metadata))
    return xml.element("Blob", parts)


def _lease_status(info: BlobInfo) -> str:
    return "locked" if info.lease_state in ("leased", "breaking") else "unlocked"


# -- blobs


def _blob_headers(info: BlobInfo) -> list[tuple[str, str]]:
    """What Get Blob and Get Blob Properties answer about a blob."""
    headers = _etag_headers(info.etag, http_date(info.last_modified))
    headers += [
        ("x-ms-creation-time", http_date(info.created or info.last_modified)),
        ("x-ms-blob-type", "BlockBlob"),
        ("x-ms-lease-status", _lease_status(info)),
        ("x-ms-lease-state", info.lease_state),
        ("x-ms-server-encrypted", "true"),
        ("accept-ranges", "bytes"),
    ]
    if info.lease_state == "leased":
        headers.append(("x-ms-lease-duration", "infinite" if info.lease_infinite else "fixed"))
    headers += [(name, value) for name, value in info.headers.items()]
    headers += [(f"x-ms-meta-{k}", v) for k, v in info.metadata.items()]
    return headers


async def put_blob(call: Call) -> Reply:
    container, name = _where(call)
    blob_type = call.headers.get("x-ms-blob-type")
    if blob_type is None:
        raise missing_header("x-ms-blob-type")
    if blob_type != "BlockBlob":
        raise invalid_header("x-ms-blob-type", blob_type)
    write = _blob_write(call, put=True)
    given = conditions(call)
    await call.store.run(lambda db: store.check_put(db, container, name, given))
    piece, digest = await _receive_piece(call, MAX_BLOB)
    try:
        _check_md5(call, digest)
        md5 = base64.b64encode(digest).decode()
        if "content-md5" not in write.headers:
            write = BlobWrite(
                write.content_type, {**write.headers, "content-md5": md5}, write.metadata
            )
        info = await call.store.run(lambda db: store.put(db, container, name, piece, write, given))
    except BaseException:
        await _drop(call, piece)
        raise
    headers = _etag_headers(info.etag, http_date(info.last_modified))
    headers += [("content-md5", md5), ("x-ms-request-server-encrypted", "true")]
    return Reply(201, headers)


RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def _range(call: Call) -> tuple[int, int | None] | None:
    text = call.headers.get("x-ms-range") or call.headers.get("range")
    if not text:
        return None
    found = RANGE.match(text.strip())
    if found is None:
        return None  # Azure ignores a range it cannot read, and sends the whole blob
    start = int(found.group(1))
    end = int(found.group(2)) if found.group(2) else None
    if end is not None and end < start:
        raise invalid_header("Range", text)
    return start, end


async def get_blob(call: Call) -> Reply:
    container, name = _where(call)
    given = conditions(call)
    info, pieces = await call.store.run(lambda db: store.read_plan(db, container, name, given))
    headers = _blob_headers(info)
    content_type = info.content_type or "application/octet-stream"
    wanted = _range(call)
    at_hand = pieces[0].data if len(pieces) == 1 else None  # a small blob's bytes, read
    if wanted is None:
        if at_hand is not None:
            return Reply(200, headers, at_hand, content_type)
        stream = call.store.read_pieces(pieces)
        return Reply(200, headers, content_type=content_type, stream=stream, length=info.length)
    start, end = wanted
    if start >= info.length:
        raise StorageFailure(
            416,
            "InvalidRange",
            "The range specified is invalid for the current size of the resource.",
        ) from None
    last = info.length - 1 if end is None else min(end, info.length - 1)
    headers.append(("content-range", f"bytes {start}-{last}/{info.length}"))
    if call.headers.get("x-ms-range-get-content-md5", "").lower() == "true":
        if last - start + 1 > 4 * 1024 * 1024:
            raise invalid_header("x-ms-range-get-content-md5", "true")
        data = b"".join([p async for p in call.store.read_pieces(pieces, start, last + 1)])
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        headers = [(n, v) for n, v in headers if n != "content-md5"] + [("content-md5", md5)]
        return Reply(206, headers, data, content_type)
    headers = [(n, v) for n, v in headers if n != "content-md5"]
    if info.headers.get("content-md5"):
        headers.append(("x-ms-blob-content-md5", info.headers["content-md5"]))
    if at_hand is not None:
        return Reply(206, headers, at_hand[start : last + 1], content_type)
    stream = call.store.read_pieces(pieces, start, last + 1)
    return Reply(206, headers, content_type=content_type, stream=stream, length=last - start + 1)


async def get_blob_properties(call: Call) -> Reply:
    container, name = _where(call)
    given = conditions(call)
    info = await call.store.run(lambda db: store.properties(db, container, name, given))
    headers = [*_blob_headers(info), ("content-type", info.content_type or "")]
    return Reply(200, headers, stream=_nothing(), length=info.length)


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""  # an async generator with no parts


async def set_blob_properties(call: Call) -> Reply:
    container, name = _where(call)
    write = _blob_write(call, put=False)
    given = conditions(call)
    info = await call.store.run(
        lambda db: store.set_headers(db, container, name, write.content_type, write.headers, given)
    )
    return Reply(200, _etag_headers(info.etag, http_date(info.last_modified)))


async def get_blob_metadata(call: Call) -> Reply:
    container, name = _where(call)
    given = conditions(call)
    info = await call.store.run(lambda db: store.properties(db, container, name, given))
    headers = _etag_headers(info.etag, http_date(info.last_modified))
    headers += [(f"x-ms-meta-{k}", v) for k, v in info.metadata.items()]
    return Reply(200, headers)


async def set_blob_metadata(call: Call) -> Reply:
    container, name = _where(call)
    metadata = call.metadata()
    given = conditions(call)
    info = await call.store.run(lambda db: store.set_metadata(db, container, name, metadata, given))
    headers = _etag_headers(info.etag, http_date(info.last_modified))
    return Reply(200, [*headers, ("x-ms-request-server-encrypted", "true")])


async def delete_blob(call: Call) -> Reply:
    container, name = _where(call)
    given = conditions(call)
    await call.store.run(lambda db: store.delete(db, container, name, given))
    return Reply(202, [("x-ms-delete-type-permanent", "true")])


# -- leases


def _seconds(call: Call, name: str, low: int, high: int, allow: int | None = None) -> int | None:
    text = call.headers.get(name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise invalid_header(name, text) from None
    if value != allow and not low <= value <= high:
        raise invalid_header(name, text)
    return value


async def lease_blob(call: Call) -> Reply:
    container, name = _where(call)
    action = call.headers.get("x-ms-lease-action", "").lower()
    if action not in ("acquire", "renew", "change", "release", "break"):
        raise (
            invalid_header("x-ms-lease-action", action)
            if action
            else missing_header("x-ms-lease-action")
        )
    lease_id = call.headers.get("x-ms-lease-id")
    proposed = call.headers.get("x-ms-proposed-lease-id")
    if action in ("renew", "change", "release") and lease_id is None:
        raise missing_header("x-ms-lease-id")
    if action == "change" and proposed is None:
        raise missing_header("x-ms-proposed-lease-id")
    duration = -1
    if action == "acquire":
        given_duration = _seconds(call, "x-ms-lease-duration", 15, 60, allow=-1)
        if given_duration is None:
            raise missing_header("x-ms-lease-duration")
        duration = given_duration
    break_period = _seconds(call, "x-ms-lease-break-period", 0, 60)
    given = conditions(call, lease=False)
    result = await call.store.run(
        lambda db: store.lease(
            db,
            container,
            name,
            action,
            lease_id,
            proposed_id=proposed,
            duration=duration,
            break_period=break_period,
            conditions=given,
        )
    )
    info = result.info
    headers = _etag_headers(info.etag, http_date(info.last_modified))
    if action == "break":
        return Reply(202, [*headers, ("x-ms-lease-time", str(result.seconds_left or 0))])
    if action != "release" and result.lease_id is not None:
        headers.append(("x-ms-lease-id", result.lease_id))
    return Reply(201 if action == "acquire" else 200, headers)


# -- blocks

MAX_BLOCK_ID = 64


def _block_id(call: Call) -> str:
    block_id = call.query.get("blockid")
    if not block_id:
        raise StorageFailure(
            400,
            "MissingRequiredQueryParameter",
            "A query parameter that's mandatory for this request is not specified.",
            {"QueryParameterName": "blockid"},
        )
    try:
        raw = base64.b64decode(block_id, validate=True)
    except binascii.Error:
        raw = b""
    if not raw or len(raw) > MAX_BLOCK_ID:
        raise StorageFailure(
            400,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
            {"QueryParameterName": "blockid", "QueryParameterValue": block_id},
        )
    return block_id


async def put_block(call: Call) -> Reply:
    container, name = _where(call)
    block_id = _block_id(call)
    lease_id = call.headers.get("x-ms-lease-id")
    await call.store.run(
        lambda db: store.check_put(db, container, name, Conditions(lease_id=lease_id))
    )
    piece, digest = await _receive_piece(call, MAX_BLOCK)
    try:
        _check_md5(call, digest)
        await call.store.run(
            lambda db: store.stage_block(db, container, name, block_id, piece, lease_id)
        )
    except BaseException:
        await _drop(call, piece)
        raise
    md5 = base64.b64encode(digest).decode()
    return Reply(201, [("content-md5", md5), ("x-ms-request-server-encrypted", "true")])


async def put_block_list(call: Call) -> Reply:
    container, name = _where(call)
    body = await call.body(MAX_BLOCK_LIST)
    root = xml.parse(body)
    if root.tag != "BlockList":
        raise xml.invalid_xml("The root element must be BlockList.")
    entries: list[tuple[str, str]] = []
    for element in root:
        if element.tag not in ("Latest", "Committed", "Uncommitted") or not element.text:
            raise xml.invalid_xml(f"Unexpected element {element.tag!r} in the block list.")
        entries.append((element.tag, element.text.strip()))
    write = _blob_write(call, put=False)
    given = conditions(call)
    info = await call.store.run(
        lambda db: store.commit_blocks(db, container, name, entries, write, given)
    )
    headers = _etag_headers(info.etag, http_date(info.last_modified))
    return Reply(201, [*headers, ("x-ms-request-server-encrypted", "true")])


async def get_block_list(call: Call) -> Reply:
    container, name = _where(call)
    which = call.query.get("blocklisttype", "committed").lower()
    if which not in ("committed", "uncommitted", "all"):
        raise StorageFailure(
            400,
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
            {"QueryParameterName": "blocklisttype", "QueryParameterValue": which},
        )
    lease_id = call.headers.get("x-ms-lease-id")
    info, committed, staged = await call.store.run(
        lambda db: store.block_list(db, container, name, lease_id)
    )

    def blocks(found: list[tuple[str, int]]) -> list[str]:
        return [
            xml.element("Block", [xml.element("Name", i), xml.element("Size", str(s))])
            for i, s in found
        ]

    parts = []
    if which in ("committed", "all"):
        parts.append(xml.element("CommittedBlocks", blocks(committed)))
    if which in ("uncommitted", "all"):
        parts.append(xml.element("UncommittedBlocks", blocks(staged)))
    headers: list[tuple[str, str]] = []
    if info is not None:
        headers = _etag_headers(info.etag, http_date(info.last_modified))
        headers.append(("x-ms-blob-content-length", str(info.length)))
    body = xml.document(xml.element("BlockList", parts))
    return Reply(200, headers, body, XML)


# -- copies


def _copy_source(call: Call) -> tuple[str, str]:
    """The container and blob of `x-ms-copy-source`, which must be in this account."""
    text = call.headers.get("x-ms-copy-source", "")
    url = urlsplit(text)
    parts = url.path.lstrip("/").split("/", 2)
    base = urlsplit(call.base_url)
    if url.netloc != base.netloc or len(parts) < 3 or unquote(parts[0]) != call.account.name:
        raise StorageFailure(
            501,
            "NotImplemented",
            "funchost's storage endpoint copies only blobs of its own account: "
            f"{text!r} is elsewhere.",
        )
    return unquote(parts[1]), unquote(parts[2])


async def copy_blob(call: Call) -> Reply:
    target = _where(call)
    source = _copy_source(call)
    metadata = call.metadata() or None
    given = conditions(call)
    h = call.headers
    source_conditions = Conditions(
        if_match=h.get("x-ms-source-if-match"),
        if_none_match=h.get("x-ms-source-if-none-match"),
        if_modified_since=_date(call, "x-ms-source-if-modified-since"),
        if_unmodified_since=_date(call, "x-ms-source-if-unmodified-since"),
        lease_id=h.get("x-ms-source-lease-id"),
    )
    try:
        info = await call.store.run(
            lambda db: store.copy(db, source, target, metadata, given, source_conditions)
        )
    except BlobRefused as refused:
        if refused.code == "BlobNotFound":
            raise StorageFailure(
                404, "CannotVerifyCopySource", "The specified blob does not exist."
            ) from None
        raise
    headers = _etag_headers(info.etag, http_date(info.last_modified))
    headers += [("x-ms-copy-id", info.etag.strip('"')), ("x-ms-copy-status", "success")]
    return Reply(202, headers)


async def abort_copy(call: Call) -> Reply:
    raise StorageFailure(
        409, "NoPendingCopyOperation", "There is currently no pending copy operation."
    )


HANDLERS: Mapping[str, Handler] = {
    "List Containers": list_containers,
    "Get Blob Service Properties": service.get_properties,
    "Set Blob Service Properties": service.set_properties,
    "Get Account Information": get_account_information,
    "Create Container": create_container,
    "Delete Container": delete_container,
    "Get Container Properties": get_container_properties,
    "Get Container Metadata": get_container_properties,
    "Set Container Metadata": set_container_metadata,
    "List Blobs": list_blobs,
    "Put Blob": put_blob,
    "Get Blob": get_blob,
    "Get Blob Properties": get_blob_properties,
    "Set Blob Properties": set_blob_properties,
    "Get Blob Metadata": get_blob_metadata,
    "Set Blob Metadata": set_blob_metadata,
    "Delete Blob": delete_blob,
    "Lease Blob": lease_blob,
    "Put Block": put_block,
    "Put Block List": put_block_list,
    "Get Block List": get_block_list,
    "Copy Blob": copy_blob,
    "Copy Blob From URL": copy_blob,
    "Abort Copy Blob": abort_copy,
}
