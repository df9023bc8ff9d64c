"""The app's embedded store served as Azure Storage (empty `AzureWebJobsStorage`): the banner
names the endpoint, `FUNCHOST_STORAGE` in the app's processes connects the SDKs to it, SDK
writes start the app's triggers at once, and the ports stay the same across reloads and
workers."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, QueueServiceClient, TextBase64EncodePolicy

from tests.azurite import DEV_KEY
from tests.conftest import StartHost, write_app
from tests.endpoint.conftest import code
from tests.endpoint.devaccount import DevAccount, loopback_address

BANNER = re.compile(
    r"Storage: storage endpoint of the embedded store: blobs (http://127\.0\.0\.1:\d+/devstoreaccount1), "
    r"queues (http://127\.0\.0\.1:\d+/devstoreaccount1) \(connection string in FUNCHOST_STORAGE\)"
)

APP = """
import logging
import os
import time

import azure.functions as func
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def connection() -> str:
    return os.environ["FUNCHOST_STORAGE"]


@app.route(route="send")
def send(req: func.HttpRequest) -> func.HttpResponse:
    client = QueueClient.from_connection_string(
        connection(), "jobs", message_encode_policy=TextBase64EncodePolicy()
    )
    client.send_message(req.params["m"])
    return func.HttpResponse(str(os.getpid()))


@app.route(route="read")
def read(req: func.HttpRequest) -> func.HttpResponse:
    service = BlobServiceClient.from_connection_string(connection())
    blob = service.get_blob_client("done", req.params["name"])
    return func.HttpResponse(blob.download_blob().readall())


@app.route(route="where")
def where(req: func.HttpRequest) -> func.HttpResponse:
    service = BlobServiceClient.from_connection_string(connection())
    return func.HttpResponse(service.url)


@app.queue_trigger(arg_name="msg", queue_name="jobs", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="out", path="done/{id}.txt", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage, out: func.Out[str]) -> None:
    logging.info("took %s at %.3f", msg.get_body().decode(), time.time())
    out.set("done: " + msg.get_body().decode())


@app.queue_trigger(arg_name="msg", queue_name="own", connection="FUNCHOST_STORAGE")
@app.queue_output(arg_name="out", queue_name="own-out", connection="FUNCHOST_STORAGE")
def own(msg: func.QueueMessage, out: func.Out[str]) -> None:
    out.set("own: " + msg.get_body().decode())
