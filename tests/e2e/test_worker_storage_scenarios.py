"""The blob and queue scenarios of the real worker's end-to-end tests, through the running host.

Each scenario is declared the three ways an app can declare it (function.json, the v2
decorators, the v2 `generic_*` decorators) and runs on both storage backends. The shapes are
the ones those tests rely on: `Out[str]` set from bytes, `Out[io.StringIO]`, `dataType` string
and binary inputs, a `$return` blob or queue output beside an HTTP output that is never set,
a `QueueMessage` returned under a `bytes` annotation, a `str` queue trigger parameter, a list
of messages from one `Out`, and an HTTP response given through an output parameter.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import StartHost, write_app
from tests.stores import Backend, eventually

MODELS = ["function.json", "decorators", "generic"]
CONTAINER = "scenario-files"
STORAGE = "AzureWebJobsStorage"
HOST_JSON = '{"version": "2.0", "logging": {"logLevel": {"default": "Trace"}}}'

HTTP_IN = {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous"}
HTTP_RETURN = {"type": "http", "direction": "out", "name": "$return"}


def blob(name: str, direction: str, blob_name: str, **extra: str) -> dict[str, str]:
    return {
        "type": "blob",
        "direction": direction,
        "name": name,
        "connection": STORAGE,
        "path": f"{CONTAINER}/{blob_name}",
        **extra,
    }


def queue(name: str, direction: str, queue_name: str) -> dict[str, str]:
    kind = "queueTrigger" if direction == "trigger" else "queue"
    return {
        "type": kind,
        "direction": "in" if direction == "trigger" else direction,
        "name": name,
        "queueName": queue_name,
        "connection": STORAGE,
    }


def v1_functions(functions: dict[str, tuple[list[dict[str, str]], str]]) -> dict[str, str]:
    files = {"host.json": HOST_JSON}
    for name, (bindings, code) in functions.items():
        files[f"{name}/function.json"] = json.dumps({"scriptFile": "main.py", "bindings": bindings})
        files[f"{name}/main.py"] = code
    return files


READ_STREAM = (
    "import azure.functions as func\n"
    "def main(req: func.HttpRequest, doc: func.InputStream) -> str:\n"
    "    return doc.read().decode('utf-8')\n"
)

BLOB_V1 = v1_functions(
    {
        "save_text": (
            [HTTP_IN, blob("doc", "out", "text.txt"), HTTP_RETURN],
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest, doc: func.Out[str]) -> str:\n"
            "    doc.set(req.get_body())\n"
            "    return 'saved'\n",
        ),
        "text_as_stream": ([HTTP_IN, blob("doc", "in", "text.txt"), HTTP_RETURN], READ_STREAM),
        "text_as_str": (
            [HTTP_IN, blob("doc", "in", "text.txt", dataType="string"), HTTP_RETURN],
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest, doc: str) -> str:\n"
            "    assert isinstance(doc, str)\n"
            "    return doc\n",
        ),
        "save_bytes": (
            [HTTP_IN, blob("doc", "out", "data.bin"), HTTP_RETURN],
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest, doc: func.Out[bytes]) -> str:\n"
            "    doc.set(req.get_body())\n"
            "    return 'saved'\n",
        ),
        "bytes_as_stream": ([HTTP_IN, blob("doc", "in", "data.bin"), HTTP_RETURN], READ_STREAM),
        "bytes_as_bytes": (
            [HTTP_IN, blob("doc", "in", "data.bin", dataType="binary"), HTTP_RETURN],
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest, doc: bytes) -> str:\n"
            "    assert isinstance(doc, bytes)\n"
            "    return doc.decode('utf-8')\n",
        ),
        "save_file_object": (
            [HTTP_IN, blob("doc", "out", "file-object.txt"), HTTP_RETURN],
            "import io\n"
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest, doc: func.Out[io.StringIO]) -> str:\n"
            "    doc.set(io.StringIO('written from a file object'))\n"
            "    return 'saved'\n",
        ),
        "file_object_back": (
            [HTTP_IN, blob("doc", "in", "file-object.txt"), HTTP_RETURN],
            READ_STREAM,
        ),
        # The return value goes to a blob and no HTTP output is declared.
        "save_returned": (
            [HTTP_IN, blob("$return", "out", "returned.txt")],
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest) -> str:\n"
            "    return 'the returned value'\n",
        ),
        "returned_back": ([HTTP_IN, blob("doc", "in", "returned.txt"), HTTP_RETURN], READ_STREAM),
        "on_upload": (
            [
                {
                    "type": "blobTrigger",
                    "direction": "in",
                    "name": "doc",
                    "connection": STORAGE,
                    "path": f"{CONTAINER}/upload.txt",
                },
                blob("$return", "out", "upload-seen.json"),
            ],
            "import json\n"
            "import azure.functions as func\n"
            "def main(doc: func.InputStream) -> str:\n"
            "    return json.dumps({'name': doc.name, 'length': doc.length,\n"
            "                       'content': doc.read().decode('utf-8')})\n",
        ),
    }
)

BLOB_DECORATORS = {
    "host.json": HOST_JSON,
    "function_app.py": f'''
import io
import json
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
C = "{CONTAINER}"

@app.route(route="save_text")
@app.blob_output(arg_name="doc", path=f"{{C}}/text.txt", connection="{STORAGE}")
def save_text(req: func.HttpRequest, doc: func.Out[str]) -> str:
    doc.set(req.get_body())
    return "saved"

@app.route(route="text_as_stream")
@app.blob_input(arg_name="doc", path=f"{{C}}/text.txt", connection="{STORAGE}")
def text_as_stream(req: func.HttpRequest, doc: func.InputStream) -> str:
    return doc.read().decode("utf-8")

@app.route(route="text_as_str")
@app.blob_input(arg_name="doc", path=f"{{C}}/text.txt", data_type="STRING", connection="{STORAGE}")
def text_as_str(req: func.HttpRequest, doc: str) -> str:
    assert isinstance(doc, str)
    return doc

@app.route(route="save_bytes")
@app.blob_output(arg_name="doc", path=f"{{C}}/data.bin", connection="{STORAGE}")
def save_bytes(req: func.HttpRequest, doc: func.Out[bytes]) -> str:
    doc.set(req.get_body())
    return "saved"

@app.route(route="bytes_as_stream")
@app.blob_input(arg_name="doc", path=f"{{C}}/data.bin", connection="{STORAGE}")
def bytes_as_stream(req: func.HttpRequest, doc: func.InputStream) -> str:
    return doc.read().decode("utf-8")

@app.route(route="bytes_as_bytes")
@app.blob_input(arg_name="doc", path=f"{{C}}/data.bin", data_type="BINARY", connection="{STORAGE}")
def bytes_as_bytes(req: func.HttpRequest, doc: bytes) -> str:
    assert isinstance(doc, bytes)
    return doc.decode("utf-8")

@app.route(route="save_file_object")
@app.blob_output(arg_name="doc", path=f"{{C}}/file-object.txt", connection="{STORAGE}")
def save_file_object(req: func.HttpRequest, doc: func.Out[io.StringIO]) -> str:
    doc.set(io.StringIO("written from a file object"))
    return "saved"

@app.route(route="file_object_back")
@app.blob_input(arg_name="doc", path=f"{{C}}/file-object.txt", connection="{STORAGE}")
def file_object_back(req: func.HttpRequest, doc: func.InputStream) -> str:
    return doc.read().decode("utf-8")

# The return value goes to a blob; the HTTP output is declared but never set.
@app.route(route="save_returned", binding_arg_name="answer")
@app.blob_output(arg_name="$return", path=f"{{C}}/returned.txt", connection="{STORAGE}")
def save_returned(req: func.HttpRequest, answer: func.Out[func.HttpResponse]) -> str:
    return "the returned value"

@app.route(route="returned_back")
@app.blob_input(arg_name="doc", path=f"{{C}}/returned.txt", connection="{STORAGE}")
def returned_back(req: func.HttpRequest, doc: func.InputStream) -> str:
    return doc.read().decode("utf-8")

@app.blob_trigger(arg_name="doc", path=f"{{C}}/upload.txt", connection="{STORAGE}")
@app.blob_output(arg_name="$return", path=f"{{C}}/upload-seen.json", connection="{STORAGE}")
def on_upload(doc: func.InputStream) -> str:
    return json.dumps({{"name": doc.name, "length": doc.length,
                       "content": doc.read().decode("utf-8")}})
''',
}

BLOB_GENERIC = {
    "host.json": HOST_JSON,
    "function_app.py": f'''
import io
import json
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
C = "{CONTAINER}"

def http_function(name):
    def declare(f):
        f = app.generic_output_binding(arg_name="$return", type="http")(f)
        f = app.generic_trigger(arg_name="req", type="httpTrigger", route=name)(f)
        return app.function_name(name)(f)
    return declare

def blob_in(path, **extra):
    return app.generic_input_binding(arg_name="doc", type="blob", path=f"{{C}}/{{path}}",
                                     connection="{STORAGE}", **extra)

def blob_out(path, arg_name="doc"):
    return app.generic_output_binding(arg_name=arg_name, type="blob", path=f"{{C}}/{{path}}",
                                      connection="{STORAGE}")

@http_function("save_text")
@blob_out("text.txt")
def save_text(req: func.HttpRequest, doc: func.Out[str]) -> str:
    doc.set(req.get_body())
    return "saved"

@http_function("text_as_stream")
@blob_in("text.txt")
def text_as_stream(req: func.HttpRequest, doc: func.InputStream) -> str:
    return doc.read().decode("utf-8")

@http_function("text_as_str")
@blob_in("text.txt", data_type="STRING")
def text_as_str(req: func.HttpRequest, doc: str) -> str:
    assert isinstance(doc, str)
    return doc

@http_function("save_bytes")
@blob_out("data.bin")
def save_bytes(req: func.HttpRequest, doc: func.Out[bytes]) -> str:
    doc.set(req.get_body())
    return "saved"

@http_function("bytes_as_stream")
@blob_in("data.bin")
def bytes_as_stream(req: func.HttpRequest, doc: func.InputStream) -> str:
    return doc.read().decode("utf-8")

@http_function("bytes_as_bytes")
@blob_in("data.bin", data_type="BINARY")
def bytes_as_bytes(req: func.HttpRequest, doc: bytes) -> str:
    assert isinstance(doc, bytes)
    return doc.decode("utf-8")

@http_function("save_file_object")
@blob_out("file-object.txt")
def save_file_object(req: func.HttpRequest, doc: func.Out[io.StringIO]) -> str:
    doc.set(io.StringIO("written from a file object"))
    return "saved"

@http_function("file_object_back")
@blob_in("file-object.txt")
def file_object_back(req: func.HttpRequest, doc: func.InputStream) -> str:
    return doc.read().decode("utf-8")

# The return value goes to a blob and no HTTP output is declared.
@app.function_name("save_returned")
@app.generic_trigger(arg_name="req", type="httpTrigger", route="save_returned")
@blob_out("returned.txt", arg_name="$return")
def save_returned(req: func.HttpRequest) -> str:
    return "the returned value"

@http_function("returned_back")
@blob_in("returned.txt")
def returned_back(req: func.HttpRequest, doc: func.InputStream) -> str:
    return doc.read().decode("utf-8")

@app.function_name("on_upload")
@app.generic_trigger(arg_name="doc", type="blobTrigger", path=f"{{C}}/upload.txt",
                     connection="{STORAGE}")
@blob_out("upload-seen.json", arg_name="$return")
def on_upload(doc: func.InputStream) -> str:
    return json.dumps({{"name": doc.name, "length": doc.length,
                       "content": doc.read().decode("utf-8")}})
''',
}

RECORD_MESSAGE = (
    "import json\n"
    "import azure.functions as func\n"
    "def when(t):\n"
    "    return t.isoformat() if t else None\n"
    "def main(msg: func.QueueMessage) -> str:\n"
    "    return json.dumps({'id': msg.id, 'body': msg.get_body().decode('utf-8'),\n"
    "        'expiration_time': when(msg.expiration_time),\n"
    "        'insertion_time': when(msg.insertion_time),\n"
    "        'time_next_visible': when(msg.time_next_visible),\n"
    "        'pop_receipt': msg.pop_receipt, 'dequeue_count': msg.dequeue_count})\n"
)
BODY_TO_BLOB = (
    "import azure.functions as func\n"
    "def main(msg: func.QueueMessage) -> bytes:\n"
    "    return msg.get_body()\n"
)

QUEUE_V1 = v1_functions(
    {
        "enqueue": (
            [HTTP_IN, queue("out", "out", "scenario-plain"), HTTP_RETURN],
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest, out: func.Out[str]):\n"
            "    out.set(req.get_body())\n"
            "    return 'queued'\n",
        ),
        "on_plain": (
            [queue("msg", "trigger", "scenario-plain"), blob("$return", "out", "plain.json")],
            RECORD_MESSAGE,
        ),
        "enqueue_returned": (
            [HTTP_IN, queue("$return", "out", "scenario-returned")],
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest) -> bytes:\n"
            "    return req.get_body()\n",
        ),
        "on_returned": (
            [queue("msg", "trigger", "scenario-returned"), blob("$return", "out", "returned.txt")],
            BODY_TO_BLOB,
        ),
        "enqueue_message": (
            [HTTP_IN, queue("$return", "out", "scenario-message")],
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest) -> bytes:\n"
            "    return func.QueueMessage(body=req.get_body())\n",
        ),
        "on_message": (
            [queue("msg", "trigger", "scenario-message"), blob("$return", "out", "message.txt")],
            "def main(msg: str) -> str:\n    return msg\n",
        ),
        "enqueue_list": (
            [HTTP_IN, queue("batch", "out", "scenario-list")],
            "import typing\n"
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest, batch: func.Out[typing.List[str]]):\n"
            "    batch.set(['first', 'second'])\n",
        ),
        "on_list": (
            [
                queue("msg", "trigger", "scenario-list"),
                blob("copy", "out", "list-{queueTrigger}.txt"),
            ],
            "import azure.functions as func\n"
            "def main(msg: func.QueueMessage, copy: func.Out[bytes]) -> None:\n"
            "    copy.set(msg.get_body())\n",
        ),
        "enqueue_and_answer": (
            [
                HTTP_IN,
                {"type": "http", "direction": "out", "name": "reply"},
                queue("note", "out", "scenario-answered"),
            ],
            "import azure.functions as func\n"
            "def main(req: func.HttpRequest, reply: func.Out[func.HttpResponse],\n"
            "         note: func.Out[func.QueueMessage]) -> None:\n"
            "    text = req.get_body().decode()\n"
            "    note.set(func.QueueMessage(body=text))\n"
            "    reply.set(func.HttpResponse(body=f'answered {text}'))\n",
        ),
    }
)

QUEUE_DECORATORS = {
    "host.json": HOST_JSON,
    "function_app.py": f'''
import json
import typing
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
C = "{CONTAINER}"
S = "{STORAGE}"

def when(t):
    return t.isoformat() if t else None

@app.route(route="enqueue")
@app.queue_output(arg_name="out", queue_name="scenario-plain", connection=S)
def enqueue(req: func.HttpRequest, out: func.Out[str]):
    out.set(req.get_body())
    return "queued"

@app.queue_trigger(arg_name="msg", queue_name="scenario-plain", connection=S)
@app.blob_output(arg_name="$return", path=f"{{C}}/plain.json", connection=S)
def on_plain(msg: func.QueueMessage) -> str:
    return json.dumps({{"id": msg.id, "body": msg.get_body().decode("utf-8"),
        "expiration_time": when(msg.expiration_time),
        "insertion_time": when(msg.insertion_time),
        "time_next_visible": when(msg.time_next_visible),
        "pop_receipt": msg.pop_receipt, "dequeue_count": msg.dequeue_count}})

# The return value goes to a queue; the HTTP output is declared but never set.
@app.route(route="enqueue_returned", binding_arg_name="reply")
@app.queue_output(arg_name="$return", queue_name="scenario-returned", connection=S)
def enqueue_returned(req: func.HttpRequest, reply: func.Out[str]) -> bytes:
    return req.get_body()

@app.queue_trigger(arg_name="msg", queue_name="scenario-returned", connection=S)
@app.blob_output(arg_name="$return", path=f"{{C}}/returned.txt", connection=S)
def on_returned(msg: func.QueueMessage) -> bytes:
    return msg.get_body()

@app.route(route="enqueue_message", binding_arg_name="reply")
@app.queue_output(arg_name="$return", queue_name="scenario-message", connection=S)
def enqueue_message(req: func.HttpRequest, reply: func.Out[str]) -> bytes:
    return func.QueueMessage(body=req.get_body())

@app.queue_trigger(arg_name="msg", queue_name="scenario-message", connection=S)
@app.blob_output(arg_name="$return", path=f"{{C}}/message.txt", connection=S)
def on_message(msg: str) -> str:
    return msg

@app.route(route="enqueue_list", binding_arg_name="reply")
@app.queue_output(arg_name="batch", queue_name="scenario-list", connection=S)
def enqueue_list(req: func.HttpRequest, reply: func.Out[str],
                 batch: func.Out[typing.List[str]]):
    batch.set(["first", "second"])

@app.queue_trigger(arg_name="msg", queue_name="scenario-list", connection=S)
@app.blob_output(arg_name="copy", path=f"{{C}}/list-{{{{queueTrigger}}}}.txt", connection=S)
def on_list(msg: func.QueueMessage, copy: func.Out[bytes]) -> None:
    copy.set(msg.get_body())

@app.route(route="enqueue_and_answer", binding_arg_name="reply")
@app.queue_output(arg_name="note", queue_name="scenario-answered", connection=S)
def enqueue_and_answer(req: func.HttpRequest, reply: func.Out[func.HttpResponse],
                       note: func.Out[func.QueueMessage]) -> None:
    text = req.get_body().decode()
    note.set(func.QueueMessage(body=text))
    reply.set(func.HttpResponse(body=f"answered {{text}}"))
''',
}

QUEUE_GENERIC = {
    "host.json": HOST_JSON,
    "function_app.py": f'''
import json
import typing
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
C = "{CONTAINER}"
S = "{STORAGE}"

def when(t):
    return t.isoformat() if t else None

def http_function(name, response="$return"):
    def declare(f):
        f = app.generic_output_binding(arg_name=response, type="http")(f)
        f = app.generic_trigger(arg_name="req", type="httpTrigger", route=name)(f)
        return app.function_name(name)(f)
    return declare

def queue_function(name, queue_name):
    def declare(f):
        f = app.generic_trigger(arg_name="msg", type="queueTrigger", queue_name=queue_name,
                                connection=S)(f)
        return app.function_name(name)(f)
    return declare

def queue_out(arg_name, queue_name):
    return app.generic_output_binding(arg_name=arg_name, type="queue", queue_name=queue_name,
                                      connection=S)

def blob_out(arg_name, path):
    return app.generic_output_binding(arg_name=arg_name, type="blob", path=f"{{C}}/{{path}}",
                                      connection=S)

@http_function("enqueue")
@queue_out("out", "scenario-plain")
def enqueue(req: func.HttpRequest, out: func.Out[str]):
    out.set(req.get_body())
    return "queued"

@queue_function("on_plain", "scenario-plain")
@blob_out("$return", "plain.json")
def on_plain(msg: func.QueueMessage) -> str:
    return json.dumps({{"id": msg.id, "body": msg.get_body().decode("utf-8"),
        "expiration_time": when(msg.expiration_time),
        "insertion_time": when(msg.insertion_time),
        "time_next_visible": when(msg.time_next_visible),
        "pop_receipt": msg.pop_receipt, "dequeue_count": msg.dequeue_count}})

# The return value goes to a queue; the HTTP output is declared but never set.
@http_function("enqueue_returned", response="reply")
@queue_out("$return", "scenario-returned")
def enqueue_returned(req: func.HttpRequest, reply: func.Out[str]) -> bytes:
    return req.get_body()

@queue_function("on_returned", "scenario-returned")
@blob_out("$return", "returned.txt")
def on_returned(msg: func.QueueMessage) -> bytes:
    return msg.get_body()

@http_function("enqueue_message", response="reply")
@queue_out("$return", "scenario-message")
def enqueue_message(req: func.HttpRequest, reply: func.Out[str]) -> bytes:
    return func.QueueMessage(body=req.get_body())

@queue_function("on_message", "scenario-message")
@blob_out("$return", "message.txt")
def on_message(msg: str) -> str:
    return msg

@http_function("enqueue_list", response="reply")
@queue_out("batch", "scenario-list")
def enqueue_list(req: func.HttpRequest, reply: func.Out[str],
                 batch: func.Out[typing.List[str]]):
    batch.set(["first", "second"])

@queue_function("on_list", "scenario-list")
@blob_out("copy", "list-{{queueTrigger}}.txt")
def on_list(msg: func.QueueMessage, copy: func.Out[bytes]) -> None:
    copy.set(msg.get_body())

@http_function("enqueue_and_answer", response="reply")
@queue_out("note", "scenario-answered")
def enqueue_and_answer(req: func.HttpRequest, reply: func.Out[func.HttpResponse],
                       note: func.Out[func.QueueMessage]) -> None:
    text = req.get_body().decode()
    note.set(func.QueueMessage(body=text))
    reply.set(func.HttpResponse(body=f"answered {{text}}"))
''',
}

BLOB_APPS = dict(zip(MODELS, [BLOB_V1, BLOB_DECORATORS, BLOB_GENERIC], strict=True))
QUEUE_APPS = dict(zip(MODELS, [QUEUE_V1, QUEUE_DECORATORS, QUEUE_GENERIC], strict=True))


def answer(client: httpx.Client, method: str, function: str, body: bytes = b"") -> tuple[int, str]:
    response = client.request(method, f"/api/{function}", content=body)
    return response.status_code, response.text


def assert_all_loaded(client: httpx.Client) -> None:
    status = client.get("/admin/host/status").json()
    assert status["state"] == "Running"
    assert not status.get("errors")


@pytest.mark.parametrize("model", MODELS)
def test_blob_outputs_inputs_and_triggers_in_the_shapes_the_worker_tests_use(
    start_host: StartHost, backend: Backend, tmp_path: Path, model: str
) -> None:
    app = write_app(tmp_path / "blobs", BLOB_APPS[model])
    client = start_host(app, env=backend.settings).client
    assert_all_loaded(client)

    # Out[str] set from the request's bytes; read back as a stream and as dataType string.
    assert answer(client, "POST", "save_text", b"some text") == (200, "saved")
    assert answer(client, "GET", "text_as_stream") == (200, "some text")
    assert answer(client, "GET", "text_as_str") == (200, "some text")

    # Out[bytes] with UTF-8 beyond ASCII; read back as a stream and as dataType binary.
    assert answer(client, "POST", "save_bytes", "dată".encode()) == (200, "saved")
    assert answer(client, "POST", "bytes_as_stream") == (200, "dată")
    assert answer(client, "POST", "bytes_as_bytes") == (200, "dată")

    # Out[io.StringIO]: the file object's content is the blob.
    assert answer(client, "POST", "save_file_object") == (200, "saved")
    assert answer(client, "POST", "file_object_back") == (200, "written from a file object")

    # $return to a blob with no HTTP response given: 200, empty.
    assert answer(client, "POST", "save_returned") == (200, "")
    assert answer(client, "POST", "returned_back") == (200, "the returned value")

    # A blob the host did not write (any client of the account) fires the trigger.
    store = backend.client(app)
    store.put_blob(CONTAINER, "upload.txt", b"uploaded content")

    def seen() -> dict[str, Any] | None:
        found = store.get_blob(CONTAINER, "upload-seen.json")
        return None if found is None else dict(json.loads(found))

    assert eventually(seen) == {
        "name": f"{CONTAINER}/upload.txt",
        "length": len(b"uploaded content"),
        "content": "uploaded content",
    }


@pytest.mark.parametrize("model", MODELS)
def test_queue_outputs_reach_their_triggers_in_the_shapes_the_worker_tests_use(
    start_host: StartHost, backend: Backend, tmp_path: Path, model: str
) -> None:
    app = write_app(tmp_path / "queues", QUEUE_APPS[model])
    client = start_host(app, env=backend.settings).client
    assert_all_loaded(client)
    store = backend.client(app)

    def blob_text(name: str) -> str:
        found = store.get_blob(CONTAINER, name)
        return "" if found is None else found.decode()

    # Out[str] set from bytes; the trigger sees the message and all its metadata.
    assert answer(client, "POST", "enqueue", b"first message") == (200, "queued")
    seen = json.loads(eventually(lambda: blob_text("plain.json")))
    assert seen["body"] == "first message" and seen["dequeue_count"] == 1
    for field in ("id", "expiration_time", "insertion_time", "time_next_visible", "pop_receipt"):
        assert seen[field], field

    # $return to a queue, the HTTP output never set: 200, empty.
    assert answer(client, "POST", "enqueue_returned", b"by return") == (200, "")
    assert eventually(lambda: blob_text("returned.txt")) == "by return"

    # A QueueMessage returned under a `bytes` annotation; a trigger parameter typed `str`.
    assert answer(client, "POST", "enqueue_message", b"as an object") == (200, "")
    assert eventually(lambda: blob_text("message.txt")) == "as an object"

    # One Out[List[str]] sends one message per element; the caller gets a 2xx.
    status, _ = answer(client, "POST", "enqueue_list")
    assert 200 <= status < 300
    assert eventually(
        lambda: store.blob_names(CONTAINER, "list-") == ["list-first.txt", "list-second.txt"]
    )

    # The HTTP response through an output parameter, beside a queue output parameter.
    assert answer(client, "POST", "enqueue_and_answer", b"foo") == (200, "answered foo")
    assert eventually(lambda: store.take("scenario-answered")) == ["foo"]


RETRIED_TIMER = """
import json
import os
import time
import azure.functions as func

