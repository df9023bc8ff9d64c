"""The Queue service's operations over the embedded store (funchost.storage.sqlite_queues).

Parameters are checked as Azure checks them (ranges of `numofmessages`, `visibilitytimeout`,
`messagettl`, `maxresults`; queue names; the 64 KiB message limit) and answered with Azure's
codes; the XML bodies are Azure's.
"""

from __future__ import annotations

from collections.abc import Mapping

from funchost.endpoint import service, xml
from funchost.endpoint.app import Call, Handler, Reply, http_date
from funchost.endpoint.errors import StorageFailure
from funchost.endpoint.operations import resource_name
from funchost.storage import sqlite_queues as queues
from funchost.storage.base import QueueNotFound, StoredMessage
from funchost.storage.sqlite_queues import QueueCreated

XML = "application/xml"
WEEK = 7 * 24 * 3600
MAX_MESSAGE = 64 * 1024
# An XML body may wrap a 64 KiB message in a little markup; past this it is refused unread.
MAX_BODY = 2 * MAX_MESSAGE


# -- failures


def _query_failure(code: str, message: str, name: str, value: str, **extra: str) -> StorageFailure:
    return StorageFailure(
        400, code, message, {"QueryParameterName": name, "QueryParameterValue": value, **extra}
    )


def _integer(
    call: Call, name: str, default: int | None, low: int, high: int, *, allow: int | None = None
) -> int | None:
    """The integer query parameter `name`, `default` when absent, in [low, high] (or equal to
    `allow`), else Azure's InvalidQueryParameterValue / OutOfRangeQueryParameterValue."""
    text = call.query.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise _query_failure(
            "InvalidQueryParameterValue",
            "Value for one of the query parameters specified in the request URI is invalid.",
            name,
            text,
        ) from None
    if value != allow and not low <= value <= high:
        raise _query_failure(
            "OutOfRangeQueryParameterValue",
            "One of the query parameters specified in the request URI is outside the "
            "permissible range.",
            name,
            text,
            MinimumAllowed=str(low),
            MaximumAllowed=str(high),
        )
    return value


def _required(call: Call, name: str) -> str:
    value = call.query.get(name)
    if not value:
        raise StorageFailure(
            400,
            "MissingRequiredQueryParameter",
            "A query parameter that's mandatory for this request is not specified.",
            {"QueryParameterName": name},
        )
    return value


# -- the service


def _message_xml(message: StoredMessage, *, text: bool, receipt: bool) -> str:
    parts = [
        xml.element("MessageId", message.id),
        xml.element("InsertionTime", http_date(message.insertion_time)),
        xml.element("ExpirationTime", http_date(message.expiration_time)),
    ]
    if receipt:
        parts += [
            xml.element("PopReceipt", message.pop_receipt or ""),
            xml.element("TimeNextVisible", http_date(message.next_visible_time)),
        ]
    if text:
        parts += [
            xml.element("DequeueCount", str(message.dequeue_count)),
            xml.element("MessageText", message.content),
        ]
    return xml.element("QueueMessage", parts)


def _messages_reply(
    status: int, messages: list[StoredMessage], *, text: bool, receipt: bool
) -> Reply:
    body = xml.element(
        "QueueMessagesList", [_message_xml(m, text=text, receipt=receipt) for m in messages]
    )
    return Reply(status, body=xml.document(body), content_type=XML)


async def list_queues(call: Call) -> Reply:
    prefix = call.query.get("prefix", "")
    marker = call.query.get("marker", "")
    limit = _integer(call, "maxresults", 5000, 1, 5000)
    assert limit is not None
    found, next_marker = await call.store.run(lambda db: queues.page(db, prefix, marker, limit))
    with_metadata = "metadata" in call.query.get("include", "").split(",")
    entries = [
        xml.element(
            "Queue",
            [xml.element("Name", name)]
            + ([xml.metadata_element(metadata)] if with_metadata else []),
        )
        for name, metadata in found
    ]
    parts = [xml.element("Prefix", prefix)] if prefix else []
    if marker:
        parts.append(xml.element("Marker", marker))
    if "maxresults" in call.query:
        parts.append(xml.element("MaxResults", str(limit)))
    parts += [xml.element("Queues", entries), xml.element("NextMarker", next_marker)]
    body = xml.element("EnumerationResults", parts, {"ServiceEndpoint": call.base_url + "/"})
    return Reply(200, body=xml.document(body), content_type=XML)


async def create_queue(call: Call) -> Reply:
    name = resource_name(call.target.container)
    metadata = call.metadata()
    outcome = await call.store.run(lambda db: queues.create(db, name, metadata))
    if outcome is QueueCreated.CONFLICT:
        raise StorageFailure(409, "QueueAlreadyExists", "The specified queue already exists.")
    return Reply(201 if outcome is QueueCreated.CREATED else 204)


