"""The Blob service of funchost's storage endpoint, driven by the official SDK, beside Azurite.

Every test runs the same SDK calls against funchost's endpoint and against a real Azurite and
asserts the same outcome on both: statuses, error codes, headers and what the SDK returns.
funchost answers every request with its own `x-ms-version`. test_sdk_versions.py runs this module
again with older SDKs and with a future `x-ms-version`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import (
    BlobBlock,
    BlobClient,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    generate_blob_sas,
)

from tests.azurite import ACCOUNT, DEV_KEY, Azurite
from tests.endpoint.conftest import ApiVersions, Endpoint, code


@pytest.fixture(params=["funchost", "azurite"])
def blob_url(request: pytest.FixtureRequest, api_versions: ApiVersions) -> Iterator[str]:
    if request.param == "azurite":
        azurite: Azurite = request.getfixturevalue("azurite")
        yield f"http://127.0.0.1:{azurite.blob_port}/{ACCOUNT}"
    else:
        endpoint: Endpoint = request.getfixturevalue("endpoint")
        yield endpoint.blob_url
    api_versions.check(request.param)


@pytest.fixture
def service(blob_url: str, api_versions: ApiVersions) -> Iterator[BlobServiceClient]:
    client = BlobServiceClient(
        blob_url,
        credential={"account_name": ACCOUNT, "account_key": DEV_KEY},
        **api_versions.client_options,
    )
    yield client
    for container in client.list_containers():
        client.delete_container(container.name)


@pytest.fixture
def photos(service: BlobServiceClient) -> ContainerClient:
    return service.create_container("photos")


def test_containers_are_created_listed_described_and_deleted(service: BlobServiceClient) -> None:
    photos = service.create_container("photos", metadata={"Owner": "me"})
    service.create_container("photos-old")
    service.create_container("videos")
    with pytest.raises(ResourceExistsError) as exists:
        service.create_container("photos")
    assert code(exists.value) == "ContainerAlreadyExists"
    listed = list(service.list_containers(name_starts_with="photos", include_metadata=True))
    assert [(c.name, c.metadata or {}) for c in listed] == [
        ("photos", {"Owner": "me"}),
        ("photos-old", {}),
    ]
    properties = photos.get_container_properties()
    assert properties.metadata == {"Owner": "me"} and properties.etag and properties.last_modified
    photos.set_container_metadata({"Team": "x"})
    assert photos.get_container_properties().metadata == {"Team": "x"}
    assert photos.exists()
    photos.delete_container()
    assert not photos.exists()
    with pytest.raises(ResourceNotFoundError) as gone:
        photos.delete_container()
    assert code(gone.value) == "ContainerNotFound"
    with pytest.raises(HttpResponseError) as bad:
        service.create_container("Bad_Name")
    assert (bad.value.status_code, code(bad.value)) == (400, "InvalidResourceName")


def test_blobs_round_trip_with_their_properties_and_metadata(photos: ContainerClient) -> None:
    blob = photos.get_blob_client("dir/a b+c ü.txt")
    settings = ContentSettings(
        content_type="text/plain", content_language="fr", cache_control="no-cache"
    )
    written = blob.upload_blob(
        b"hello world", metadata={"Kind": "greeting"}, content_settings=settings
    )
    assert written["etag"] and written["last_modified"]
    properties = blob.get_blob_properties()
    assert properties.size == 11 and properties.metadata == {"Kind": "greeting"}
    assert properties.content_settings.content_type == "text/plain"
    assert properties.content_settings.content_language == "fr"
    assert properties.content_settings.cache_control == "no-cache"
    assert properties.content_settings.content_md5  # computed by the service
    assert properties.etag == written["etag"]
    assert blob.download_blob().readall() == b"hello world"
    assert blob.download_blob(offset=6, length=5).readall() == b"world"
    assert blob.download_blob(offset=6).readall() == b"world"

    blob.set_blob_metadata({"Other": "1"})
    assert blob.get_blob_properties().metadata == {"Other": "1"}
    blob.set_http_headers(ContentSettings(content_type="application/json"))
    assert blob.get_blob_properties().content_settings.content_type == "application/json"
    assert blob.get_blob_properties().content_settings.content_language is None

    blob.delete_blob()
    with pytest.raises(ResourceNotFoundError) as gone:
        blob.get_blob_properties()
    assert gone.value.status_code == 404
    with pytest.raises(ResourceNotFoundError) as gone_again:
        blob.download_blob()
    assert code(gone_again.value) == "BlobNotFound"


def test_an_empty_blob_downloads_as_nothing(photos: ContainerClient) -> None:
    blob = photos.get_blob_client("empty")
    blob.upload_blob(b"")
    assert blob.download_blob().readall() == b""
    assert blob.get_blob_properties().size == 0


def test_a_range_past_the_end_is_invalid(photos: ContainerClient, blob_url: str) -> None:
    photos.get_blob_client("small").upload_blob(b"0123456789")
    blob = photos.get_blob_client("small")
    with pytest.raises(HttpResponseError) as caught:
        blob.download_blob(offset=20, length=5).readall()
    assert (caught.value.status_code, code(caught.value)) == (416, "InvalidRange")


def test_listing_walks_prefixes_and_pages(photos: ContainerClient) -> None:
    for name in ["a/1", "a/2", "a/b/3", "b/4", "c", "d"]:
        photos.upload_blob(name, b"x", metadata={"n": name.replace("/", "-")})
    flat = [b.name for b in photos.list_blobs()]
    assert flat == ["a/1", "a/2", "a/b/3", "b/4", "c", "d"]
    top = [b.name for b in photos.walk_blobs()]
    assert top == ["a/", "b/", "c", "d"]
    inside = [b.name for b in photos.walk_blobs(name_starts_with="a/")]
    assert inside == ["a/b/", "a/1", "a/2"]  # the SDK yields a page's prefixes first
    pages = [[b.name for b in page] for page in photos.list_blobs(results_per_page=4).by_page()]
    assert pages == [["a/1", "a/2", "a/b/3", "b/4"], ["c", "d"]]
    with_metadata = list(photos.list_blobs(name_starts_with="c", include=["metadata"]))
    assert [b.metadata for b in with_metadata] == [{"n": "c"}]


def test_staged_blocks_become_the_blob_only_when_committed(photos: ContainerClient) -> None:
    blob = photos.get_blob_client("blocks")
    blob.stage_block("YQ==", b"one-")
    blob.stage_block("Yg==", b"two-")
    with pytest.raises(ResourceNotFoundError):
        blob.download_blob()
    committed, uncommitted = blob.get_block_list("all")
    assert (committed, sorted(b.id for b in uncommitted)) == ([], ["YQ==", "Yg=="])
    blob.commit_block_list([BlobBlock("Yg=="), BlobBlock("YQ==")])
    assert blob.download_blob().readall() == b"two-one-"
    committed, uncommitted = blob.get_block_list("all")
    assert ([(b.id, b.size) for b in committed], uncommitted) == ([("Yg==", 4), ("YQ==", 4)], [])
    with pytest.raises(HttpResponseError) as invalid:
        blob.commit_block_list([BlobBlock("Yw==")])
    assert (invalid.value.status_code, code(invalid.value)) == (400, "InvalidBlockList")


def test_conditional_writes_and_reads(photos: ContainerClient) -> None:
    blob = photos.get_blob_client("cond")
    first = blob.upload_blob(b"v1")
    with pytest.raises(ResourceExistsError) as exists:
        blob.upload_blob(b"v2", overwrite=False)
    assert code(exists.value) == "BlobAlreadyExists"
    with pytest.raises(ResourceModifiedError) as stale:
        blob.upload_blob(
            b"v3",
            overwrite=True,
            etag='"0x8DE0000000000001"',
            match_condition=MatchConditions.IfNotModified,
        )
    assert (stale.value.status_code, code(stale.value)) == (412, "ConditionNotMet")
    second = blob.upload_blob(
        b"v2", overwrite=True, etag=first["etag"], match_condition=MatchConditions.IfNotModified
    )
    assert second["etag"] != first["etag"]
    later = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(ResourceModifiedError):
        blob.set_blob_metadata({"a": "b"}, if_modified_since=later)
    response = httpx.get(
        blob.url + "?" + _read_sas(blob.blob_name), headers={"If-None-Match": second["etag"]}
    )
    assert response.status_code == 304


def _read_sas(name: str) -> str:
    return generate_blob_sas(
        ACCOUNT,
        "photos",
        name,
        account_key=DEV_KEY,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )


def test_leases_guard_writes(photos: ContainerClient) -> None:
    blob = photos.get_blob_client("leased")
    blob.upload_blob(b"x")
    lease = blob.acquire_lease(lease_duration=15)
    assert blob.get_blob_properties().lease.state == "leased"
    with pytest.raises(HttpResponseError) as missing:
        blob.upload_blob(b"y", overwrite=True)
    assert (missing.value.status_code, code(missing.value)) == (412, "LeaseIdMissing")
    blob.upload_blob(b"y", overwrite=True, lease=lease)
    with pytest.raises(ResourceExistsError) as taken:
        blob.acquire_lease(lease_duration=15)
    assert code(taken.value) == "LeaseAlreadyPresent"
    lease.renew()
    new_id = "11111111-2222-3333-4444-555555555555"
    lease.change(new_id)
    assert lease.id == new_id
    lease.release()
    assert blob.get_blob_properties().lease.state == "available"
    lease = blob.acquire_lease(lease_duration=-1)
    assert blob.get_blob_properties().lease.duration == "infinite"
    assert lease.break_lease(lease_break_period=0) == 0
    assert blob.get_blob_properties().lease.state == "broken"
    with pytest.raises(HttpResponseError) as broken:
        blob.upload_blob(b"z", overwrite=True, lease=lease)
    assert code(broken.value) == "LeaseNotPresentWithBlobOperation"
    blob.delete_blob()


def test_copies_within_the_account(photos: ContainerClient) -> None:
    source = photos.get_blob_client("source")
    source.upload_blob(b"payload", metadata={"a": "1"})
    target = photos.get_blob_client("target")
    copy = target.start_copy_from_url(source.url)
    assert copy["copy_status"] == "success"
    assert target.download_blob().readall() == b"payload"
    assert target.get_blob_properties().metadata == {"a": "1"}


def _client(
    photos: ContainerClient, name: str, api_versions: ApiVersions, max_single_put_size: int
) -> BlobClient:
    return BlobClient(
        photos.url.rsplit("/", 1)[0],
        "photos",
        name,
        credential={"account_name": ACCOUNT, "account_key": DEV_KEY},
        max_block_size=4 * 1024 * 1024,
        max_single_put_size=max_single_put_size,
        **api_versions.client_options,
    )


def test_a_large_blob_round_trips_in_blocks(
    photos: ContainerClient, api_versions: ApiVersions
) -> None:
    data = os.urandom(9 * 1024 * 1024 + 17)
    blob = _client(photos, "large", api_versions, max_single_put_size=4 * 1024 * 1024)
    blob.upload_blob(data)
    assert blob.get_blob_properties().size == len(data)
    assert blob.download_blob(max_concurrency=2).readall() == data
    middle = blob.download_blob(offset=4 * 1024 * 1024 - 5, length=10).readall()
    assert middle == data[4 * 1024 * 1024 - 5 : 4 * 1024 * 1024 + 5]


def test_a_single_put_of_several_chunks_round_trips(
    photos: ContainerClient, api_versions: ApiVersions
) -> None:
    data = os.urandom(10 * 1024 * 1024 + 3)
    blob = _client(photos, "single", api_versions, max_single_put_size=64 * 1024 * 1024)
    blob.upload_blob(data)
    assert blob.download_blob().readall() == data


def test_out_of_scope_operations_get_a_readable_error(
    photos: ContainerClient, blob_url: str, endpoint: Endpoint
) -> None:
    if blob_url != endpoint.blob_url:
        return  # Azurite implements these
    with pytest.raises(HttpResponseError) as caught:
        photos.get_blob_client("p").create_page_blob(512)
    assert caught.value.status_code == 501
    assert "funchost" in str(caught.value.message) and "PageBlob" in str(caught.value.message)
