"""TestHost drives every trigger without sleeping: queues, blobs, invocations, logs, and
`run_until_idle` across chains of triggers, in v1 and v2 apps."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from funchost.testing import IdleTimeoutError, Invocation, TestHost
from tests.conftest import write_app

STORAGE = {"AzureWebJobsStorage": ""}

# An order goes HTTP -> queue "orders" -> blob "receipts/{id}.txt" -> queue "done".
V2_APP = {
    "function_app.py": """\
import logging
import os
import time

import azure.functions as func

app = func.FunctionApp()


@app.route(route="order/{id}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="out", queue_name="orders", connection="AzureWebJobsStorage")
def place(req: func.HttpRequest, out: func.Out[str]) -> str:
    logging.info("placing order %s", req.route_params["id"])
    out.set(req.route_params["id"])
    return "placed"


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="receipt", path="receipts/{queueTrigger}.txt",
                 connection="AzureWebJobsStorage")
def take(msg: func.QueueMessage, receipt: func.Out[str]) -> None:
    body = msg.get_body().decode()
    logging.info("taking order %s", body)
    if body == "bad":
        raise ValueError("a bad order")
    receipt.set(f"receipt for {body}")


@app.blob_trigger(arg_name="blob", path="receipts/{name}", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="$return", queue_name="done", connection="AzureWebJobsStorage")
def file_receipt(blob: func.InputStream) -> str:
    return blob.read().decode().upper()


@app.queue_trigger(arg_name="msg", queue_name="slow", connection="AzureWebJobsStorage")
def slow(msg: str) -> None:
    time.sleep(float(os.environ.get("SLOW_SECONDS", "1")))


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")
def yearly(timer: func.TimerRequest) -> None:
    logging.warning("yearly ran")
""",
    "host.json": (
        '{"version": "2.0", "extensions": {"queues": {"batchSize": 1, "newBatchThreshold": 0,'
        ' "maxPollingInterval": "00:01:00", "visibilityTimeout": "00:00:00",'
        ' "maxDequeueCount": 2}}}'
    ),
}

# The same chain as function folders.
V1_APP = {
    "Take/function.json": """{"bindings": [
        {"name": "msg", "type": "queueTrigger", "direction": "in", "queueName": "orders",
         "connection": "AzureWebJobsStorage"},
        {"name": "$return", "type": "blob", "direction": "out",
         "path": "receipts/{queueTrigger}.txt", "connection": "AzureWebJobsStorage"}]}""",
    "Take/__init__.py": """\
import logging

import azure.functions as func


def main(msg: func.QueueMessage) -> str:
    logging.info("taking order %s", msg.get_body().decode())
    if msg.get_body() == b"bad":
        raise ValueError("a bad order")
    return "receipt for " + msg.get_body().decode()
""",
    "FileReceipt/function.json": """{"bindings": [
        {"name": "blob", "type": "blobTrigger", "direction": "in", "path": "receipts/{name}",
         "connection": "AzureWebJobsStorage"},
        {"name": "$return", "type": "queue", "direction": "out", "queueName": "done",
         "connection": "AzureWebJobsStorage"}]}""",
    "FileReceipt/__init__.py": """\
import azure.functions as func


def main(blob: func.InputStream) -> str:
    return blob.read().decode().upper()
