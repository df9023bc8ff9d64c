"""Which operation each request of the official SDKs is, and the scope's edges."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from azure.storage.blob import BlobBlock, BlobServiceClient
from azure.storage.queue import QueueServiceClient

from funchost.endpoint.auth import DEVELOPMENT_ACCOUNT, DEVELOPMENT_KEY, query_pairs
from funchost.endpoint.errors import StorageFailure
from funchost.endpoint.operations import (
    Operation,
    blob_operation,
    blob_target,
    not_supported,
    queue_operation,
    queue_target,
)
from tests.sdk_capture import CapturingTransport, capture

ACCOUNT = DEVELOPMENT_ACCOUNT.name
CREDENTIAL = {"account_name": ACCOUNT, "account_key": DEVELOPMENT_KEY}

blobs = BlobServiceClient(
    f"http://127.0.0.1:10000/{ACCOUNT}", credential=CREDENTIAL, transport=CapturingTransport()
)
queues = QueueServiceClient(
    f"http://127.0.0.1:10001/{ACCOUNT}", credential=CREDENTIAL, transport=CapturingTransport()
)
container = blobs.get_container_client("photos")
blob = container.get_blob_client("dir/a b%2F.txt")
queue = queues.get_queue_client("orders")
LATER = datetime.now(UTC) + timedelta(hours=1)


def blob_op(call: Callable[[], object]) -> Operation:
    request = capture(call)
    url = urlsplit(request.url)
    headers = {k.lower(): v for k, v in request.headers.items()}
    query = dict(reversed(query_pairs(url.query)))
    return blob_operation(request.method, blob_target(url.path), query, headers)


def queue_op(call: Callable[[], object]) -> Operation:
    request = capture(call)
    url = urlsplit(request.url)
    query = dict(reversed(query_pairs(url.query)))
    return queue_operation(request.method, queue_target(url.path), query)


BLOB_CALLS: list[tuple[str, Callable[[], object]]] = [
    ("List Containers", lambda: list(blobs.list_containers(name_starts_with="p"))),
    ("Get Blob Service Properties", lambda: blobs.get_service_properties()),
    ("Set Blob Service Properties", lambda: blobs.set_service_properties(cors=[])),
    ("Get Account Information", lambda: blobs.get_account_information()),
    ("Create Container", lambda: container.create_container()),
    ("Delete Container", lambda: container.delete_container()),
    ("Get Container Properties", lambda: container.get_container_properties()),
    ("Get Container Properties", lambda: container.exists()),
    ("Set Container Metadata", lambda: container.set_container_metadata({"a": "b"})),
    ("List Blobs", lambda: list(container.list_blobs(include=["metadata"]))),
    ("List Blobs", lambda: list(container.walk_blobs(name_starts_with="dir/"))),
    ("Put Blob", lambda: blob.upload_blob(b"x", overwrite=False)),
    ("Put Block", lambda: blob.stage_block("YmxvY2sx", b"x")),
    ("Put Block List", lambda: blob.commit_block_list([BlobBlock("YmxvY2sx")])),
    ("Get Block List", lambda: blob.get_block_list("all")),
    ("Get Blob", lambda: blob.download_blob(offset=0, length=10).readall()),
    ("Get Blob Properties", lambda: blob.get_blob_properties()),
    ("Get Blob Properties", lambda: blob.exists()),
    ("Set Blob Properties", lambda: blob.set_http_headers()),
    ("Set Blob Metadata", lambda: blob.set_blob_metadata({"k": "v"})),
    ("Delete Blob", lambda: blob.delete_blob()),
    ("Lease Blob", lambda: blob.acquire_lease(15)),
    ("Copy Blob", lambda: blob.start_copy_from_url(f"http://127.0.0.1:10000/{ACCOUNT}/c/x")),
    (
        "Copy Blob From URL",
        lambda: blob.start_copy_from_url(
            f"http://127.0.0.1:10000/{ACCOUNT}/c/x", requires_sync=True
        ),
    ),
]


@pytest.mark.parametrize(("name", "call"), BLOB_CALLS, ids=[n for n, _ in BLOB_CALLS])
def test_every_blob_call_in_scope_is_its_operation(name: str, call: Callable[[], object]) -> None:
    operation = blob_op(call)
    assert (operation.name, operation.supported) == (name, True)


QUEUE_CALLS: list[tuple[str, Callable[[], object]]] = [
    ("List Queues", lambda: list(queues.list_queues(name_starts_with="o", include_metadata=True))),
    ("Get Queue Service Properties", lambda: queues.get_service_properties()),
    ("Set Queue Service Properties", lambda: queues.set_service_properties(cors=[])),
    ("Create Queue", lambda: queue.create_queue(metadata={"a": "b"})),
    ("Delete Queue", lambda: queue.delete_queue()),
    ("Get Queue Metadata", lambda: queue.get_queue_properties()),
    ("Set Queue Metadata", lambda: queue.set_queue_metadata({"a": "b"})),
    ("Put Message", lambda: queue.send_message("hi", visibility_timeout=3, time_to_live=60)),
    ("Get Messages", lambda: queue.receive_message(visibility_timeout=30)),
    ("Peek Messages", lambda: queue.peek_messages(max_messages=5)),
    (
        "Update Message",
        lambda: queue.update_message("id1", "pop", content="new", visibility_timeout=0),
    ),
    ("Delete Message", lambda: queue.delete_message("id1", "pop")),
    ("Clear Messages", lambda: queue.clear_messages()),
]


@pytest.mark.parametrize(("name", "call"), QUEUE_CALLS, ids=[n for n, _ in QUEUE_CALLS])
def test_every_queue_call_in_scope_is_its_operation(name: str, call: Callable[[], object]) -> None:
    operation = queue_op(call)
    assert (operation.name, operation.supported) == (name, True)


OUT_OF_SCOPE: list[tuple[str, Callable[[], object]]] = [
    ("Snapshot Blob", lambda: blob.create_snapshot()),
    ("Blob index tags", lambda: blob.set_blob_tags({"a": "b"})),
    ("Set Blob Tier", lambda: blob.set_standard_blob_tier("Cool")),
    ("Blob snapshots and versions", lambda: blob.download_blob(version_id="2026-01-01").readall()),
    ("Container access policies", lambda: container.get_container_access_policy()),
    ("Lease Container", lambda: container.acquire_lease()),
    ("Get Blob Service Stats", lambda: blobs.get_service_stats()),
    ("Blob Batch", lambda: container.delete_blobs("a", "b")),
    ("Get User Delegation Key", lambda: blobs.get_user_delegation_key(LATER, LATER)),
    (
        "PageBlobs (Put Blob with x-ms-blob-type: PageBlob)",
        lambda: container.get_blob_client("p").create_page_blob(512),
    ),
    (
        "AppendBlobs (Put Blob with x-ms-blob-type: AppendBlob)",
        lambda: container.get_blob_client("p").create_append_blob(),
    ),
    ("Append blobs", lambda: container.get_blob_client("p").append_block(b"x")),
]


@pytest.mark.parametrize(("name", "call"), OUT_OF_SCOPE, ids=[n for n, _ in OUT_OF_SCOPE])
def test_blob_calls_out_of_scope_are_named(name: str, call: Callable[[], object]) -> None:
    operation = blob_op(call)
    assert (operation.name, operation.supported) == (name, False)
    failure = not_supported(operation)
    assert failure.status == 501
    assert name in failure.message and "funchost" in failure.message


def test_queue_access_policies_are_out_of_scope() -> None:
    operation = queue_op(lambda: queue.get_queue_access_policy())
    assert (operation.name, operation.supported) == ("Queue access policies", False)


def test_blob_names_are_decoded_whole_after_the_container() -> None:
    target = blob_target(f"/{ACCOUNT}/photos/dir/a%20b%252F.txt")
    assert (target.account, target.container, target.blob) == (ACCOUNT, "photos", "dir/a b%2F.txt")
    assert blob_target(f"/{ACCOUNT}/photos").blob is None
    assert blob_target(f"/{ACCOUNT}/").container is None


def test_a_queue_path_deeper_than_a_message_is_an_invalid_uri() -> None:
    with pytest.raises(StorageFailure) as caught:
        queue_target(f"/{ACCOUNT}/orders/other/x")
    assert (caught.value.status, caught.value.code) == (400, "InvalidUri")
    target = queue_target(f"/{ACCOUNT}/orders/messages/abc")
    assert (target.container, target.messages, target.message_id) == ("orders", True, "abc")