app = func.FunctionApp()

@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True,
                   use_monitor=False)
@app.retry(strategy="exponential_backoff", max_retry_count="5",
           minimum_interval="00:00:00.25", maximum_interval="00:00:10")
def keeps_failing(timer: func.TimerRequest, context: func.Context) -> None:
    with open(os.environ["ATTEMPTS_FILE"], "a") as attempts:
        attempts.write(json.dumps({"retry": context.retry_context.retry_count,
                                   "max": context.retry_context.max_retry_count,
                                   "at": time.time()}) + "\\n")
    if context.retry_context.retry_count < context.retry_context.max_retry_count:
        raise RuntimeError("not yet")
"""


def test_exponential_retries_wait_as_the_webjobs_sdk_strategy_does(
    start_host: StartHost, backend: Backend, tmp_path: Path
) -> None:
    # The SDK's randomized strategy: the first retry waits the minimum interval, retry n the
    # minimum plus the minimum times 2**(n-2), give or take 20 %, never more than the maximum.
    app = write_app(
        tmp_path / "retried", {"host.json": HOST_JSON, "function_app.py": RETRIED_TIMER}
    )
    attempts_file = tmp_path / "attempts.jsonl"
    start_host(app, env={**backend.settings, "ATTEMPTS_FILE": str(attempts_file)})

    def attempts() -> list[dict[str, float]]:
        lines = attempts_file.read_text().splitlines() if attempts_file.exists() else []
        return [json.loads(line) for line in lines]

    eventually(lambda: len(attempts()) == 6, timeout=20)
    done = attempts()
    assert [(a["retry"], a["max"]) for a in done] == [(n, 5) for n in range(6)]
    gaps = [later["at"] - earlier["at"] for earlier, later in itertools.pairwise(done)]
    expected = [(0.25, 0.25), (0.45, 0.55), (0.65, 0.85), (1.05, 1.45), (1.85, 2.65)]
    for gap, (low, high) in zip(gaps, expected, strict=True):
        assert low - 0.02 <= gap <= high + 0.4, gaps


ALWAYS_FAILING_TIMER = """
import azure.functions as func

