"""`UseDevelopmentStorage=true` with no Azurite: funchost serves the development account itself,
shared by every app and outliving the one that started it (tests/endpoint/devaccount.py: each
test on a 127.0.0.N of its own, the endpoint stopped by its PID).
"""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from funchost.endpoint import development
from tests.azurite import Azurite
from tests.conftest import StartHost, write_app
from tests.endpoint.devaccount import DevAccount, loopback_address
from tests.stores import eventually

APP = {
    "function_app.py": (
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        "@app.queue_trigger(arg_name='msg', queue_name='orders', connection='AzureWebJobsStorage')\n"
        "@app.blob_output(arg_name='out', path='receipts/{id}.txt', connection='AzureWebJobsStorage')\n"
        "def receipt(msg: func.QueueMessage, out: func.Out[str]) -> None:\n"
        "    out.set('paid ' + msg.get_body().decode())\n"
        "@app.route(route='ping', auth_level=func.AuthLevel.ANONYMOUS)\n"
        "def ping(req: func.HttpRequest) -> str:\n"
        "    return 'pong'\n"
    )
}


@pytest.fixture
def dev(host_env: dict[str, str]) -> Iterator[DevAccount]:
    account = DevAccount(
        loopback_address(), Path(host_env["XDG_DATA_HOME"]) / "funchost" / "devstorage"
    )
    yield account
    account.stop_endpoint()


def test_an_app_with_no_azurite_gets_funchosts_endpoint_that_sdk_clients_share(
    start_host: StartHost, dev: DevAccount, tmp_path: Path
) -> None:
    app = write_app(tmp_path / "app", APP)
    host = start_host(app, env={"AzureWebJobsStorage": dev.setting})
    banner = host.wait_for_output("Storage:")
    assert "nothing answers" in banner and "funchost serves it" in banner
    # The app starts it as its queue listener opens the account, just after it is ready: the
    # SDK would get through by retrying after "connection refused", seconds later.
    dev.wait_for_endpoint()

    queue = QueueClient.from_connection_string(dev.client_string(), "orders")
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue.send_message(base64.b64encode(b'{"id": "42"}').decode())
    blobs = BlobServiceClient.from_connection_string(dev.client_string())
    receipt = blobs.get_blob_client("receipts", "42.txt")
    eventually(lambda: receipt.exists(), timeout=20)
    assert receipt.download_blob().readall() == b'paid {"id": "42"}'

    pid = dev.endpoint_pid()
    assert pid is not None and pid != host.proc.pid
    host.stop()
    # The endpoint outlives the app that started it: clients and other apps keep the account.
    assert list(blobs.get_container_client("receipts").list_blob_names()) == ["42.txt"]


def test_two_apps_share_one_endpoint_and_start_in_any_order(
    start_host: StartHost, dev: DevAccount, tmp_path: Path
) -> None:
    producer = write_app(
        tmp_path / "producer",
        {
            "function_app.py": (
                "import azure.functions as func\n"
                "app = func.FunctionApp()\n"
                "@app.route(route='order/{id}', auth_level=func.AuthLevel.ANONYMOUS)\n"
                "@app.queue_output(arg_name='q', queue_name='orders', connection='AzureWebJobsStorage')\n"
                "def order(req: func.HttpRequest, q: func.Out[str]) -> str:\n"
                "    q.set('{\"id\": \"' + req.route_params['id'] + '\"}')\n"
                "    return 'queued'\n"
            )
        },
    )
    consumer = write_app(tmp_path / "consumer", APP)
    env = {"AzureWebJobsStorage": dev.setting}
    first = start_host(producer, env=env)
    assert first.client.get("/api/order/1").text == "queued"
    first.stop()
    second = start_host(consumer, env=env)
    again = start_host(producer, env=env)
    assert again.client.get("/api/order/2").text == "queued"
    blobs = BlobServiceClient.from_connection_string(dev.client_string())
    container = blobs.get_container_client("receipts")
    eventually(
        lambda: container.exists() and sorted(container.list_blob_names()) == ["1.txt", "2.txt"],
        timeout=30,
    )
    second.stop()
    again.stop()


def test_something_else_on_the_development_port_is_named_and_other_functions_serve(
    start_host: StartHost, dev: DevAccount, tmp_path: Path
) -> None:
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind((dev.address, 10000))
    squatter.listen(8)
    stop = threading.Event()

    def answer_nonsense() -> None:
        squatter.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = squatter.accept()
            except OSError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")

    thread = threading.Thread(target=answer_nonsense, daemon=True)
    thread.start()
    try:
        app = write_app(tmp_path / "app", APP)
        host = start_host(app, env={"AzureWebJobsStorage": dev.setting})
        out = host.wait_for_output("not Azure Storage", timeout=30)
        assert f"{dev.address}:10000/10001" in out
        assert host.client.get("/api/ping").text == "pong"
        assert dev.endpoint_pid() is None
    finally:
        stop.set()
        thread.join(5)
        squatter.close()