"""

SETTINGS = '{"IsEncrypted": false, "Values": {"AzureWebJobsStorage": "", "FUNCTIONS_WORKER_RUNTIME": "python"}}'


def make_app(root: Path, settings: str = SETTINGS) -> Path:
    return write_app(root, {"function_app.py": APP, "local.settings.json": settings})


def endpoint_urls(output: str) -> tuple[str, str]:
    found = BANNER.findall(output)
    assert found, f"no storage endpoint in the banner:\n{output}"
    return found[-1]


def connection_string(blob_url: str, queue_url: str, key: str = DEV_KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};"
        f"BlobEndpoint={blob_url};QueueEndpoint={queue_url};"
    )


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_start_serves_the_embedded_store_to_sdk_clients(
    tmp_path: Path, start_host: StartHost
) -> None:
    host = start_host(make_app(tmp_path / "app"), "--no-reload")
    blob_url, queue_url = endpoint_urls(host.wait_for_output("FUNCHOST_STORAGE"))
    # The app's own clients reach it through FUNCHOST_STORAGE ...
    assert host.client.get("/api/where").text.rstrip("/") == blob_url
    assert host.client.get("/api/send", params={"m": "from-app"}).status_code == 200
    host.wait_for_output("took from-app")
    # ... and so does any other process, with the development account's key under `start`.
    conn = connection_string(blob_url, queue_url)
    service = BlobServiceClient.from_connection_string(conn)
    container = service.get_container_client("done")

    def written() -> bool:
        try:
            return any(b.name.endswith(".txt") for b in container.list_blobs())
        except ResourceNotFoundError:
            return False  # the output has not created its container yet

    wait_for(written)
    name = next(b.name for b in container.list_blobs())
    assert container.download_blob(name).readall() == b"done: from-app"
    assert host.client.get("/api/read", params={"name": name}).text == "done: from-app"
    # A message an outside client sends starts the trigger without waiting for a poll, even
    # after the listener has been idle long enough to back off.
    queue = QueueClient.from_connection_string(
        conn, "jobs", message_encode_policy=TextBase64EncodePolicy()
    )
    time.sleep(4)
    sent = time.time()
    queue.send_message("outside")
    out = host.wait_for_output("took outside", timeout=10)
    took = float(re.search(r"took outside at ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    assert took - sent < 1.0, f"the trigger started {took - sent:.2f} s after the send"
    # A binding on FUNCHOST_STORAGE is the embedded store itself.
    QueueClient.from_connection_string(
        conn, "own", message_encode_policy=TextBase64EncodePolicy()
    ).send_message("x")
    own_out = QueueClient.from_connection_string(conn, "own-out")

    def forwarded() -> bool:
        try:
            return own_out.get_queue_properties().approximate_message_count > 0
        except ResourceNotFoundError:
            return False  # the output has not created its queue yet

    wait_for(forwarded)
    assert base64.b64decode(own_out.receive_message().content) == b"own: x"  # type: ignore[union-attr]


def test_ports_stay_the_same_across_reloads(tmp_path: Path, start_host: StartHost) -> None:
    app = make_app(tmp_path / "app")
    host = start_host(app)
    first = endpoint_urls(host.wait_for_output("FUNCHOST_STORAGE"))
    conn = connection_string(*first)
    QueueClient.from_connection_string(conn, "kept").create_queue()
    (app / "function_app.py").write_text(APP + "\n# edited\n")
    deadline = time.monotonic() + 20
    while len(BANNER.findall(host.output())) < 2:
        assert time.monotonic() < deadline, host.output()
        time.sleep(0.1)
    assert BANNER.findall(host.output())[-1] == first
    host.wait_until_ready()
    service = BlobServiceClient.from_connection_string(conn)
    assert service.get_service_properties() is not None
    queues = QueueServiceClient.from_connection_string(conn).list_queues()
    assert "kept" in [q.name for q in queues]


def test_serve_uses_a_random_key_and_one_port_for_every_worker(
    tmp_path: Path, start_host: StartHost
) -> None:
    host = start_host(make_app(tmp_path / "app"), "--workers", "2", command="serve")
    blob_url, queue_url = endpoint_urls(host.wait_for_output("FUNCHOST_STORAGE"))
    # Not the published development key: only the app's processes hold the key.
    service = BlobServiceClient.from_connection_string(connection_string(blob_url, queue_url))
    with pytest.raises(ClientAuthenticationError) as failure:
        service.create_container("nope")
    assert code(failure.value) == "AuthenticationFailed"
    # Both workers use the same endpoint (the second may still be starting at first).
    pids: set[str] = set()
    sent = 0
    deadline = time.monotonic() + 20
    while len(pids) < 2:
        assert time.monotonic() < deadline, "the requests did not reach both workers"
        # A connection of its own each time: the supervisor hands connections to workers.
        answer = httpx.get(f"{host.base_url}/api/send", params={"m": f"m{sent}"})
        assert answer.status_code == 200
        pids.add(answer.text)
        sent += 1
    for _ in range(4):
        assert httpx.get(f"{host.base_url}/api/where").text.rstrip("/") == blob_url
    for i in range(sent):
        host.wait_for_output(f"took m{i} ")


@pytest.mark.parametrize("account", ["turned-off", "development-account"])
def test_no_endpoint_unless_the_app_uses_its_embedded_store(
    tmp_path: Path, start_host: StartHost, host_env: dict[str, str], account: str
) -> None:
    import json

    # The development account on a loopback address of its own; the endpoint the host starts
    # for it (at start) is stopped by its PID at the end.
    dev = DevAccount(
        loopback_address(), Path(host_env["XDG_DATA_HOME"]) / "funchost" / "devstorage"
    )
    values = (
        {"AzureWebJobsStorage": "", "FUNCHOST_STORAGE_ENDPOINT": "false"}
        if account == "turned-off"
        else {"AzureWebJobsStorage": dev.setting}
    )
    settings = json.dumps({"IsEncrypted": False, "Values": values})
    app = write_app(
        tmp_path / "app",
        {
            "function_app.py": (
                "import os\nimport azure.functions as func\n"
                "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
                "@app.route(route='env')\n"
                "def env(req: func.HttpRequest) -> func.HttpResponse:\n"
                "    return func.HttpResponse(str('FUNCHOST_STORAGE' in os.environ))\n"
            ),
            "local.settings.json": settings,
        },
    )
    try:
        host = start_host(app, "--no-reload")
        host.wait_for_output("env:")
        assert host.client.get("/api/env").text == "False"
        assert "storage endpoint of the embedded store" not in host.output()
        host.stop()
    finally:
        dev.stop_endpoint()


def test_the_endpoint_answers_with_the_embedded_store_header(
    tmp_path: Path, start_host: StartHost
) -> None:
    host = start_host(make_app(tmp_path / "app"), "--no-reload")
    blob_url, _ = endpoint_urls(host.wait_for_output("FUNCHOST_STORAGE"))
    answer = httpx.get(f"{blob_url}?comp=list")
    assert answer.status_code == 401, answer.text  # unsigned, as Azure answers it
    assert answer.headers["x-ms-error-code"] == "NoAuthenticationInformation"
    assert answer.headers["x-funchost-store"] == str((tmp_path / "state" / "storage.db").resolve())