app = func.FunctionApp()

@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True,
                   use_monitor=False)
@app.retry(strategy="fixed_delay", max_retry_count="2", delay_interval="00:00:00.2")
def gives_up(timer: func.TimerRequest) -> None:
    raise RuntimeError("still broken")
"""


def test_retries_log_each_wait_and_the_final_failure_as_the_host_does(
    start_host: StartHost, backend: Backend, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "gives-up", {"host.json": HOST_JSON, "function_app.py": ALWAYS_FAILING_TIMER}
    )
    host = start_host(app, env=backend.settings)
    out = host.wait_for_output("Function execution failed after '2' retries.")
    waits = [
        line.split("] ", 1)[1]
        for line in out.splitlines()
        if "before retrying function execution" in line
    ]
    assert waits == [
        "Waiting for `00:00:00.2000000` before retrying function execution. Next attempt: "
        f"'{n}'. Max retry count: '2'."
        for n in (1, 2)
    ]
    assert out.count("Executed 'Functions.gives_up' (Failed") == 3
    assert out.index("Waiting for") > out.index("Executed 'Functions.gives_up' (Failed")
    # Nothing more once the retries are spent (the timer's next run is next year).
    assert out.count("Function execution failed after") == 1


RETRIES_ON_EVERY_TRIGGER = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.queue_trigger(arg_name="msg", queue_name="retried-orders", connection="AzureWebJobsStorage")
@app.retry(strategy="fixed_delay", max_retry_count="1", delay_interval="00:00:01")
def from_queue(msg: func.QueueMessage) -> None:
    pass

@app.route(route="from_http")
@app.retry(strategy="fixed_delay", max_retry_count="1", delay_interval="00:00:01")
def from_http(req: func.HttpRequest) -> str:
    return "ok"

@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", use_monitor=False)
@app.retry(strategy="fixed_delay", max_retry_count="1", delay_interval="00:00:01")
def from_timer(timer: func.TimerRequest) -> None:
    pass

@app.blob_trigger(arg_name="doc", path="retried-files/{name}", connection="AzureWebJobsStorage")
def from_blob(doc: func.InputStream) -> None:
    pass
"""


