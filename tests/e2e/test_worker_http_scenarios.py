"""HTTP scenarios of the real Python worker's own test suite that funchost once answered
differently, each run through `funchost start` with an app of funchost's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import StartHost, write_app

UNPRINTABLE_ERROR_APP = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("this message cannot be built")


@app.route(route="unprintable")
def unprintable(req: func.HttpRequest) -> str:
    raise Unprintable("hidden")
"""


def test_exception_whose_str_raises_is_reported_with_the_workers_wording(
    tmp_path: Path, start_host: StartHost
) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": UNPRINTABLE_ERROR_APP})
    host = start_host(app)
    assert host.client.get("/api/unprintable").status_code == 500
    out = host.wait_for_output("Executed 'Functions.unprintable' (Failed")
    assert (
        "Exception: Unhandled exception in function. "
        "Could not serialize original exception message." in out
    )
    assert "Logging error" not in out
    assert host.client.get("/api/unprintable").status_code == 500


STREAMING_APP = """
import azure.functions as func
from azurefunctions.extensions.http.fastapi import JSONResponse, Request

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="streamed")
async def streamed(req: Request) -> JSONResponse:
    return JSONResponse({"method": req.method})


@app.route(route="classic")
def classic(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("classic")


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *")
def yearly(timer: func.TimerRequest) -> None:
    pass
"""

STREAMING_REFUSED = (
    "funchost does not support the azurefunctions-extensions-http-fastapi extension "
    "(HTTP streaming) yet"
)


def test_http_streaming_extension_refuses_the_apps_http_functions_plainly(
    tmp_path: Path, start_host: StartHost
) -> None:
    # The worker serves every HTTP function of such an app through the extension, so none of
    # them would behave here as in Azure; its other functions still load.
    app = write_app(tmp_path / "app", {"function_app.py": STREAMING_APP})
    host = start_host(app)
    out = host.output()
    assert (
        f"streamed (function_app.py): cannot load the streamed function: {STREAMING_REFUSED}" in out
    )
    assert (
        f"classic (function_app.py): cannot load the classic function: {STREAMING_REFUSED}" in out
    )
    assert "does not match its Python annotation" not in out
    assert "yearly: timerTrigger" in out
    assert host.client.get("/api/streamed").status_code == 404
    assert host.client.get("/api/classic").status_code == 404
    errors = host.client.get("/admin/host/status").json()["errors"]
    assert any(STREAMING_REFUSED in e for e in errors)


# An SDK-type binding package of this test's own, in the extensions' namespace, the way
# azurefunctions-extensions-bindings-blob declares BlobClient.
SDK_TYPE_PACKAGE = """
from azurefunctions.extensions.base import SdkType


class DemoClient(SdkType):
    def get_sdk_type(self):
        return self
"""

SDK_TYPE_APP = """
import azure.functions as func
from azurefunctions.extensions.bindings.demo import DemoClient

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="peek")
@app.blob_input(arg_name="client", path="box/item.txt", connection="")
def peek(req: func.HttpRequest, client: DemoClient) -> str:
    return "never"


@app.route(route="plain")
def plain(req: func.HttpRequest) -> str:
    return "plain"
"""


def test_sdk_type_binding_is_refused_plainly(tmp_path: Path, start_host: StartHost) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "azurefunctions/extensions/bindings/demo/__init__.py": SDK_TYPE_PACKAGE,
            "function_app.py": SDK_TYPE_APP,
        },
    )
    host = start_host(app)
    out = host.output()
    assert (
        "peek (function_app.py): cannot load the peek function: funchost does not support "
        "SDK-type bindings yet: 'client' is annotated DemoClient from the "
        "azurefunctions-extensions-bindings-demo extension" in out
    )
    assert host.client.get("/api/peek").status_code == 404
    assert host.client.get("/api/plain").text == "plain"


WORKING_FOLDER_APP = """
import json
import os

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="where")
def where(req: func.HttpRequest) -> str:
    with open("data/greeting.txt") as f:
        greeting = f.read()
    return json.dumps({
        "cwd": os.getcwd(),
        "greeting": greeting,
        "app_directory": os.environ.get("FUNCTIONS_APPLICATION_DIRECTORY"),
    })
"""


@pytest.mark.parametrize("command", ["start", "serve"])
def test_functions_run_in_the_app_folder_wherever_the_host_was_started(
    tmp_path: Path, start_host: StartHost, command: str
) -> None:
    # The host starts the worker with the app folder as its working directory, so relative
    # paths mean the same locally and in Azure; the tests start funchost from the repository.
    app = write_app(
        tmp_path / "app", {"function_app.py": WORKING_FOLDER_APP, "data/greeting.txt": "hi"}
    )
    host = start_host(app, command=command)
    answer = host.client.get("/api/where")
    assert answer.status_code == 200, host.output()
    assert answer.json() == {
        "cwd": str(app.resolve()),
        "greeting": "hi",
        "app_directory": str(app.resolve()),
    }