def test_apps_starting_at_once_share_the_one_endpoint_that_binds_the_ports(
    dev: DevAccount,
) -> None:
    # Both find nothing and both start an endpoint: one binds the ports, the other exits.
    with ThreadPoolExecutor(2) as pool:
        found = list(pool.map(lambda _: development.ensure(dev.address, dev.data), range(2)))
    assert found[0] == found[1] == development.Found("funchost", dev.data / "storage.db")
    log = dev.data / "endpoint.log"
    eventually(lambda: "Address already in use" in log.read_text(), timeout=20)
    assert log.read_text().count("Blob   http://") == 1
    queue = QueueClient.from_connection_string(dev.client_string(), "shared")
    queue.create_queue()
    assert queue.get_queue_properties().name == "shared"


def test_the_endpoint_serves_while_an_app_uses_the_account_without_requests_then_stops(
    start_host: StartHost, dev: DevAccount, tmp_path: Path
) -> None:
    # The endpoint as an app starts it, but idle for 1 s before it stops instead of 30 min.
    command = [sys.executable, "-m", "funchost", "storage", "serve", "--host", dev.address,
               "--location", str(dev.data), "--idle-exit", "1"]  # fmt: skip
    endpoint = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        dev.wait_for_endpoint()
        host = start_host(
            write_app(tmp_path / "app", APP), env={"AzureWebJobsStorage": dev.setting}, wait=False
        )

        def app_uses_it() -> bool:
            # A request: it keeps the endpoint up until the app uses the account.
            assert development.probe(dev.address).kind == "funchost", host.output()
            return development.in_use(dev.data)

        eventually(app_uses_it, timeout=20, interval=0.2)
        host.wait_until_ready()
        # The app uses the store directly: the endpoint sees no request, and serves on.
        time.sleep(3)
        assert endpoint.poll() is None
        assert development.probe(dev.address).kind == "funchost"
        host.stop()
        assert endpoint.wait(10) == 0  # no app and no request for its idle time
    finally:
        if endpoint.poll() is None:
            endpoint.terminate()
            endpoint.wait(10)


def test_an_endpoint_that_cannot_start_fails_the_apps_storage_at_once(
    start_host: StartHost, dev: DevAccount, tmp_path: Path
) -> None:
    # Something holds the Queue port only: the Blob port looks free, so the app starts an
    # endpoint, which cannot bind the Queue port and exits.
    with socket.socket() as holder:
        holder.bind((dev.address, 10001))
        holder.listen(1)
        app = write_app(tmp_path / "app", APP)
        started = time.monotonic()
        host = start_host(app, env={"AzureWebJobsStorage": dev.setting})
        out = host.wait_for_output("did not start", timeout=15)
        assert time.monotonic() - started < 10  # not the 20 s allowed for a start
        assert f"{dev.address}:10000/10001" in out and str(dev.data) in out
        assert "10001" in (dev.data / "endpoint.log").read_text()
        assert host.client.get("/api/ping").text == "pong"
        assert dev.endpoint_pid() is None


def test_azurite_is_used_when_it_answers_on_the_development_ports(
    start_host: StartHost, dev: DevAccount, tmp_path: Path
) -> None:
    azurite = Azurite(tmp_path / "azurite", host=dev.address, ports=(10000, 10001))
    try:
        # Azure Storage is polled: a short interval keeps the test short.
        polling = '{"version": "2.0", "extensions": {"queues": {"maxPollingInterval": "00:00:01"}}}'
        app = write_app(tmp_path / "app", {**APP, "host.json": polling})
        host = start_host(app, env={"AzureWebJobsStorage": dev.setting})
        assert "development account on Azurite" in host.wait_for_output("Storage:")
        queue = QueueClient.from_connection_string(dev.client_string(), "orders")
        with contextlib.suppress(ResourceExistsError):
            queue.create_queue()
        queue.send_message(base64.b64encode(b'{"id": "7"}').decode())
        receipt = BlobServiceClient.from_connection_string(dev.client_string()).get_blob_client(
            "receipts", "7.txt"
        )
        eventually(lambda: receipt.exists(), timeout=30)
        assert dev.endpoint_pid() is None  # funchost started no endpoint of its own
        host.stop()
    finally:
        azurite.stop()


def test_an_http_only_app_gets_the_endpoint_at_start_for_its_own_sdk_clients(
    start_host: StartHost, dev: DevAccount, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "function_app.py": (
                "import os\n"
                "import azure.functions as func\n"
                "from azure.storage.queue import QueueServiceClient\n"
                "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
                "@app.route(route='queues')\n"
                "def queues(req: func.HttpRequest) -> str:\n"
                "    client = QueueServiceClient.from_connection_string(\n"
                "        os.environ['FUNCHOST_TEST_CLIENT'], retry_total=0\n"
                "    )\n"
                "    client.create_queue('made-by-the-app')\n"
                "    return ','.join(q.name for q in client.list_queues())\n"
            )
        },
    )
    # No storage binding opens the account: the host starts its endpoint all the same, at once,
    # so the app's first SDK call (no retries) gets through.
    host = start_host(
        app,
        env={"AzureWebJobsStorage": dev.setting, "FUNCHOST_TEST_CLIENT": dev.client_string()},
    )
    dev.wait_for_endpoint(timeout=10)
    eventually(lambda: development.probe(dev.address).kind == "funchost", timeout=10)
    assert host.client.get("/api/queues").text == "made-by-the-app"