def test_retry_policies_on_triggers_without_retry_support_are_warned_about_at_startup(
    start_host: StartHost, backend: Backend, tmp_path: Path
) -> None:
    # The WebJobs SDK warns for each function whose trigger does not declare retry support
    # (of funchost's triggers, only the timer does), by the function's policy or host.json's.
    app = write_app(
        tmp_path / "warned",
        {
            "host.json": '{"version": "2.0", "retry": {"strategy": "fixedDelay",'
            ' "maxRetryCount": 1, "delayInterval": "00:00:01"}}',
            "function_app.py": RETRIES_ON_EVERY_TRIGGER,
        },
    )
    host = start_host(app, env=backend.settings)
    assert host.client.get("/api/from_http").text == "ok"
    out = host.output()
    warned = [
        line.split("] ", 1)[1]
        for line in out.splitlines()
        if "retries will not be supported" in line
    ]
    assert sorted(warned) == [
        f"Soon retries will not be supported for function 'Functions.{name}'. For more "
        "information, please visit http://aka.ms/func-retry-policies."
        for name in ("from_blob", "from_http", "from_queue")
    ]


RETRIED_HTTP = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="third_time_lucky")
@app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:00.1")
def third_time_lucky(req: func.HttpRequest, context: func.Context) -> str:
    attempt = context.retry_context.retry_count
    if attempt < 2:
        raise RuntimeError(f"attempt {attempt} failed")
    return f"answered on attempt {attempt} of {req.get_body().decode()}"

