"""Blob triggers, inputs and outputs through the running host, on both storage backends."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.conftest import APPS, StartHost
from tests.stores import Backend, copy_app, eventually, records


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return copy_app(APPS / "blobs", tmp_path / "blobs")


@pytest.fixture
def record_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    return folder


def settings(backend: Backend, record_dir: Path) -> dict[str, str]:
    return {**backend.settings, "RECORD_DIR": str(record_dir)}


def latency_limit(backend: Backend) -> float:
    return 1.0 if backend.name == "embedded" else 5.0


def test_a_new_blob_triggers_its_function_once_with_captures_and_outputs(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    start_host(app, env=settings(backend, record_dir))
    store = backend.client(app)
    time.sleep(1)  # the listener is scanning an empty container
    uploaded = time.time()
    store.put_blob(
        "images", "2024/cat.v2.jpg", b"meow-data", content_type="image/jpeg", metadata={"k": "v"}
    )
    (seen,) = eventually(lambda: records(record_dir, "resize"))
    assert seen["at"] - uploaded <= latency_limit(backend)
    assert seen["name"] == "images/2024/cat.v2.jpg"
    assert seen["length"] == 9 and seen["data"] == "meow-data"
    assert seen["uri"].endswith("/images/2024/cat.v2.jpg")
    assert seen["properties"]["ContentType"] == "image/jpeg"
    assert seen["metadata"] == {"k": "v"}
    # {name}.{ext}: the name runs to the last dot, across '/'.
    assert eventually(lambda: store.get_blob("thumbs", "2024/cat.v2-small.jpg")) == b"meow"
    time.sleep(2.5)
    assert len(records(record_dir, "resize")) == 1


def test_a_changed_blob_triggers_again_and_a_restarted_host_does_not_replay(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=settings(backend, record_dir))
    store = backend.client(app)
    store.put_blob("images", "dog.png", b"v1")
    eventually(lambda: len(records(record_dir, "resize")) == 1)
    store.put_blob("images", "dog.png", b"v2")
    eventually(lambda: len(records(record_dir, "resize")) == 2)
    assert host.stop() == 0
    start_host(app, env=settings(backend, record_dir))
    time.sleep(3)  # several scans of the container
    assert [r["data"] for r in records(record_dir, "resize")] == ["v1", "v2"]


def test_a_failing_blob_is_tried_five_times_then_reported_on_the_poison_queue(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=settings(backend, record_dir))
    store = backend.client(app)
    store.put_blob("images", "bad-photo.jpg", b"broken")
    (message,) = eventually(lambda: store.take("webjobs-blobtrigger-poison"), timeout=30)
    poison = json.loads(message)
    assert poison["FunctionId"] == "Host.Functions.resize"
    assert (poison["ContainerName"], poison["BlobName"]) == ("images", "bad-photo.jpg")
    assert poison["ETag"]
    host.wait_for_output(
        "Message has reached MaxDequeueCount of 5. Moving message to queue "
        "'webjobs-blobtrigger-poison'."
    )
    time.sleep(2)
    assert len(records(record_dir, "resize")) == 5
    assert "ValueError: cannot resize a bad image" in host.output()
    assert store.blob_names("thumbs") == []  # the output of a failed invocation is not written


def test_a_str_parameter_receives_the_blob_as_text(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    start_host(app, env=settings(backend, record_dir))
    store = backend.client(app)
    store.put_blob("notes", "work/todo.txt", "café".encode())
    (seen,) = eventually(lambda: records(record_dir, "note"))
    assert (seen["text"], seen["kind"]) == ("café", "str")


def test_a_blob_input_named_by_a_route_value_and_a_missing_blob_is_none(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=settings(backend, record_dir))
    store = backend.client(app)
    store.put_blob("docs", "readme.md", b"# hello")
    assert host.client.get("/api/docs/readme.md").text == "# hello"
    missing = host.client.get("/api/docs/nothing.md")
    assert (missing.status_code, missing.text) == (404, "no such document")


def test_a_blob_output_named_by_the_json_body_and_a_path_leaving_its_container_is_refused(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=settings(backend, record_dir))
    store = backend.client(app)
    ok = host.client.post("/api/upload", json={"name": "a/b.txt", "content": "kept"})
    assert (ok.status_code, ok.text) == (200, "stored")
    assert store.get_blob("uploads", "a/b.txt") == b"kept"
    escape = host.client.post("/api/upload", json={"name": "../escape.txt", "content": "x"})
    assert escape.status_code == 500
    host.wait_for_output("A blob path must stay inside its container")
    assert store.blob_names("uploads") == ["a/b.txt"]


def test_admin_invoke_runs_a_blob_function_on_the_named_blob(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    store = backend.client(app)
    store.put_blob("notes", "home/list.txt", b"milk")
    host = start_host(app, env=settings(backend, record_dir))
    eventually(lambda: records(record_dir, "note"))  # the trigger ran it once
    response = host.client.post("/admin/functions/note", json={"input": "notes/home/list.txt"})
    assert response.status_code == 202
    eventually(lambda: len(records(record_dir, "note")) == 2)
    assert [r["text"] for r in records(record_dir, "note")] == ["milk", "milk"]


def test_invalid_blob_paths_fail_the_function_with_the_reason(
    start_host: StartHost, tmp_path: Path, host_env: dict[str, str]
) -> None:
    from tests.conftest import write_app

    app = write_app(
        tmp_path / "badblobs",
        {
            "function_app.py": (
                "import azure.functions as func\n"
                "app = func.FunctionApp()\n"
                "@app.blob_trigger(arg_name='b', path='Bad_Container/{name}', connection='S')\n"
                "def bad_container(b: bytes) -> None: ...\n"
                "@app.blob_trigger(arg_name='b', path='{dynamic}/x', connection='S')\n"
                "def templated_container(b: bytes) -> None: ...\n"
                "@app.route(route='w', auth_level=func.AuthLevel.ANONYMOUS)\n"
                "@app.blob_output(arg_name='o', path='out/../../etc/passwd', connection='S')\n"
                "def escape(req: func.HttpRequest, o: func.Out[str]) -> str: return 'x'\n"
                "@app.route(route='ok', auth_level=func.AuthLevel.ANONYMOUS)\n"
                "def ok(req: func.HttpRequest) -> str: return 'ok'\n"
            )
        },
    )
    host = start_host(app, env={"S": ""})
    out = host.wait_for_output("Functions that failed to load")
    assert "bad_container" in out and "Invalid container name: 'Bad_Container'" in out
    assert "the container name cannot contain binding parameters" in out
    assert "A blob path must stay inside its container" in out
    assert host.client.get("/api/ok").text == "ok"
