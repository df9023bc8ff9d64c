"""Apps laid out as `func init --python` and `func new` write them run on the development account
with no Node.js on the PATH.

tests/apps/func_init/ holds two such apps: the files `func init --python` writes for the v2
model (function_app.py, host.json with the extension bundle, local.settings.json with
`"AzureWebJobsStorage": "UseDevelopmentStorage=true"`, requirements.txt, .funcignore) and the
functions the `func new` templates add, with the output bindings a user adds to them:
- consumer: `http_trigger`; `queue_trigger` (orders, a receipt on the receipts queue);
  `blob_trigger` (uploads/{name}, a processed/{name} blob); `timer_trigger` (every second, a
  heartbeat blob);
- producer: `http_trigger`, queueing the order named in the query string on orders.

Each host is started as a user starts it in a terminal: `funchost start` in the app's folder, in
a process group of its own, with a PATH on which neither node nor npm is found, and stopped with
Ctrl+C (SIGINT to its whole process group, so an endpoint left in the app's group would die
with it). The development account is on a 127.0.0.N of the test's own (the AzureWebJobsStorage
environment variable adds `DevelopmentStorageProxyUri`, as an app setting wins over
local.settings.json) with its data in a folder of the test's own (FUNCHOST_DEVSTORAGE_DIR). The
SDK client is this test's process: neither an app nor the endpoint. The endpoint the first app
starts is stopped at the end by the PID it records.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from funchost.testing import TestHost
from tests.conftest import APPS, RunningHost, free_port
from tests.endpoint.devaccount import DevAccount, loopback_address
from tests.stores import eventually

CONSUMER = APPS / "func_init" / "consumer"
PRODUCER = APPS / "func_init" / "producer"
NODE_TOOLS = ("node", "npm", "npx", "azurite")
# The command as users run it: the console script beside this Python.
FUNCHOST = str(Path(sys.executable).parent / "funchost")


def path_without_node() -> str:
    """The PATH with every folder that holds node, npm, npx or azurite left out."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(
        folder
        for folder in folders
        if folder and not any(shutil.which(tool, path=folder) for tool in NODE_TOOLS)
    )


class FuncInitApps:
    """func-init apps started and stopped as in a terminal, all on one development account."""

    def __init__(self, env: dict[str, str], dev: DevAccount, logs: Path) -> None:
        self.env = env
        self.dev = dev
        self.logs = logs
        self.running: list[RunningHost] = []

    def start(self, app: Path) -> RunningHost:
        port = free_port()
        env = {
            **self.env,
            "AzureWebJobsStorage": self.dev.setting,
            "FUNCHOST_STATE_DIR": str(self.logs / f"state-{app.name}"),
        }
        log = self.logs / f"{app.name}-{len(self.running)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [FUNCHOST, "start", "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=app,
                start_new_session=True,
            )
        host = RunningHost(proc, port, log)
        self.running.append(host)
        host.wait_until_ready()
        return host

    def stop(self, host: RunningHost) -> None:
        """Ctrl+C in the app's terminal: SIGINT to its process group; the host drains."""
        if host.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(host.proc.pid, signal.SIGINT)
            try:
                host.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(host.proc.pid, signal.SIGKILL)
                host.proc.wait(5)
                raise AssertionError(f"the host did not stop on Ctrl+C:\n{host.output()}") from None
        assert host.stop() == 0, host.output()  # it has exited: this closes its client

    def close(self) -> None:
        for host in self.running:
            if host.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(host.proc.pid, signal.SIGKILL)
            host.stop()


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevAccount]:
    account = DevAccount(loopback_address(), tmp_path / "devstorage")
    yield account
    account.stop_endpoint()


@pytest.fixture
def apps(host_env: dict[str, str], dev: DevAccount, tmp_path: Path) -> Iterator[FuncInitApps]:
    env = {**host_env, "PATH": path_without_node(), "FUNCHOST_DEVSTORAGE_DIR": str(dev.data)}
    for tool in NODE_TOOLS:
        assert shutil.which(tool, path=env["PATH"]) is None, tool
    running = FuncInitApps(env, dev, tmp_path)
    yield running
    running.close()


