"""The warmup trigger: `/admin/warmup` runs the app's `warmup` function, once a host process."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import HTTP_FUNCTION_JSON, RunningHost, StartHost, write_app
from tests.stores import Backend, eventually

REASON = "Reason='This function was programmatically called via the host APIs.'"

V1_WARMUP_JSON = json.dumps(
    {
        "bindings": [
            {"type": "warmupTrigger", "direction": "in", "name": "warmupContext"},
            {
                "type": "queue",
                "direction": "out",
                "name": "ready",
                "queueName": "instance-ready",
                "connection": "AzureWebJobsStorage",
            },
        ]
    }
)

V1_WARMUP = """\
import logging

import azure.functions as func
from azure.functions.warmup import WarmUpContext


def main(warmupContext: WarmUpContext, ready: func.Out[str]) -> None:
    logging.info("cache primed with a %s", type(warmupContext).__name__)
    ready.set("primed")
"""

V2_APP = """\
import logging

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.warm_up_trigger("context")
def warmup(context) -> None:
    logging.info("v2 instance is warm")


@app.warm_up_trigger("context")
def prime(context) -> None:
    logging.info("prime ran")


@app.route(route="hello")
def hello(req: func.HttpRequest) -> str:
    return "hello"
"""

FAILING_APP = """\
import azure.functions as func

app = func.FunctionApp()


@app.warm_up_trigger("context")
def WarmUp(context) -> None:
    raise RuntimeError("the cache is unreachable")
"""


def _v2_app(root: Path, source: str = V2_APP) -> Path:
    return write_app(root, {"function_app.py": source})


def _executions(host: RunningHost, name: str) -> int:
    return host.output().count(f"Executing 'Functions.{name}'")


def test_v1_warmup_function_loads_and_runs_once_with_its_outputs(
    start_host: StartHost, backend: Backend, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "v1",
        {
            "warmup/function.json": V1_WARMUP_JSON,
            "warmup/__init__.py": V1_WARMUP,
            "Hello/function.json": HTTP_FUNCTION_JSON,
            "Hello/__init__.py": "def main(req):\n    return 'hello'\n",
        },
    )
    host = start_host(app, env=backend.settings)
    out = host.output()
    assert "\twarmup: warmupTrigger" in out
    assert "failed to load" not in out
    response = host.client.get("/admin/warmup")
    assert (response.status_code, response.content) == (200, b"")
    out = host.wait_for_output("Executed 'Functions.warmup' (Succeeded")
    assert f"Executing 'Functions.warmup' ({REASON}" in out
    assert "cache primed with a WarmUpContext" in out
    assert eventually(lambda: backend.client(app).take("instance-ready")) == ["primed"]
    # The host runs it on an instance's first warmup request only.
    assert host.client.get("/admin/warmup").status_code == 200
    assert host.client.post("/admin/warmup").status_code == 200
    host.client.get("/api/Hello")
    host.wait_for_output("Executed 'Functions.Hello'")
    assert host.output().count("cache primed with a WarmUpContext") == 1
    assert _executions(host, "warmup") == 1
    # It is no HTTP function.
    assert host.client.get("/api/warmup").status_code == 404
    assert host.client.get("/api/Hello").text == "hello"


def test_v2_warmup_runs_by_post_without_the_admin_guard_and_only_the_one_named_warmup(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(_v2_app(tmp_path / "v2"))
    assert "\tprime: warmupTrigger" in host.output()
    # Anonymous in the host: no key, and no same-machine rule for the admin API.
    response = host.client.post("/admin/WarmUp/", headers={"Origin": "http://example.com"})
    assert (response.status_code, response.content) == (200, b"")
    host.wait_for_output("v2 instance is warm")
    assert _executions(host, "warmup") == 1
    assert _executions(host, "prime") == 0
    # The admin API runs any warmup-triggered function, as any other non-HTTP trigger.
    assert host.client.post("/admin/functions/prime", json={"input": "x"}).status_code == 202
    host.wait_for_output("Executed 'Functions.prime' (Succeeded")
    assert "prime ran" in host.output()


def test_serve_runs_warmup_without_a_key_but_the_admin_api_still_needs_one(
    start_host: StartHost, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    host = start_host(
        _v2_app(tmp_path / "v2"), command="serve", env={"FUNCTIONS_SECRETS_PATH": str(secrets)}
    )
    assert host.client.get("/admin/warmup").status_code == 200
    host.wait_for_output("Executed 'Functions.warmup' (Succeeded")
    assert "v2 instance is warm" in host.output()
    assert host.client.post("/admin/functions/warmup", json={}).status_code == 401
    master = json.loads((secrets / "host.json").read_text())["masterKey"]["value"]
    invoked = host.client.post(
        "/admin/functions/warmup", json={}, headers={"x-functions-key": master}
    )
    assert invoked.status_code == 202
    eventually(lambda: _executions(host, "warmup") == 2)


def test_warmup_without_a_warmup_function_answers_200(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "v1",
        {
            "Hello/function.json": HTTP_FUNCTION_JSON,
            "Hello/__init__.py": "def main(req):\n    return 'hello'\n",
        },
    )
    host = start_host(app)
    response = host.client.get("/admin/warmup")
    assert (response.status_code, response.content) == (200, b"")
    assert host.client.get("/api/Hello").text == "hello"
    out = host.wait_for_output("Executed 'Functions.Hello'")
    assert out.count("Executing ") == 1


def test_a_failing_warmup_answers_500_then_200(start_host: StartHost, tmp_path: Path) -> None:
    host = start_host(_v2_app(tmp_path / "v2", FAILING_APP))
    response = host.client.get("/admin/warmup")
    assert (response.status_code, response.content) == (500, b"")
    out = host.wait_for_output("Executed 'Functions.WarmUp' (Failed")
    assert "RuntimeError: the cache is unreachable" in out
    assert host.client.get("/admin/warmup").status_code == 200
    assert _executions(host, "WarmUp") == 1


def test_a_disabled_warmup_function_answers_404(start_host: StartHost, tmp_path: Path) -> None:
    host = start_host(_v2_app(tmp_path / "v2"), env={"AzureWebJobs.warmup.Disabled": "true"})
    assert "\twarmup: warmupTrigger (disabled)" in host.output()
    assert host.client.get("/admin/warmup").status_code == 404
    assert _executions(host, "warmup") == 0