""",
    "host.json": '{"version": "2.0", "extensions": {"queues": {"maxPollingInterval": "00:01:00"}}}',
}


@pytest.fixture(params=["v1", "v2"])
def chain_app(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write_app(tmp_path / request.param, V1_APP if request.param == "v1" else V2_APP)


def test_a_queue_message_runs_its_whole_chain_before_run_until_idle_returns(
    chain_app: Path,
) -> None:
    with TestHost(chain_app, settings=STORAGE) as host:
        host.queue("Orders").send("7")  # names as the bindings take them: lower-cased
        started = time.monotonic()
        host.run_until_idle(timeout=10)
        # Milliseconds: listeners are woken and waited for, no polling interval is waited out
        # (a minute for the queues here, half a second for the blob scans).
        assert time.monotonic() - started < 0.45
        assert host.blob("receipts/7.txt").read() == b"receipt for 7"
        assert host.queue("done").peek() == ["RECEIPT FOR 7"]
        assert host.queue("orders").peek() == []
        names = [(i.function, i.trigger, i.outcome) for i in host.invocations]
        if chain_app.name == "v2":
            assert names == [
                ("take", "queueTrigger", "succeeded"),
                ("file_receipt", "blobTrigger", "succeeded"),
            ]
        else:
            assert names == [
                ("Take", "queueTrigger", "succeeded"),
                ("FileReceipt", "blobTrigger", "succeeded"),
            ]
        receipt = host.invocations[-1]
        assert receipt.return_value == "RECEIPT FOR 7"
        assert repr(receipt).endswith("blobTrigger) succeeded, returned 'RECEIPT FOR 7'>")


def test_queue_and_blob_handles(chain_app: Path) -> None:
    with TestHost(chain_app, settings=STORAGE) as host:
        queue = host.queue("unwatched")
        assert queue.peek() == []
        queue.send("one")
        queue.send(b"two")
        assert queue.peek() == ["one", "two"]
        first, second = queue.messages()
        assert (first.body, first.dequeue_count) == ("one", 0)
        assert first.insertion_time <= second.insertion_time < first.expiration_time
        assert queue.peek() == ["one", "two"]  # peeking takes nothing

        blob = host.blob("files/a/b.bin")
        assert not blob.exists()
        with pytest.raises(FileNotFoundError, match=r"files/a/b\.bin"):
            blob.read()
        blob.upload(b"\x00\x01")
        assert blob.exists() and blob.read() == b"\x00\x01"
        blob.upload("text")
        assert blob.read() == b"text"

        # A blob uploaded through the handle wakes its trigger.
        host.blob("receipts/by-hand").upload("hand")
        host.run_until_idle()
        assert host.queue("done").peek() == ["HAND"]


def test_an_http_output_chain_and_the_logs_of_each_invocation(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", V2_APP)
    with TestHost(app, settings=STORAGE) as host:
        assert host.client.post("/api/order/42").text == "placed"
        host.run_until_idle()
        assert host.queue("done").peek() == ["RECEIPT FOR 42"]
        take = next(i for i in host.invocations if i.function == "take")
        messages = [r.getMessage() for r in take.logs]
        assert "taking order 42" in messages
        assert messages[0].startswith("Executing 'Functions.take'")
        assert all(r.invocation_id == take.invocation_id for r in take.logs)  # type: ignore[attr-defined]
        user = [(r.function_name, r.getMessage()) for r in host.logs if r.name == "root"]  # type: ignore[attr-defined]
        assert user == [("place", "placing order 42"), ("take", "taking order 42")]


def test_invoke_returns_a_record_with_the_users_exception(chain_app: Path) -> None:
    with TestHost(chain_app, settings=STORAGE) as host:
        take = "Take" if chain_app.name == "v1" else "take"
        source = "__init__.py" if chain_app.name == "v1" else "function_app.py"
        ok = host.invoke(take, "9")
        assert ok.succeeded and ok.outcome == "succeeded" and ok.exception is None
        assert ok.raise_error() is ok
        if chain_app.name == "v1":
            assert ok.return_value == "receipt for 9"
        record = host.invoke(take, "bad")
        assert isinstance(record, Invocation)
        assert (record.function, record.trigger, record.outcome) == (
            take,
            "queueTrigger",
            "failed",
        )
        assert not record.succeeded
        assert isinstance(record.exception, ValueError)
        assert record.error is record.exception
        assert repr(record).startswith(
            f"<Invocation {take} (queueTrigger) failed: ValueError: a bad order (at "
        )
        line = 9 if chain_app.name == "v1" else 25
        assert repr(record).endswith(f"{source}:{line})>")
        assert [r.levelno for r in record.logs if r.name == "root"] == [logging.INFO]
        with pytest.raises(ValueError, match="a bad order") as raised:
            record.raise_error()
        frames = [entry.path for entry in raised.traceback]
        # This test, then the user's function: no invoker, thread pool or asyncio frames.
        assert [Path(p).name for p in frames] == ["test_testing_triggers.py", "testing.py", source]
        if chain_app.name == "v1":
            return
        yearly = host.invoke("yearly")
        assert (yearly.trigger, yearly.outcome, yearly.return_value) == (
            "timerTrigger",
            "succeeded",
            None,
        )
        assert [(r.levelname, r.getMessage()) for r in yearly.logs if r.name == "root"] == [
            ("WARNING", "yearly ran")
        ]
        with pytest.raises(KeyError, match="nope"):
            host.invoke("nope")


def test_a_failing_message_is_retried_to_the_poison_queue_before_idle(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", V2_APP)
    with TestHost(app, settings=STORAGE) as host:
        host.queue("orders").send("bad")
        host.run_until_idle()
        outcomes = [(i.function, i.outcome) for i in host.invocations]
        assert outcomes == [("take", "failed"), ("take", "failed")]  # maxDequeueCount 2
        assert host.queue("orders-poison").peek() == ["bad"]
        assert host.queue("orders").peek() == []


def test_run_until_idle_names_what_is_still_pending(tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", V2_APP)
    with TestHost(app, settings={**STORAGE, "SLOW_SECONDS": "0.5"}) as host:
        for n in range(3):
            host.queue("slow").send(str(n))
        with pytest.raises(IdleTimeoutError) as raised:
            host.run_until_idle(timeout=0.3)
        assert isinstance(raised.value, TimeoutError)
        assert raised.value.functions == ["slow"]
        assert raised.value.queues == {"slow": 2}  # one message at a time (batchSize 1)
        assert str(raised.value) == (
            "the app was not idle after 0.3 s; functions running: slow; "
            "queues with messages: slow (2)"
        )
        host.run_until_idle(timeout=10)
        assert [i.outcome for i in host.invocations] == ["succeeded"] * 3


def test_invoking_a_function_that_failed_to_load_says_why(tmp_path: Path) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "function_app.py": "import azure.functions as func\nimport helpers\n"
            "app = func.FunctionApp()\n",
            "helpers.py": "RATE = 1 / 0\n",
        },
    )
    with TestHost(app) as host, pytest.raises(KeyError) as raised:
        host.invoke("anything")
    assert str(raised.value) == (
        "\"no function named 'anything' (these failed to load: "
        'function_app.py: ZeroDivisionError: division by zero)"'
    )