def queue(dev: DevAccount, name: str) -> QueueClient:
    """A queue client as Functions apps use one: messages base64-encoded."""
    client = QueueClient.from_connection_string(
        dev.client_string(),
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


class Receipts:
    """Every message of the receipts queue, taken off it by the SDK and counted."""

    def __init__(self, dev: DevAccount) -> None:
        self.queue = queue(dev, "receipts")
        self.seen: Counter[str] = Counter()

    def take(self) -> Counter[str]:
        for message in self.queue.receive_messages(messages_per_page=32):
            self.seen[message.content] += 1
            self.queue.delete_message(message)
        return self.seen

    def wait_for(self, orders: Iterable[str], timeout: float = 20) -> None:
        wanted = {f"paid {order}" for order in orders}
        eventually(lambda: wanted <= set(self.take()), timeout=timeout)

    def exactly_once(self, orders: Iterable[str]) -> None:
        """Each order paid once, and nothing else: no message lost, none run twice."""
        self.take()
        assert self.seen == Counter(f"paid {order}" for order in orders)


def send_orders(dev: DevAccount, orders: Iterable[str]) -> None:
    client = queue(dev, "orders")
    for order in orders:
        client.send_message(order)


def order_over_http(producer: RunningHost, orders: Iterable[str]) -> None:
    for order in orders:
        answer = producer.client.get("/api/http_trigger", params={"name": order})
        assert answer.status_code == 200 and answer.text == f"Queued {order}.", answer.text


def assert_endpoint_outlives(dev: DevAccount, pid: int, stopped: RunningHost) -> None:
    assert stopped.proc.returncode is not None
    assert dev.endpoint_running(pid), f"the endpoint (PID {pid}) died with the app that started it"
    assert dev.endpoint_pid() == pid


def test_the_func_init_layout_is_what_func_init_writes() -> None:
    for app in (CONSUMER, PRODUCER):
        names = {path.name for path in app.iterdir()}
        assert names == {
            "function_app.py",
            "host.json",
            "local.settings.json",
            "requirements.txt",
            ".funcignore",
        }
        settings = json.loads((app / "local.settings.json").read_text())
        assert settings["Values"] == {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        }
        bundle = json.loads((app / "host.json").read_text())["extensionBundle"]
        assert bundle["id"] == "Microsoft.Azure.Functions.ExtensionBundle"


def test_an_sdk_process_feeds_the_apps_queue_and_blob_triggers_and_reads_its_outputs(
    apps: FuncInitApps, dev: DevAccount
) -> None:
    consumer = apps.start(CONSUMER)
    banner = consumer.wait_for_output("Storage:")
    assert "nothing answers" in banner and "funchost serves it" in banner
    pid = dev.wait_for_endpoint()
    assert pid != consumer.proc.pid
    # Detached: a session of its own, so the terminal's Ctrl+C for the app never reaches it.
    assert os.getsid(pid) == pid != os.getsid(consumer.proc.pid)

    answer = consumer.client.get("/api/http_trigger", params={"name": "funchost"})
    assert answer.status_code == 200 and answer.text == "Hello, funchost."

    orders = [f"order-{n}" for n in range(20)]
    send_orders(dev, orders)
    blobs = BlobServiceClient.from_connection_string(dev.client_string())
    uploads = blobs.get_container_client("uploads")
    with contextlib.suppress(ResourceExistsError):
        uploads.create_container()
    files = {f"photo-{n}.txt": f"picture {n}" for n in range(3)}
    for name, text in files.items():
        uploads.upload_blob(name, text.encode())

    receipts = Receipts(dev)
    receipts.wait_for(orders)
    processed = blobs.get_container_client("processed")
    eventually(
        lambda: processed.exists() and set(processed.list_blob_names()) == set(files), timeout=20
    )
    for name, text in files.items():
        content = processed.download_blob(name).readall().decode()
        assert content == f"{len(text)} bytes: {text.upper()}"

    # The timer runs every second; its output is a blob it overwrites each time.
    heartbeat = blobs.get_blob_client("heartbeats", "consumer.txt")
    first = eventually(lambda: heartbeat.exists() and heartbeat.download_blob().readall())
    eventually(lambda: heartbeat.download_blob().readall() != first, timeout=5)
    assert "timer_trigger" in consumer.output()

    apps.stop(consumer)
    receipts.exactly_once(orders)
    # The app is gone, the account is not: the endpoint still serves the SDK.
    assert_endpoint_outlives(dev, pid, consumer)
    assert set(processed.list_blob_names()) == set(files)


@pytest.mark.parametrize("first", ["producer", "consumer"])
def test_producer_and_consumer_start_and_stop_in_either_order_without_losing_a_message(
    apps: FuncInitApps, dev: DevAccount, first: str
) -> None:
    if first == "producer":
        # The producer starts the endpoint and stops first; the consumer keeps the account.
        producer = apps.start(PRODUCER)
        # Its first order opens the account (its only storage binding is an output).
        order_over_http(producer, (early := [f"early-{n}" for n in range(5)]))
        pid = dev.wait_for_endpoint()
        assert pid != producer.proc.pid
        receipts = Receipts(dev)
        consumer = apps.start(CONSUMER)
        order_over_http(producer, (during := [f"during-{n}" for n in range(5)]))
        apps.stop(producer)
        assert_endpoint_outlives(dev, pid, producer)
        send_orders(dev, (late := [f"late-{n}" for n in range(5)]))
        paid = early + during + late
        receipts.wait_for(paid)
        apps.stop(consumer)
    else:
        # The consumer starts the endpoint and stops first, while orders keep coming; a new
        # consumer takes every order queued in between.
        consumer = apps.start(CONSUMER)
        pid = dev.wait_for_endpoint()
        assert pid != consumer.proc.pid
        receipts = Receipts(dev)
        producer = apps.start(PRODUCER)
        order_over_http(producer, (early := [f"early-{n}" for n in range(5)]))
        receipts.wait_for(early)
        apps.stop(consumer)
        assert_endpoint_outlives(dev, pid, consumer)
        order_over_http(producer, (during := [f"during-{n}" for n in range(5)]))
        send_orders(dev, (late := [f"late-{n}" for n in range(5)]))
        time.sleep(0.5)
        assert not set(receipts.take()) & {f"paid {o}" for o in during + late}
        again = apps.start(CONSUMER)
        paid = early + during + late
        receipts.wait_for(paid)
        apps.stop(producer)
        apps.stop(again)
    receipts.exactly_once(paid)
    assert queue(dev, "orders").peek_messages() == []
    assert dev.endpoint_pid() == pid


def test_a_test_host_of_the_app_starts_the_endpoint_without_a_warning_and_reaps_it(
    dev: DevAccount,
) -> None:
    """In-process (`funchost.testing`, under this suite's `-W error`): the endpoint the app
    starts outlives it, and when it ends this process leaves no zombie behind."""
    settings = {"AzureWebJobsStorage": dev.setting, "FUNCHOST_DEVSTORAGE_DIR": str(dev.data)}
    with TestHost(PRODUCER, settings=settings) as host:
        answer = host.client.get("/api/http_trigger", params={"name": "in-process"})
        assert answer.text == "Queued in-process."
        pid = dev.wait_for_endpoint()
    gc.collect()
    assert dev.endpoint_running(pid)
    assert [m.content for m in queue(dev, "orders").peek_messages()] == ["in-process"]
    dev.stop_endpoint()
    eventually(lambda: not Path(f"/proc/{pid}").exists(), timeout=5)
