"""The Queue service of funchost's storage endpoint, driven by the official SDK, beside Azurite.

Every test runs the same SDK calls against funchost's endpoint and against a real Azurite, and
asserts the same outcome on both: statuses, error codes and what the SDK returns. funchost
answers every request with its own `x-ms-version`. test_sdk_versions.py runs this module again
with older SDKs and with a future `x-ms-version`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.queue import (
    AccountSasPermissions,
    QueueClient,
    QueueSasPermissions,
    QueueServiceClient,
    ResourceTypes,
    generate_account_sas,
    generate_queue_sas,
)

from tests.azurite import ACCOUNT, DEV_KEY, Azurite
from tests.endpoint.conftest import ApiVersions, Endpoint, code

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(params=["funchost", "azurite"])
def queue_url(request: pytest.FixtureRequest, api_versions: ApiVersions) -> Iterator[str]:
    if request.param == "azurite":
        azurite: Azurite = request.getfixturevalue("azurite")
        yield f"http://127.0.0.1:{azurite.queue_port}/{ACCOUNT}"
    else:
        endpoint: Endpoint = request.getfixturevalue("endpoint")
        yield endpoint.queue_url
    api_versions.check(request.param)


@pytest.fixture
def service(queue_url: str, api_versions: ApiVersions) -> Iterator[QueueServiceClient]:
    client = QueueServiceClient(
        queue_url,
        credential={"account_name": ACCOUNT, "account_key": DEV_KEY},
        **api_versions.client_options,
    )
    yield client
    for queue in client.list_queues():
        client.delete_queue(queue.name)


def test_queues_are_created_listed_described_and_deleted(
    service: QueueServiceClient, queue_url: str, endpoint: Endpoint
) -> None:
    orders = service.create_queue("orders", metadata={"Owner": "shop"})
    service.create_queue("orders-archive")
    service.create_queue("invoices")
    # The same metadata again is 204, other metadata 409: the SDK raises on both.
    for metadata in ({"Owner": "shop"}, {"Owner": "other"}):
        with pytest.raises(ResourceExistsError) as caught:
            orders.create_queue(metadata=metadata)
        assert caught.value.status_code == (204 if metadata["Owner"] == "shop" else 409)

    listed = list(service.list_queues(name_starts_with="orders", include_metadata=True))
    assert [(q.name, q.metadata) for q in listed] == [
        ("orders", {"Owner": "shop"}),
        ("orders-archive", {}),
    ]
    pages = service.list_queues(results_per_page=2).by_page()
    names = [[q.name for q in page] for page in pages]
    if queue_url == endpoint.queue_url:
        # Azurite 3 repeats the first queue on a second page; Azure pages as documented.
        assert names == [["invoices", "orders"], ["orders-archive"]]

    orders.send_message("one")
    orders.send_message("two")
    properties = orders.get_queue_properties()
    assert (properties.metadata, properties.approximate_message_count) == ({"Owner": "shop"}, 2)
    orders.set_queue_metadata({"Team": "b"})
    assert orders.get_queue_properties().metadata == {"Team": "b"}

    orders.delete_queue()
    with pytest.raises(ResourceNotFoundError) as missing:
        orders.get_queue_properties()
    assert code(missing.value) == "QueueNotFound"
    with pytest.raises(ResourceNotFoundError):
        orders.delete_queue()


def test_messages_are_sent_received_peeked_updated_and_deleted(service: QueueServiceClient) -> None:
    queue = service.create_queue("work")
    sent = queue.send_message("first", time_to_live=3600)
    assert sent.pop_receipt and sent.expires_on and sent.inserted_on
    assert sent.expires_on > sent.inserted_on
    queue.send_message("hidden", visibility_timeout=60)
    queue.send_message("forever", time_to_live=-1)

    peeked = queue.peek_messages(max_messages=32)
    assert [m.content for m in peeked] == ["first", "forever"]
    assert peeked[0].dequeue_count == 0
    assert peeked[1].expires_on is not None and peeked[1].expires_on.year == 9999

    got = list(queue.receive_messages(messages_per_page=32, visibility_timeout=30))
    assert [(m.content, m.dequeue_count) for m in got] == [("first", 1), ("forever", 1)]
    assert queue.peek_messages() == []

    first = got[0]
    updated = queue.update_message(
        first, pop_receipt=first.pop_receipt, content="changed", visibility_timeout=0
    )
    with pytest.raises(HttpResponseError) as stale:
        queue.delete_message(first.id, first.pop_receipt)
    assert (stale.value.status_code, code(stale.value)) == (400, "PopReceiptMismatch")
    again = queue.receive_message()
    assert again is not None and (again.content, again.dequeue_count) == ("changed", 2)
    assert updated.pop_receipt != first.pop_receipt
    queue.delete_message(again.id, again.pop_receipt)
    with pytest.raises(ResourceNotFoundError) as gone:
        queue.delete_message(again.id, again.pop_receipt)
    assert code(gone.value) == "MessageNotFound"

    queue.clear_messages()
    assert queue.get_queue_properties().approximate_message_count == 0


def test_a_message_sent_with_its_pop_receipt_can_be_deleted(service: QueueServiceClient) -> None:
    queue = service.create_queue("receipts")
    sent = queue.send_message("x")
    queue.delete_message(sent.id, sent.pop_receipt)
    assert queue.peek_messages() == []


def test_bad_parameters_get_azures_errors(service: QueueServiceClient) -> None:
    queue = service.create_queue("params")
    with pytest.raises(HttpResponseError) as many:
        queue.receive_messages(max_messages=33, messages_per_page=33).next()
    assert (many.value.status_code, code(many.value)) == (400, "OutOfRangeQueryParameterValue")
    with pytest.raises(HttpResponseError) as long_visibility:
        queue.send_message("x", visibility_timeout=8 * 24 * 3600)
    assert code(long_visibility.value) == "OutOfRangeQueryParameterValue"
    with pytest.raises(HttpResponseError) as too_large:
        queue.send_message("x" * (64 * 1024 + 1))
    assert too_large.value.status_code in (400, 413)
    with pytest.raises(ResourceNotFoundError) as no_queue:
        service.get_queue_client("nothere").send_message("x")
    assert code(no_queue.value) == "QueueNotFound"
    for bad in ("Bad_Name", "ab", "a--b", "-ab"):
        with pytest.raises(HttpResponseError) as invalid:
            service.create_queue(bad)
        assert invalid.value.status_code == 400
        assert code(invalid.value) in ("InvalidResourceName", "OutOfRangeInput")


def test_the_largest_message_is_accepted_and_read_back(service: QueueServiceClient) -> None:
    queue = service.create_queue("large")
    text = base64.b64encode(b"\x01" * (48 * 1024)).decode()  # 64 KiB of base64
    assert len(text) == 64 * 1024
    queue.send_message(text)
    got = queue.receive_message()
    assert got is not None and got.content == text


def test_sas_tokens_grant_what_they_name(
    queue_url: str, service: QueueServiceClient, api_versions: ApiVersions
) -> None:
    service.create_queue("guarded")
    expiry = datetime.now(UTC) + timedelta(hours=1)
    add_only = generate_queue_sas(
        ACCOUNT, "guarded", DEV_KEY, permission=QueueSasPermissions(add=True), expiry=expiry
    )
    writer = QueueClient(queue_url, "guarded", credential=add_only, **api_versions.client_options)
    writer.send_message("via sas")
    with pytest.raises(HttpResponseError) as denied:
        writer.receive_message()
    assert (denied.value.status_code, code(denied.value)) == (
        403,
        "AuthorizationPermissionMismatch",
    )
    account_sas = generate_account_sas(
        ACCOUNT,
        DEV_KEY,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, list=True, process=True),
        expiry=expiry,
    )
    reader = QueueServiceClient(queue_url, credential=account_sas, **api_versions.client_options)
    assert [q.name for q in reader.list_queues()] == ["guarded"]
    got = reader.get_queue_client("guarded").receive_message()
    assert got is not None and got.content == "via sas"


def test_a_wrong_key_fails_authentication(queue_url: str, api_versions: ApiVersions) -> None:
    wrong = base64.b64encode(b"not the key").decode()
    client = QueueServiceClient(
        queue_url,
        credential={"account_name": ACCOUNT, "account_key": wrong},
        **api_versions.client_options,
    )
    with pytest.raises(ClientAuthenticationError) as caught:
        list(client.list_queues())
    assert caught.value.status_code == 403


def test_service_properties_are_kept_section_by_section(service: QueueServiceClient) -> None:
    from azure.storage.queue import CorsRule, Metrics, RetentionPolicy

    before = service.get_service_properties()
    assert before["hour_metrics"].enabled is False
    rule = CorsRule(["https://example.com"], ["GET", "PUT"], max_age_in_seconds=60)
    service.set_service_properties(cors=[rule])
    metrics = Metrics(enabled=True, include_apis=True, retention_policy=RetentionPolicy(True, 5))
    service.set_service_properties(hour_metrics=metrics)
    after = service.get_service_properties()
    assert [r.allowed_origins for r in after["cors"]] == ["https://example.com"]
    assert after["hour_metrics"].enabled is True
    assert after["hour_metrics"].retention_policy.days == 5
    service.set_service_properties(cors=[], hour_metrics=before["hour_metrics"])
