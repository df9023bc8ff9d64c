"""Python worker extensions: the hook order and arguments of the real worker."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import StartHost, write_app

EXTENSION = """
import json, os
from azure.functions import AppExtensionBase, FuncExtensionBase

LOG = os.environ["EXT_LOG"]

def record(*item):
    with open(LOG, "a") as f:
        f.write(json.dumps(item) + "\\n")

class AppExt(AppExtensionBase):
    @classmethod
    def init(cls):
        pass

    @classmethod
    def configure(cls, *args, **kwargs):
        pass

    @classmethod
    def post_function_load_app_level(cls, function_name, function_directory, *args, **kwargs):
        record("post_function_load_app_level", function_name, os.path.basename(function_directory))

    @classmethod
    def pre_invocation_app_level(cls, logger, context, func_args, *args, **kwargs):
        record("pre_invocation_app_level", context.function_name, sorted(func_args), logger.name)

    @classmethod
    def post_invocation_app_level(cls, logger, context, func_args, func_ret, *args, **kwargs):
        record("post_invocation_app_level", context.function_name, type(func_ret).__name__)

class FuncExt(FuncExtensionBase):
    def __init__(self, file_path):
        super().__init__(file_path)

    def post_function_load(self, function_name, function_directory, *args, **kwargs):
        record("post_function_load", function_name)

    def pre_invocation(self, logger, context, func_args, *args, **kwargs):
        record("pre_invocation", context.function_name)

    def post_invocation(self, logger, context, func_args, func_ret, *args, **kwargs):
        record("post_invocation", context.function_name)
        raise RuntimeError("hook failures are logged and swallowed")
"""

FUNCTION = """
import azure.functions as func
from ext import FuncExt
fext = FuncExt(__file__)

def main(req: func.HttpRequest) -> func.HttpResponse:
    if req.params.get("fail"):
        raise ValueError("function failed")
    return func.HttpResponse("ok")
"""

FUNCTION_JSON = (
    '{"bindings": [{"authLevel": "anonymous", "type": "httpTrigger", "direction": "in",'
    ' "name": "req"}, {"type": "http", "direction": "out", "name": "$return"}]}'
)


def _extension_app(tmp_path: Path) -> Path:
    return write_app(
        tmp_path / "app",
        {"ext.py": EXTENSION, "Ext/function.json": FUNCTION_JSON, "Ext/__init__.py": FUNCTION},
    )


def _events(log: Path) -> list[list[object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_worker_extension_hooks_run_in_the_worker_order(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = _extension_app(tmp_path)
    log = tmp_path / "ext.log"
    host = start_host(app, env={"EXT_LOG": str(log), "PYTHON_ENABLE_WORKER_EXTENSIONS": "1"})
    assert _events(log) == [
        ["post_function_load", "Ext"],
        ["post_function_load_app_level", "Ext", "Ext"],
    ]
    log.write_text("")
    assert host.client.get("/api/Ext").text == "ok"
    assert _events(log) == [
        ["pre_invocation_app_level", "Ext", ["req"], "funchost.extension.AppExt"],
        ["pre_invocation", "Ext"],
        ["post_invocation", "Ext"],
        ["post_invocation_app_level", "Ext", "HttpResponse"],
    ]
    host.wait_for_output("hook failures are logged and swallowed")
    log.write_text("")
    assert host.client.get("/api/Ext?fail=1").status_code == 500
    assert _events(log) == [
        ["pre_invocation_app_level", "Ext", ["req"], "funchost.extension.AppExt"],
        ["pre_invocation", "Ext"],
    ]


def test_worker_extensions_are_off_by_default_on_this_python(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = _extension_app(tmp_path)
    log = tmp_path / "ext.log"
    host = start_host(app, env={"EXT_LOG": str(log)})
    assert host.client.get("/api/Ext").text == "ok"
    assert not log.exists()
