"""Queue triggers and queue outputs through the running host, on both storage backends."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import APPS, StartHost, write_app
from tests.stores import Backend, copy_app, eventually, records


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return copy_app(APPS / "queues", tmp_path / "queues")


@pytest.fixture
def record_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    return folder


def host_settings(backend: Backend, record_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **backend.settings,
        "RECORD_DIR": str(record_dir),
        "ROUTED_QUEUE": "routed-in",
        **extra,
    }


def test_a_message_runs_its_function_and_the_output_is_sent(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    start_host(app, env=host_settings(backend, record_dir))
    store = backend.client(app)
    store.send("orders", "hello")
    assert eventually(lambda: store.take("processed")) == ["HELLO"]
    (seen,) = records(record_dir, "process_order")
    assert seen["body"] == "hello" and seen["dequeue_count"] == 1
    assert seen["id"] and seen["pop_receipt"]
    assert seen["insertion_time"] < seen["time_next_visible"] < seen["expiration_time"]
    eventually(lambda: store.length("orders") == 0)


def test_a_failing_message_is_retried_then_poisoned_after_exactly_max_dequeue_count(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=host_settings(backend, record_dir))
    store = backend.client(app)
    store.send("doomed", "bad order")
    assert eventually(lambda: store.take("doomed-poison")) == ["bad order"]
    host.wait_for_output(
        "Message has reached MaxDequeueCount of 3. Moving message to queue 'doomed-poison'."
    )
    time.sleep(1.5)  # a fourth attempt would have happened by now
    assert [r["body"] for r in records(record_dir, "always_fails")] == ["bad order"] * 3
    assert store.length("doomed") == 0
    assert store.take("never-written") == []  # outputs of failed invocations are never sent
    assert "RuntimeError: cannot handle bad order" in host.output()


def test_a_message_that_is_not_base64_goes_to_poison_with_the_hosts_warning(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=host_settings(backend, record_dir))
    store = backend.client(app)
    store.send("orders", "not base64 at all!", raw=True)
    assert eventually(lambda: store.take("orders-poison", raw=True)) == ["not base64 at all!"]
    host.wait_for_output("Message decoding has failed! Check MessageEncoding settings. MessageId=")
    assert records(record_dir, "process_order") == []


def test_message_encoding_none_takes_plain_text(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host_json = json.loads((app / "host.json").read_text())
    host_json["extensions"]["queues"]["messageEncoding"] = "none"
    (app / "host.json").write_text(json.dumps(host_json))
    start_host(app, env=host_settings(backend, record_dir))
    store = backend.client(app, encoding="none")
    store.send("orders", "plain text")
    assert eventually(lambda: store.take("processed")) == ["PLAIN TEXT"]


def test_a_bytes_parameter_receives_the_message_as_bytes(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    start_host(app, env=host_settings(backend, record_dir))
    store = backend.client(app)
    store.send("raw-bytes", "héllo")
    assert eventually(lambda: store.take("bytes-seen")) == ["bytes:b'h\\xc3\\xa9llo'"]


def test_binding_expressions_from_a_json_message_and_app_settings(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    start_host(app, env=host_settings(backend, record_dir))
    store = backend.client(app)
    store.send_json("routed-in", {"id": 7, "Kind": "gold"})  # {kind} matches "Kind"
    assert eventually(lambda: store.take("routed-gold")) == ['{"id": 7, "dequeue": 1}']


def test_a_returned_list_gives_one_message_per_element(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    start_host(app, env=host_settings(backend, record_dir))
    store = backend.client(app)
    store.send("fanout", "x")
    eventually(lambda: store.length("fanned") == 3)
    assert sorted(store.take("fanned")) == ["x-0", "x-1", "x-2"]


def test_a_message_this_host_enqueues_is_picked_up_without_waiting_for_the_poll(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host_json = json.loads((app / "host.json").read_text())
    host_json["extensions"]["queues"]["maxPollingInterval"] = "00:01:00"
    (app / "host.json").write_text(json.dumps(host_json))
    host = start_host(app, env=host_settings(backend, record_dir))
    time.sleep(4)  # idle: the listener's backoff is now several seconds
    sent = time.time()
    assert host.client.post("/api/enqueue", content=b"fast").status_code == 202
    (seen,) = eventually(lambda: records(record_dir, "process_order"))
    assert seen["body"] == "fast"
    assert seen["at"] - sent < 1.0


def test_an_http_output_is_not_sent_when_the_function_fails(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=host_settings(backend, record_dir))
    store = backend.client(app)
    assert host.client.post("/api/fail-after-output").status_code == 500
    assert host.client.post("/api/enqueue", content=b"after").status_code == 202
    assert eventually(lambda: store.take("processed")) == ["AFTER"]
    assert [r["body"] for r in records(record_dir, "process_order")] == ["after"]


def test_an_output_queue_name_from_route_and_query_values(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=host_settings(backend, record_dir))
    store = backend.client(app)
    response = host.client.post("/api/send/jobs?suffix=eu", content=b"\x00\x01binary")
    assert response.status_code == 200 and response.text == "sent"
    assert store.run(store.storage.peek_messages("jobs-eu", 5))[0].content == "AAFiaW5hcnk="


def test_a_missing_route_value_in_an_output_name_fails_with_the_hosts_message(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=host_settings(backend, record_dir))
    assert host.client.post("/api/send/jobs").status_code == 500
    host.wait_for_output("No value for named parameter 'Query.suffix'.")


def test_a_running_message_stays_hidden_past_its_lease_while_the_function_runs(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    settings = host_settings(
        backend, record_dir, FUNCHOST_QUEUE_MESSAGE_LEASE="2", SLOW_SECONDS="5"
    )
    start_host(app, env=settings)
    store = backend.client(app)
    store.send("slow", "long job")
    eventually(lambda: records(record_dir, "slow_end"), timeout=20)
    time.sleep(1)
    assert len(records(record_dir, "slow_start")) == 1
    eventually(lambda: store.length("slow") == 0)


def test_a_graceful_stop_lets_running_messages_finish_and_deletes_them(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=host_settings(backend, record_dir, SLOW_SECONDS="2"))
    store = backend.client(app)
    store.send("slow", "finish me")
    eventually(lambda: records(record_dir, "slow_start"))
    assert host.stop() == 0  # SIGTERM while the function runs
    assert [r["body"] for r in records(record_dir, "slow_end")] == ["finish me"]
    assert store.length("slow") == 0


@pytest.mark.parametrize(
    ("queues", "concurrent"),
    [({}, True), ({"batchSize": 1, "newBatchThreshold": 0}, False)],
)
def test_batch_size_and_new_batch_threshold_bound_concurrent_messages(
    start_host: StartHost,
    backend: Backend,
    app: Path,
    record_dir: Path,
    queues: dict[str, int],
    concurrent: bool,
) -> None:
    host_json = json.loads((app / "host.json").read_text())
    host_json["extensions"]["queues"].update(queues)
    (app / "host.json").write_text(json.dumps(host_json))
    start_host(app, env=host_settings(backend, record_dir, SLOW_SECONDS="1"))
    store = backend.client(app)
    store.send("slow", "a", "b", "c")
    eventually(lambda: len(records(record_dir, "slow_end")) == 3, timeout=30)
    starts = sorted(r["at"] for r in records(record_dir, "slow_start"))
    ends = sorted(r["at"] for r in records(record_dir, "slow_end"))
    overlapping = starts[2] < ends[0]  # all three started before the first finished
    assert overlapping is concurrent
    if not concurrent:
        assert starts[1] >= ends[0] and starts[2] >= ends[1]


def test_admin_invoke_feeds_a_queue_function_and_writes_its_outputs(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=host_settings(backend, record_dir))
    store = backend.client(app)
    response = host.client.post("/admin/functions/process_order", json={"input": "by admin"})
    assert response.status_code == 202
    assert eventually(lambda: store.take("processed")) == ["BY ADMIN"]
    (seen,) = records(record_dir, "process_order")
    assert seen["dequeue_count"] == 1


def test_an_unreachable_account_is_named_and_other_functions_keep_serving(
    start_host: StartHost, app: Path, record_dir: Path
) -> None:
    closed = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;" \
        "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;" \
        "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;"  # fmt: skip
    host = start_host(
        app, env={"AzureWebJobsStorage": closed, "RECORD_DIR": str(record_dir), "ROUTED_QUEUE": "q"}
    )
    out = host.wait_for_output("was unable to start", timeout=20)
    assert "Cannot reach the storage account in setting 'AzureWebJobsStorage'" in out
    assert "http://127.0.0.1:9/devstoreaccount1" in out
    assert "Start Azurite" in out and "a2V5" not in out
    assert host.client.get("/admin/host/status").json()["state"] == "Running"


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"AzureWebJobsStorage__serviceUri": "https://acct.queue.core.windows.net"},
            "uses identity-based settings (AzureWebJobsStorage__serviceUri)",
        ),
        (
            {"AzureWebJobsStorage": "AccountName=acct;NoKeyHere=secretvalue"},
            "The connection string in setting 'AzureWebJobsStorage' is not valid",
        ),
    ],
)
def test_unusable_connection_settings_fail_the_functions_that_need_them(
    start_host: StartHost, app: Path, record_dir: Path, settings: dict[str, str], expected: str
) -> None:
    env = {"RECORD_DIR": str(record_dir), "ROUTED_QUEUE": "q", **settings}
    host = start_host(app, env=env)
    out = host.wait_for_output("Functions that failed to load")
    assert expected in out
    assert "secretvalue" not in out
    assert host.client.get("/admin/host/ping").status_code == 200


def test_invalid_queue_names_fail_the_function_with_the_name(
    start_host: StartHost, tmp_path: Path, backend: Backend
) -> None:
    app = write_app(
        tmp_path / "badnames",
        {
            "function_app.py": (
                "import azure.functions as func\n"
                "app = func.FunctionApp()\n"
                "@app.queue_trigger(arg_name='m', queue_name='Bad_Name!', connection='AzureWebJobsStorage')\n"
                "def bad(m: str) -> None: ...\n"
                "@app.queue_trigger(arg_name='m', queue_name='%MISSING_SETTING%', connection='AzureWebJobsStorage')\n"
                "def unresolved(m: str) -> None: ...\n"
                "@app.route(route='ok', auth_level=func.AuthLevel.ANONYMOUS)\n"
                "def ok(req: func.HttpRequest) -> str: return 'ok'\n"
            )
        },
    )
    host = start_host(app, env=backend.settings)
    out = host.wait_for_output("Functions that failed to load")
    # Lower-cased, then checked with the queue extension's own words.
    assert (
        'A queue name can contain only letters, numbers, and dash(-) characters - "bad_name!"'
        in out
    )
    assert "'%MISSING_SETTING%' does not resolve to a value." in out
    assert host.client.get("/api/ok").text == "ok"
