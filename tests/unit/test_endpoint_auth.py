"""The storage endpoint's SharedKey and SAS checks, against what the official SDKs send.

The SDKs are the oracle: each test captures a request an SDK client signs (a transport that
records the request instead of sending it) or a SAS an SDK generates, and checks that the
endpoint accepts exactly what Azure accepts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from azure.core.pipeline.transport import HttpRequest
from azure.storage.blob import (
    AccountSasPermissions,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerSasPermissions,
    ResourceTypes,
    generate_account_sas,
    generate_blob_sas,
    generate_container_sas,
)
from azure.storage.blob._shared.authentication import _storage_header_sort
from azure.storage.queue import QueueSasPermissions, QueueServiceClient, generate_queue_sas

from funchost.endpoint.auth import (
    DEVELOPMENT_ACCOUNT,
    DEVELOPMENT_KEY,
    Access,
    Account,
    SignedRequest,
    authorize,
    header_order,
    query_pairs,
    sign,
)
from funchost.endpoint.errors import StorageFailure
from tests.sdk_capture import CapturingTransport, capture

ACCOUNT = DEVELOPMENT_ACCOUNT.name
BLOB_URL = f"http://127.0.0.1:10000/{ACCOUNT}"
QUEUE_URL = f"http://127.0.0.1:10001/{ACCOUNT}"
NOW = datetime.now(UTC)

READ_BLOB = Access("b", "o", "r", "r")
WRITE_BLOB = Access("b", "o", "wc", "wc")
LIST_BLOBS = Access("b", "c", "l", "l")
CREATE_CONTAINER = Access("b", "c", "wc")
PUT_MESSAGE = Access("q", "o", "a", "a")
GET_MESSAGES = Access("q", "o", "p", "p")


def as_signed(
    request: HttpRequest, container: str | None = None, blob: str | None = None
) -> SignedRequest:
    url = urlsplit(request.url)
    return SignedRequest(
        method=request.method,
        raw_path=url.path,
        query=query_pairs(url.query),
        headers={k.lower(): v for k, v in request.headers.items()},
        scheme=url.scheme,
        client_ip="127.0.0.1",
        container=container,
        blob=blob,
    )


def with_sas(
    path: str, sas: str, container: str | None, blob: str | None = None, method: str = "GET"
) -> SignedRequest:
    return SignedRequest(
        method=method,
        raw_path=path,
        query=query_pairs(sas),
        headers={"x-ms-version": "2026-04-06"},
        scheme="http",
        client_ip="127.0.0.1",
        container=container,
        blob=blob,
    )


def refused(
    request: SignedRequest, access: Access, account: Account = DEVELOPMENT_ACCOUNT
) -> StorageFailure:
    with pytest.raises(StorageFailure) as caught:
        authorize(request, access, account, NOW)
    return caught.value


@pytest.fixture
def blobs() -> Iterator[BlobServiceClient]:
    client = BlobServiceClient(
        BLOB_URL,
        credential={"account_name": ACCOUNT, "account_key": DEVELOPMENT_KEY},
        transport=CapturingTransport(),
    )
    yield client


@pytest.fixture
def queues() -> Iterator[QueueServiceClient]:
    client = QueueServiceClient(
        QUEUE_URL,
        credential={"account_name": ACCOUNT, "account_key": DEVELOPMENT_KEY},
        transport=CapturingTransport(),
    )
    yield client


# -- SharedKey


def test_shared_key_requests_of_the_blob_sdk_are_accepted(blobs: BlobServiceClient) -> None:
    container = blobs.get_container_client("photos")
    blob = container.get_blob_client("2026/12/a b+c ü.txt")
    cases = [
        (
            capture(lambda: container.create_container(metadata={"Owner": "me"})),
            CREATE_CONTAINER,
            None,
        ),
        (
            capture(
                lambda: blob.upload_blob(b"hello", overwrite=False, metadata={"k": "v"}, timeout=7)
            ),
            WRITE_BLOB,
            "2026/12/a b+c ü.txt",
        ),
        (capture(lambda: blob.download_blob(offset=1, length=3)), READ_BLOB, "2026/12/a b+c ü.txt"),
        (
            capture(
                lambda: list(container.list_blobs(name_starts_with="2026/", include=["metadata"]))
            ),
            LIST_BLOBS,
            None,
        ),
    ]
    for request, access, name in cases:
        authorize(as_signed(request, "photos", name), access, DEVELOPMENT_ACCOUNT, NOW)


def test_shared_key_requests_of_the_queue_sdk_are_accepted(queues: QueueServiceClient) -> None:
    queue = queues.get_queue_client("orders")
    for call, access in [
        (lambda: queue.send_message("hi", visibility_timeout=5, time_to_live=60), PUT_MESSAGE),
        (
            lambda: list(queue.receive_messages(messages_per_page=32, visibility_timeout=30)),
            GET_MESSAGES,
        ),
    ]:
        authorize(as_signed(capture(call), "orders"), access, DEVELOPMENT_ACCOUNT, NOW)


def test_a_changed_header_path_or_key_fails_authentication(blobs: BlobServiceClient) -> None:
    blob = blobs.get_blob_client("photos", "a.txt")
    request = as_signed(
        capture(lambda: blob.upload_blob(b"x", metadata={"k": "v"})), "photos", "a.txt"
    )
    authorize(request, WRITE_BLOB, DEVELOPMENT_ACCOUNT, NOW)

    changed = dict(request.headers, **{"x-ms-meta-k": "w"})
    failure = refused(SignedRequest(**{**request.__dict__, "headers": changed}), WRITE_BLOB)
    assert (failure.status, failure.code) == (403, "AuthenticationFailed")
    assert (
        "is not the same as any computed signature" in failure.detail["AuthenticationErrorDetail"]
    )

    moved = SignedRequest(**{**request.__dict__, "raw_path": f"/{ACCOUNT}/photos/b.txt"})
    assert refused(moved, WRITE_BLOB).code == "AuthenticationFailed"

    other_key = Account(ACCOUNT, b"not the key")
    assert refused(request, WRITE_BLOB, other_key).code == "AuthenticationFailed"


def test_the_signature_is_checked_with_the_request_as_sent(blobs: BlobServiceClient) -> None:
    blob = blobs.get_blob_client("photos", "a.txt")
    request = as_signed(capture(lambda: blob.upload_blob(b"x")), "photos", "a.txt")
    authorize(request, WRITE_BLOB, DEVELOPMENT_ACCOUNT, NOW)


def test_a_request_without_credentials_is_refused(blobs: BlobServiceClient) -> None:
    request = with_sas(f"/{ACCOUNT}/photos/a.txt", "", "photos", "a.txt")
    failure = refused(request, READ_BLOB)
    assert (failure.status, failure.code) == (401, "NoAuthenticationInformation")


def test_other_authorization_schemes_are_refused_by_name() -> None:
    request = SignedRequest(
        "GET", f"/{ACCOUNT}/q", [], {"authorization": "Bearer abc"}, "http", None, "q"
    )
    failure = refused(request, GET_MESSAGES)
    assert failure.code == "AuthenticationFailed"
    assert "Bearer" in failure.detail["AuthenticationErrorDetail"]


def test_header_order_is_the_sdk_collation() -> None:
    names = [
        "x-ms-blob-type",
        "x-ms-blob-content-type",
        "x-ms-blobcontent",
        "x-ms-date",
        "x-ms-version",
        "x-ms-meta-a",
        "x-ms-meta-a_b",
        "x-ms-meta-ab",
        "x-ms-meta-a-b",
        "x-ms-meta-a1",
        "x-ms-meta-A2",
        "x-ms-meta-b",
        "x-ms-client-request-id",
        "x-ms-meta-z~",
        "x-ms-meta-z+",
        "x-ms-meta-z.",
        "x-ms-meta-z'",
        "x-ms-range",
        "x-ms-meta-9",
    ]
    rng = random.Random(7)
    alphabet = "abcz019-_.~+'"
    for _ in range(300):
        sample = rng.sample(names, 6) + [
            "x-ms-meta-" + "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 5)))
            for _ in range(4)
        ]
        sample = list(dict.fromkeys(sample))
        expected = [n for n, _ in _storage_header_sort([(n, "") for n in sample])]
        assert sorted(sample, key=header_order) == expected


# -- account SAS


def account_sas(permission: str, services: str = "b", types: str = "sco", **kwargs: Any) -> str:
    return generate_account_sas(
        ACCOUNT,
        DEVELOPMENT_KEY,
        resource_types=ResourceTypes.from_string(types),  # type: ignore[no-untyped-call]
        permission=AccountSasPermissions.from_string(permission),  # type: ignore[no-untyped-call]
        expiry=kwargs.pop("expiry", NOW + timedelta(hours=1)),
        services=services,
        **kwargs,
    )


def test_an_account_sas_allows_what_it_grants() -> None:
    sas = account_sas("rl")
    authorize(with_sas(f"/{ACCOUNT}/c/b", sas, "c", "b"), READ_BLOB, DEVELOPMENT_ACCOUNT, NOW)
    authorize(with_sas(f"/{ACCOUNT}/c", sas, "c"), LIST_BLOBS, DEVELOPMENT_ACCOUNT, NOW)
    failure = refused(with_sas(f"/{ACCOUNT}/c/b", sas, "c", "b", "PUT"), WRITE_BLOB)
    assert (failure.status, failure.code) == (403, "AuthorizationPermissionMismatch")


def test_an_account_sas_is_limited_to_its_services_and_resource_types() -> None:
    blob_only = account_sas("rwdlacup", services="b")
    assert refused(with_sas(f"/{ACCOUNT}/q", blob_only, "q"), PUT_MESSAGE).code == (
        "AuthorizationServiceMismatch"
    )
    objects_only = account_sas("rwdlacup", types="o")
    assert refused(with_sas(f"/{ACCOUNT}/c", objects_only, "c"), LIST_BLOBS).code == (
        "AuthorizationResourceTypeMismatch"
    )
    queue_sas = account_sas("ap", services="q", types="o")
    authorize(
        with_sas(f"/{ACCOUNT}/q/messages", queue_sas, "q"), PUT_MESSAGE, DEVELOPMENT_ACCOUNT, NOW
    )


def test_an_expired_or_not_yet_valid_sas_fails_authentication() -> None:
    expired = account_sas("r", expiry=NOW - timedelta(minutes=1))
    failure = refused(with_sas(f"/{ACCOUNT}/c/b", expired, "c", "b"), READ_BLOB)
    assert (failure.status, failure.code) == (403, "AuthenticationFailed")
    assert (
        "Signature not valid in the specified time frame"
        in failure.detail["AuthenticationErrorDetail"]
    )
    early = account_sas("r", start=NOW + timedelta(minutes=5))
    assert refused(with_sas(f"/{ACCOUNT}/c/b", early, "c", "b"), READ_BLOB).code == (
        "AuthenticationFailed"
    )


def test_a_tampered_sas_fails_authentication() -> None:
    sas = account_sas("r")
    widened = sas.replace("sp=r", "sp=rw")
    assert "sp=rw" in widened
    failure = refused(with_sas(f"/{ACCOUNT}/c/b", widened, "c", "b", "PUT"), WRITE_BLOB)
    assert failure.code == "AuthenticationFailed"
    assert failure.detail["AuthenticationErrorDetail"].startswith("Signature did not match")


def test_an_https_only_sas_is_refused_over_http() -> None:
    sas = account_sas("r", protocol="https")
    failure = refused(with_sas(f"/{ACCOUNT}/c/b", sas, "c", "b"), READ_BLOB)
    assert failure.code == "AuthorizationProtocolMismatch"


def test_a_sas_with_an_ip_range_allows_only_that_range() -> None:
    inside = account_sas("r", ip="127.0.0.0-127.0.0.255")
    authorize(with_sas(f"/{ACCOUNT}/c/b", inside, "c", "b"), READ_BLOB, DEVELOPMENT_ACCOUNT, NOW)
    outside = account_sas("r", ip="10.0.0.1")
    failure = refused(with_sas(f"/{ACCOUNT}/c/b", outside, "c", "b"), READ_BLOB)
    assert failure.code == "AuthorizationSourceIPMismatch"


# -- service SAS


def test_a_blob_sas_allows_its_blob_only() -> None:
    sas = generate_blob_sas(
        ACCOUNT,
        "c",
        "dir/a b.txt",
        account_key=DEVELOPMENT_KEY,
        permission=BlobSasPermissions(read=True),
        expiry=NOW + timedelta(hours=1),
    )
    authorize(
        with_sas(f"/{ACCOUNT}/c/dir/a%20b.txt", sas, "c", "dir/a b.txt"),
        READ_BLOB,
        DEVELOPMENT_ACCOUNT,
        NOW,
    )
    other = refused(with_sas(f"/{ACCOUNT}/c/other.txt", sas, "c", "other.txt"), READ_BLOB)
    assert other.code == "AuthenticationFailed"
    write = refused(
        with_sas(f"/{ACCOUNT}/c/dir/a%20b.txt", sas, "c", "dir/a b.txt", "PUT"), WRITE_BLOB
    )
    assert write.code == "AuthorizationPermissionMismatch"


def test_a_container_sas_covers_its_blobs_but_not_the_container_itself() -> None:
    sas = generate_container_sas(
        ACCOUNT,
        "c",
        account_key=DEVELOPMENT_KEY,
        permission=ContainerSasPermissions(read=True, list=True, write=True),
        expiry=NOW + timedelta(hours=1),
    )
    authorize(with_sas(f"/{ACCOUNT}/c", sas, "c"), LIST_BLOBS, DEVELOPMENT_ACCOUNT, NOW)
    authorize(
        with_sas(f"/{ACCOUNT}/c/x", sas, "c", "x", "PUT"), WRITE_BLOB, DEVELOPMENT_ACCOUNT, NOW
    )
    assert (
        refused(with_sas(f"/{ACCOUNT}/d/x", sas, "d", "x"), READ_BLOB).code
        == "AuthenticationFailed"
    )
    failure = refused(with_sas(f"/{ACCOUNT}/c", sas, "c", method="PUT"), CREATE_CONTAINER)
    assert failure.code == "AuthorizationPermissionMismatch"


def test_a_blob_sas_of_a_future_version_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    import azure.storage.blob._shared_access_signature as signing

    monkeypatch.setattr(signing, "X_MS_VERSION", "2099-01-01")
    sas = generate_blob_sas(
        ACCOUNT,
        "c",
        "b",
        account_key=DEVELOPMENT_KEY,
        permission=BlobSasPermissions(read=True),
        expiry=NOW + timedelta(hours=1),
    )
    assert "sv=2099-01-01" in sas
    authorize(with_sas(f"/{ACCOUNT}/c/b", sas, "c", "b"), READ_BLOB, DEVELOPMENT_ACCOUNT, NOW)


@pytest.mark.parametrize(
    ("version", "fields"),
    [
        # The fields each version signs, from Azure's "Create a service SAS" reference.
        ("2015-04-05", ["sp", "st", "se", "resource", "si", "sip", "spr", "sv", *"12345"]),
        (
            "2019-12-12",
            ["sp", "st", "se", "resource", "si", "sip", "spr", "sv", "sr", "sts", *"12345"],
        ),
    ],
)
def test_a_blob_sas_of_an_older_version_is_checked_by_that_versions_fields(
    version: str, fields: list[str]
) -> None:
    values = {
        "sp": "r",
        "se": (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sv": version,
        "sr": "b",
        "spr": "https,http",
        "resource": f"/blob/{ACCOUNT}/c/b",
    }
    text = "\n".join(values.get(f, "") for f in fields)
    sig = sign(DEVELOPMENT_ACCOUNT.key, text)
    query = {k: v for k, v in values.items() if k != "resource"} | {"sig": sig}
    sas = urlencode(query)
    authorize(with_sas(f"/{ACCOUNT}/c/b", sas, "c", "b"), READ_BLOB, DEVELOPMENT_ACCOUNT, NOW)


def test_a_queue_sas_allows_its_queue_and_permissions() -> None:
    sas = generate_queue_sas(
        ACCOUNT,
        "orders",
        DEVELOPMENT_KEY,
        permission=QueueSasPermissions(add=True),
        expiry=NOW + timedelta(hours=1),
    )
    authorize(
        with_sas(f"/{ACCOUNT}/orders/messages", sas, "orders", method="POST"),
        PUT_MESSAGE,
        DEVELOPMENT_ACCOUNT,
        NOW,
    )
    assert refused(with_sas(f"/{ACCOUNT}/orders/messages", sas, "orders"), GET_MESSAGES).code == (
        "AuthorizationPermissionMismatch"
    )
    assert refused(
        with_sas(f"/{ACCOUNT}/other/messages", sas, "other", method="POST"), PUT_MESSAGE
    ).code == ("AuthenticationFailed")


def test_the_error_body_is_azure_xml_with_request_id_and_time() -> None:
    failure = refused(with_sas(f"/{ACCOUNT}/c/b", "", "c", "b"), READ_BLOB)
    body = failure.body("abc-123", datetime(2026, 12, 7, 18, 0, 1, 250000, tzinfo=UTC)).decode()
    assert body.startswith(
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>NoAuthenticationInformation</Code>'
    )
    assert "\nRequestId:abc-123\nTime:2026-12-07T18:00:01.2500000Z</Message>" in body
