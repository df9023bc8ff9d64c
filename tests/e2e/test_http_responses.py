"""What an HTTP function's caller gets when the function gives no HTTP response, and who
answers `/`: through the running host, as the real host and worker answer."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import StartHost, write_app
from tests.stores import Backend, eventually

ANONYMOUS_TRIGGER = {
    "type": "httpTrigger",
    "direction": "in",
    "name": "req",
    "authLevel": "anonymous",
}


def function_json(*outputs: dict[str, str]) -> str:
    return json.dumps({"scriptFile": "__init__.py", "bindings": [ANONYMOUS_TRIGGER, *outputs]})


V1_APP = {
    # `$return` goes to a queue: the host answers 200 with an empty body.
    "ToQueue/function.json": function_json(
        {"type": "queue", "direction": "out", "name": "$return", "queueName": "returned-v1"}
    ),
    "ToQueue/__init__.py": (
        "import azure.functions as func\n"
        "def main(req: func.HttpRequest) -> str:\n"
        "    return req.get_body().decode()\n"
    ),
    # An `http` `$return` of None: the worker cannot encode it, the invocation fails.
    "HttpNone/function.json": function_json(
        {"type": "http", "direction": "out", "name": "$return"}
    ),
    "HttpNone/__init__.py": "def main(req):\n    return None\n",
    # No output at all: the host makes its response of the null return value, 204.
    "NoOutput/function.json": function_json(),
    "NoOutput/__init__.py": "def main(req):\n    pass\n",
}

V2_APP = {
    "function_app.py": (
        "import azure.functions as func\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "\n"
        "@app.route(route='to-queue', binding_arg_name='resp')\n"
        "@app.queue_output(arg_name='$return', queue_name='returned-v2',\n"
        "                  connection='AzureWebJobsStorage')\n"
        "def to_queue(req: func.HttpRequest, resp: func.Out[str]) -> str:\n"
        "    return req.get_body().decode()\n"
        "\n"
        "@app.route(route='http-none')\n"
        "def http_none(req: func.HttpRequest):\n"
        "    pass\n"
    ),
}

WORKER_MESSAGE = 'unable to encode outgoing TypedData: unsupported type "http"'


def test_v1_http_function_returning_to_a_queue_answers_200_empty_and_sends_the_message(
    start_host: StartHost, backend: Backend, tmp_path: Path
) -> None:
    app = write_app(tmp_path / "v1", V1_APP)
    host = start_host(app, env=backend.settings)
    store = backend.client(app)
    r = host.client.post("/api/ToQueue", content=b"hello v1")
    assert (r.status_code, r.content) == (200, b"")
    assert "content-type" not in r.headers
    assert eventually(lambda: store.take("returned-v1")) == ["hello v1"]


def test_v2_http_function_returning_to_a_queue_answers_200_empty_and_sends_the_message(
    start_host: StartHost, backend: Backend, tmp_path: Path
) -> None:
    app = write_app(tmp_path / "v2", V2_APP)
    host = start_host(app, env=backend.settings)
    store = backend.client(app)
    r = host.client.post("/api/to-queue", content=b"hello v2")
    assert (r.status_code, r.content) == (200, b"")
    assert eventually(lambda: store.take("returned-v2")) == ["hello v2"]


def test_an_http_return_of_none_fails_the_invocation_in_v1_and_v2(
    start_host: StartHost, tmp_path: Path
) -> None:
    v1 = start_host(write_app(tmp_path / "v1", V1_APP))
    v2 = start_host(write_app(tmp_path / "v2", V2_APP))
    for host, path, name in (
        (v1, "/api/HttpNone", "HttpNone"),
        (v2, "/api/http-none", "http_none"),
    ):
        r = host.client.get(path)
        assert (r.status_code, r.content) == (500, b"")
        out = host.wait_for_output(f"Executed 'Functions.{name}' (Failed")
        assert WORKER_MESSAGE in out


def test_a_v1_http_function_without_outputs_answers_204(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(write_app(tmp_path / "v1", V1_APP))
    r = host.client.get("/api/NoOutput")
    assert (r.status_code, r.content) == (204, b"")


EMPTY_PREFIX = '{"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}'


def test_a_catch_all_route_with_an_empty_prefix_answers_the_root(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "catchall",
        {
            "host.json": EMPTY_PREFIX,
            "function_app.py": (
                "import azure.functions as func\n"
                "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
                "@app.route(route='{*path}')\n"
                "def everything(req: func.HttpRequest) -> str:\n"
                "    return 'function: ' + req.route_params.get('path', '')\n"
            ),
        },
    )
    host = start_host(app)
    r = host.client.get("/")
    assert (r.status_code, r.text) == (200, "function: ")
    assert host.client.get("/a/b").text == "function: a/b"


def test_an_asgi_app_with_no_root_route_answers_its_own_404_at_the_root(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "fastapi",
        {
            "host.json": EMPTY_PREFIX,
            "function_app.py": (
                "import azure.functions as func\n"
                "from fastapi import FastAPI\n"
                "api = FastAPI()\n"
                "@api.get('/hello')\n"
                "async def hello() -> dict[str, str]:\n"
                "    return {'hello': 'world'}\n"
                "app = func.AsgiFunctionApp(app=api, http_auth_level=func.AuthLevel.ANONYMOUS)\n"
            ),
        },
    )
    host = start_host(app)
    r = host.client.get("/")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}
    assert host.client.get("/hello").json() == {"hello": "world"}


def test_the_home_page_shows_when_no_function_route_takes_the_root(
    start_host: StartHost, tmp_path: Path
) -> None:
    files = {
        "function_app.py": (
            "import azure.functions as func\n"
            "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
            "@app.route(route='{*path}', methods=['POST'])\n"
            "def posts(req: func.HttpRequest) -> str:\n"
            "    return 'posted'\n"
        ),
    }
    ordinary = start_host(write_app(tmp_path / "ordinary", files))
    r = ordinary.client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    # A catch-all under an empty prefix that takes other methods only leaves GET / to the page.
    only_post = start_host(write_app(tmp_path / "post", {**files, "host.json": EMPTY_PREFIX}))
    assert only_post.client.get("/").headers["content-type"].startswith("text/html")
    assert only_post.client.post("/").text == "posted"
    disabled = start_host(
        write_app(tmp_path / "disabled", files), env={"AzureWebJobsDisableHomepage": "true"}
    )
    r = disabled.client.get("/")
    assert (r.status_code, r.content) == (204, b"")