async def delete_queue(call: Call) -> Reply:
    name = call.target.container or ""
    if not await call.store.run(lambda db: queues.delete(db, name)):
        raise QueueNotFound(name)
    return Reply(204)


async def get_queue_metadata(call: Call) -> Reply:
    name = call.target.container or ""
    metadata, count = await call.store.run(lambda db: queues.properties(db, name))
    headers = [("x-ms-approximate-messages-count", str(count))]
    headers += [(f"x-ms-meta-{k}", v) for k, v in metadata.items()]
    return Reply(200, headers)


async def set_queue_metadata(call: Call) -> Reply:
    name = call.target.container or ""
    metadata = call.metadata()
    await call.store.run(lambda db: queues.set_metadata(db, name, metadata))
    return Reply(204)


async def _message_text(call: Call, required: bool) -> str | None:
    body = await call.body(MAX_BODY, MAX_MESSAGE)
    if not body.strip() and not required:
        return None
    root = xml.parse(body)
    text = xml.child_text(root, "MessageText") if root.tag == "QueueMessage" else None
    if text is None:
        if not required:
            return None
        raise xml.invalid_xml("The body must be a QueueMessage with a MessageText.")
    if len(text.encode("utf-8")) > MAX_MESSAGE:
        raise StorageFailure(
            400, "MessageTooLarge", "The message exceeds the maximum allowed size."
        )
    return text


async def put_message(call: Call) -> Reply:
    name = call.target.container or ""
    ttl = _integer(call, "messagettl", WEEK, 1, 2**31 - 1, allow=-1)
    assert ttl is not None
    delay = _integer(call, "visibilitytimeout", 0, 0, WEEK)
    assert delay is not None
    if ttl != -1 and delay >= ttl:
        raise _query_failure(
            "OutOfRangeQueryParameterValue",
            "One of the query parameters specified in the request URI is outside the "
            "permissible range.",
            "visibilitytimeout",
            str(delay),
            MinimumAllowed="0",
            MaximumAllowed=str(ttl - 1),
        )
    text = await _message_text(call, required=True)
    assert text is not None
    message = await call.store.run(
        lambda db: queues.send(db, name, text, delay, None if ttl == -1 else ttl)
    )
    return _messages_reply(201, [message], text=False, receipt=True)


async def get_messages(call: Call) -> Reply:
    name = call.target.container or ""
    count = _integer(call, "numofmessages", 1, 1, 32)
    visibility = _integer(call, "visibilitytimeout", 30, 1, WEEK)
    assert count is not None and visibility is not None
    messages = await call.store.run(lambda db: queues.receive(db, name, count, visibility))
    return _messages_reply(200, messages, text=True, receipt=True)


async def peek_messages(call: Call) -> Reply:
    name = call.target.container or ""
    count = _integer(call, "numofmessages", 1, 1, 32)
    assert count is not None
    messages = await call.store.run(lambda db: queues.peek(db, name, count))
    return _messages_reply(200, messages, text=True, receipt=False)


async def update_message(call: Call) -> Reply:
    name = call.target.container or ""
    message_id = call.target.message_id or ""
    receipt = _required(call, "popreceipt")
    _required(call, "visibilitytimeout")
    visibility = _integer(call, "visibilitytimeout", 0, 0, WEEK)
    assert visibility is not None
    text = await _message_text(call, required=False)
    message = await call.store.run(
        lambda db: queues.update(db, name, message_id, receipt, visibility, text)
    )
    return Reply(
        204,
        [
            ("x-ms-popreceipt", message.pop_receipt or ""),
            ("x-ms-time-next-visible", http_date(message.next_visible_time)),
        ],
    )


async def delete_message(call: Call) -> Reply:
    name = call.target.container or ""
    message_id = call.target.message_id or ""
    receipt = _required(call, "popreceipt")
    await call.store.run(lambda db: queues.delete_message(db, name, message_id, receipt))
    return Reply(204)


async def clear_messages(call: Call) -> Reply:
    name = call.target.container or ""
    await call.store.run(lambda db: queues.clear(db, name))
    return Reply(204)


HANDLERS: Mapping[str, Handler] = {
    "Get Queue Service Properties": service.get_properties,
    "Set Queue Service Properties": service.set_properties,
    "List Queues": list_queues,
    "Create Queue": create_queue,
    "Delete Queue": delete_queue,
    "Get Queue Metadata": get_queue_metadata,
    "Set Queue Metadata": set_queue_metadata,
    "Put Message": put_message,
    "Get Messages": get_messages,
    "Peek Messages": peek_messages,
    "Update Message": update_message,
    "Delete Message": delete_message,
    "Clear Messages": clear_messages,
}