@app.route(route="by_host_json")
def by_host_json(req: func.HttpRequest, context: func.Context) -> str:
    raise RuntimeError(f"attempt {context.retry_context.retry_count} failed")
"""


def test_http_functions_are_retried_by_their_policy_before_the_caller_gets_an_answer(
    start_host: StartHost, backend: Backend, tmp_path: Path
) -> None:
    # The WebJobs SDK runs an HTTP function's invocation through the same retry loop as any
    # trigger's (with only a startup warning), by the function's policy or host.json's.
    app = write_app(
        tmp_path / "retried-http",
        {
            "host.json": '{"version": "2.0", "retry": {"strategy": "fixedDelay",'
            ' "maxRetryCount": 1, "delayInterval": "00:00:00.1"}}',
            "function_app.py": RETRIED_HTTP,
        },
    )
    host = start_host(app, env=backend.settings)
    assert answer(host.client, "POST", "third_time_lucky", b"the request") == (
        200,
        "answered on attempt 2 of the request",
    )
    assert answer(host.client, "GET", "by_host_json") == (500, "")
    out = host.wait_for_output("Function execution failed after '1' retries.")
    assert out.count("Executed 'Functions.third_time_lucky' (Failed") == 2
    assert out.count("Executed 'Functions.third_time_lucky' (Succeeded") == 1
    assert out.count("Executed 'Functions.by_host_json' (Failed") == 2
