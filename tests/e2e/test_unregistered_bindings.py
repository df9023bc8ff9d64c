"""Binding types funchost does not run fail their function with the host's message."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import HTTP_FUNCTION_JSON, StartHost, write_app

NOT_REGISTERED = (
    "The binding type(s) '{}' are not registered. Please ensure the type is correct and the "
    "binding extension is installed."
)


def _function_json(*bindings: dict[str, str]) -> str:
    return json.dumps({"bindings": list(bindings)})


def _status_errors(client: httpx.Client) -> list[str]:
    response = client.get("/admin/host/status")
    assert response.status_code == 200
    errors: list[str] = response.json()["errors"]
    return errors


def test_v1_functions_with_unregistered_binding_types_fail_and_the_rest_serve(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "v1",
        {
            "Hello/function.json": HTTP_FUNCTION_JSON,
            "Hello/__init__.py": "def main(req):\n    return 'hello'\n",
            "Changes/function.json": _function_json(
                {"type": "cosmosDBTrigger", "direction": "in", "name": "docs"}
            ),
            # Never imported: the host refuses the function before the worker loads it.
            "Changes/__init__.py": "import azure_cosmos_extension_not_installed\n",
            "Orders/function.json": _function_json(
                {"type": "serviceBusTrigger", "direction": "in", "name": "msg"},
                {"type": "cosmosDB", "direction": "out", "name": "doc"},
                {"type": "queue", "direction": "out", "name": "copy"},
                {"type": "cosmosDB", "direction": "out", "name": "other"},
            ),
            "Orders/__init__.py": "def main(msg, doc, copy, other):\n    pass\n",
            "Publish/function.json": _function_json(
                {"authLevel": "anonymous", "type": "httpTrigger", "direction": "in", "name": "req"},
                {"type": "eventHub", "direction": "out", "name": "event"},
                {"type": "http", "direction": "out", "name": "$return"},
            ),
            "Publish/__init__.py": "def main(req, event):\n    return 'sent'\n",
        },
    )
    host = start_host(app)
    out = host.wait_for_output("Functions that failed to load")
    expected = {
        "Changes": NOT_REGISTERED.format("cosmosDBTrigger"),
        "Orders": NOT_REGISTERED.format("serviceBusTrigger, cosmosDB"),
        "Publish": NOT_REGISTERED.format("eventHub"),
    }
    for name, message in expected.items():
        assert f"\t{name} (" in out
        assert f"{name}/function.json): {message}" in out
        assert f"\t{name}: " not in out.split("Functions that failed to load")[0]
    assert "azure_cosmos_extension_not_installed" not in out
    assert sorted(_status_errors(host.client)) == sorted(f"{n}: {m}" for n, m in expected.items())
    assert host.client.get("/api/Hello").text == "hello"
    assert host.client.get("/api/Publish").status_code == 404


V2_APP = """\
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello")
@app.queue_output(arg_name="copy", queue_name="copies", connection="")
@app.generic_output_binding(arg_name="note", type="queue", queueName="notes", connection="")
def hello(req: func.HttpRequest, copy: func.Out[str], note: func.Out[str]) -> str:
    return "hello"


@app.cosmos_db_trigger(
    arg_name="docs", connection="COSMOS", database_name="db", container_name="items"
)
def changes(docs: func.DocumentList) -> None:
    pass


@app.route(route="publish")
@app.event_hub_output(arg_name="event", event_hub_name="hub", connection="HUB")
def publish(req: func.HttpRequest, event: func.Out[str]) -> str:
    return "sent"


@app.generic_trigger(arg_name="msg", type="serviceBusTrigger", queueName="orders")
@app.generic_output_binding(arg_name="doc", type="cosmosDB", databaseName="db")
def orders(msg: str, doc: func.Out[str]) -> None:
    pass
"""


def test_v2_functions_with_unregistered_binding_types_fail_and_the_rest_serve(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(tmp_path / "v2", {"function_app.py": V2_APP})
    host = start_host(app)
    out = host.wait_for_output("Functions that failed to load")
    expected = {
        "changes": NOT_REGISTERED.format("cosmosDBTrigger"),
        "publish": NOT_REGISTERED.format("eventHub"),
        "orders": NOT_REGISTERED.format("serviceBusTrigger, cosmosDB"),
    }
    for name, message in expected.items():
        assert f"\t{name} (function_app.py): {message}" in out
        assert f"\t{name}: " not in out.split("Functions that failed to load")[0]
    assert "\thello: [GET," in out
    assert sorted(_status_errors(host.client)) == sorted(f"{n}: {m}" for n, m in expected.items())
    assert host.client.get("/api/hello").text == "hello"
    assert host.client.get("/api/publish").status_code == 404
