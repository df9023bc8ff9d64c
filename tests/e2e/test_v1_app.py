"""A function.json ("v1") app served by `funchost start` over real sockets."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import APPS, RunningHost, StartHost, free_port, launch, write_app
from tests.e2e.test_http_server import read_response


@pytest.fixture(scope="module")
def v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    # One host for the module: every test here only reads from it.
    tmp = tmp_path_factory.mktemp("v1")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FUNCTIONS_", "AzureWebJobs"))}
    env.update(XDG_DATA_HOME=str(tmp / "data"), PYTHONUNBUFFERED="1", OVERRIDDEN_BY_ENV="env-value")
    env["FUNCHOST_STATE_DIR"] = str(tmp / "state")
    port = free_port()
    cmd = [sys.executable, "-m", "funchost", "start", str(APPS / "v1"), "--port", str(port)]
    host = launch(cmd, env, tmp / "host.log", port)
    host.wait_until_ready()
    yield host
    host.stop()


def test_http_function_answers_on_default_route(v1: RunningHost) -> None:
    r = v1.client.get("/api/HttpHello", params={"name": "Ada"})
    assert r.status_code == 200
    assert r.text == "Hello, Ada!"
    assert r.headers["my-http-header"] == "some-value"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_route_matching_is_case_insensitive(v1: RunningHost) -> None:
    assert v1.client.get("/API/httphello?name=x").text == "Hello, x!"


def test_get_json_reads_the_body(v1: RunningHost) -> None:
    r = v1.client.post("/api/HttpHello", json={"name": "Json"})
    assert r.text == "Hello, Json!"


def test_methods_filter_gives_404_for_other_methods(v1: RunningHost) -> None:
    assert v1.client.delete("/api/HttpHello").status_code == 404
    assert v1.client.post("/api/items/1").status_code == 404


def test_route_constraints_and_optional_parameters(v1: RunningHost) -> None:
    assert v1.client.get("/api/items/42").json() == {"id": "42"}
    assert v1.client.get("/api/items/42/bob").json() == {"id": "42", "name": "bob"}
    assert v1.client.get("/api/items/abc").status_code == 404


def test_request_shape_seen_by_the_function(v1: RunningHost) -> None:
    r = v1.client.get(
        "/api/echo/a/b?x=1&x=2&empty=&y=z", headers={"X-Custom": "Value", "X-Multi": "a"}
    )
    data = r.json()
    assert data["method"] == "GET"
    assert data["url"] == f"{v1.base_url}/api/echo/a/b?x=1&x=2&empty=&y=z"
    assert data["headers"]["x-custom"] == "Value"
    assert all(k == k.lower() for k in data["headers"])
    assert data["params"] == {"x": "1,2", "y": "z"}
    assert data["route_params"] == {"rest": "a/b"}


def test_form_and_files_are_parsed(v1: RunningHost) -> None:
    r = v1.client.post(
        "/api/echo", data={"a": "1"}, files={"upload": ("f.txt", b"file-content", "text/plain")}
    )
    data = r.json()
    assert data["form"] == {"a": ["1"]}
    assert data["files"] == {"upload": "file-content"}


def test_invalid_json_body_raises_value_error_in_function(v1: RunningHost) -> None:
    r = v1.client.post(
        "/api/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.json()["json"] == "<invalid>"
    assert r.json()["body_length"] == 9


def test_str_return_becomes_text_body(v1: RunningHost) -> None:
    r = v1.client.get("/api/StrReturn?user=Bob")
    assert r.status_code == 200
    assert r.text == "Hello, Bob!"


def test_out_binding_response(v1: RunningHost) -> None:
    r = v1.client.get("/api/OutResponse")
    assert r.status_code == 201
    assert r.text == "via out binding"


def test_unhandled_exception_gives_500_with_empty_body_and_logs_it(v1: RunningHost) -> None:
    r = v1.client.get("/api/Boom")
    assert r.status_code == 500
    assert r.content == b""
    out = v1.wait_for_output("Exception: ValueError: secret-detail-do-not-leak")
    assert re.search(r"Executed 'Functions.Boom' \(Failed, Id=[0-9a-f-]{36}, Duration=\d+ms\)", out)


def test_return_value_without_return_binding_fails(v1: RunningHost) -> None:
    assert v1.client.get("/api/ReturnsWithoutBinding").status_code == 500
    v1.wait_for_output("without a $return bindingreturned a non-None value")  # the worker's


def test_unknown_route_is_404_with_empty_body(v1: RunningHost) -> None:
    r = v1.client.get("/api/nope")
    assert r.status_code == 404
    assert r.content == b""


def test_alternate_entry_point_relative_and_absolute_imports(v1: RunningHost) -> None:
    assert v1.client.get("/api/AltEntry").text == "Hello, relative!"


def test_deprecated_app_import_works_and_warns(v1: RunningHost) -> None:
    assert v1.client.get("/api/Deprecated").text == "Hello, deprecated!"
    v1.wait_for_output("Importing 'shared_code' through '__app__' is deprecated")


def test_disabled_functions_answer_404(v1: RunningHost) -> None:
    assert v1.client.get("/api/Disabled").status_code == 404
    assert v1.client.get("/api/DisabledBySetting").status_code == 404


def test_banner_lists_functions_disabled_and_failed(v1: RunningHost) -> None:
    out = v1.output()
    assert f"\tHttpHello: [GET,POST] http://localhost:{v1.port}/api/HttpHello" in out
    assert f"\tRouteParams: [GET] http://localhost:{v1.port}/api/items/{{id:int}}/{{name?}}" in out
    assert "\tTimerJob: timerTrigger" in out
    assert (
        "\tDisabled: [GET,POST,DELETE,HEAD,PATCH,PUT,OPTIONS] "
        f"http://localhost:{v1.port}/api/Disabled (disabled)" in out
    )
    assert "/api/DisabledBySetting (disabled)" in out
    assert "BadJson (BadJson/function.json): BadJson/function.json: invalid JSON at line 2" in out
    assert "ImportFails (ImportFails/__init__.py): cannot load function ImportFails: " in out
    assert "ModuleNotFoundError: No module named 'module_that_does_not_exist_xyz'" in out
    assert "requirements.txt" in out
    assert (
        "cannot load the Mismatch function: the following parameters are declared in Python "
        "but not in function.json" in out
    )
    assert "function main() is not present in NoEntry/__init__.py" in out
    assert (
        "MissingScript (MissingScript/nothere.py): Invalid script file name configuration. "
        "The 'scriptFile' property is set to a file that does not exist." in out
    )


def test_context_and_environment(v1: RunningHost) -> None:
    r = v1.client.get(
        "/api/ContextInfo",
        headers={
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "tracestate": "congo=t61rcWkgMzE",
        },
    )
    data = r.json()
    assert re.fullmatch(r"[0-9a-f-]{36}", data["invocation_id"])
    assert data["thread_local_invocation_id"] == data["invocation_id"]
    assert data["function_name"] == "ContextInfo"
    assert data["function_directory"] == str(APPS / "v1" / "ContextInfo")
    assert data["trace_parent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert data["trace_parent"] == data["Traceparent"]
    assert data["trace_state"] == "congo=t61rcWkgMzE"
    assert data["retry_count"] == 0 and data["max_retry_count"] == 0
    assert data["thread"].startswith("funchost")
    env = data["env"]
    assert env["AzureWebJobsScriptRoot"] == str(APPS / "v1")
    assert env["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert env["AZURE_FUNCTIONS_ENVIRONMENT"] == "Development"
    assert env["WEBSITE_HOSTNAME"] == f"localhost:{v1.port}"
    assert env["FROM_LOCAL_SETTINGS"] == "local-value"
    assert env["OVERRIDDEN_BY_ENV"] == "env-value"


def test_fresh_trace_context_without_traceparent(v1: RunningHost) -> None:
    data = v1.client.get("/api/ContextInfo").json()
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", data["trace_parent"])


def test_module_globals_survive_between_invocations(v1: RunningHost) -> None:
    first = int(v1.client.get("/api/Counter").text)
    assert int(v1.client.get("/api/Counter").text) == first + 1


def test_cookies_mimetype_and_charset(v1: RunningHost) -> None:
    r = v1.client.get("/api/Cookies")
    assert r.headers["content-type"] == "text/html; charset=latin-1"
    assert r.headers.get_list("set-cookie") == [
        "a=1; domain=; path=/",
        "b=2; domain=; path=; httponly",
    ]


def test_user_logs_are_tagged_with_function_and_executing_lines(v1: RunningHost) -> None:
    v1.client.get("/api/LogLines")
    out = v1.wait_for_output("info-from-user-code")
    assert re.search(r"\[\S+Z\] \[LogLines\] info-from-user-code", out)
    assert "debug-from-user-code" not in out
    assert re.search(r"\[LogLines\] WARNING: warning-from-user-code", out)
    assert re.search(
        r"Executing 'Functions.LogLines' \(Reason='This function was programmatically called "
        r"via the host APIs.', Id=[0-9a-f-]{36}\)",
        out,
    )
    assert re.search(
        r"Executed 'Functions.LogLines' \(Succeeded, Id=[0-9a-f-]{36}, Duration=\d+ms\)", out
    )


def test_keys_not_enforced_without_enable_auth(v1: RunningHost) -> None:
    assert v1.client.get("/api/Keyed").text == "keyed ok"
    assert v1.client.get("/api/AdminOnly").text == "admin ok"
    assert v1.client.get("/admin/host/status").json()["state"] == "Running"


def test_home_page(v1: RunningHost) -> None:
    r = v1.client.get("/")
    assert r.status_code == 200
    assert "text/html" in r.headers["content-type"]


def test_admin_functions_lists_metadata(v1: RunningHost) -> None:
    data = v1.client.get("/admin/functions").json()
    names = {f["name"] for f in data}
    assert {"HttpHello", "TimerJob", "Disabled"} <= names
    one = v1.client.get("/admin/functions/HttpHello").json()
    assert one["invoke_url_template"] == f"{v1.base_url}/api/HttpHello"
    assert one["config"]["bindings"][0]["type"] == "httpTrigger"
    assert v1.client.get("/admin/functions/Nope").status_code == 404


def test_admin_invoke_runs_non_http_function_in_background(v1: RunningHost) -> None:
    r = v1.client.post("/admin/functions/TimerJob", json={"input": ""})
    assert r.status_code == 202
    v1.wait_for_output("timer ran past_due=False")


def test_status_reports_version(v1: RunningHost) -> None:
    status = v1.client.get("/admin/host/status").json()
    assert status["state"] == "Running"
    assert status["version"].startswith("4.")
    assert json.dumps(status)


def test_host_serves_pipelined_chunked_head_and_expect_continue_requests_on_one_connection(
    v1: RunningHost,
) -> None:
    with socket.create_connection(("127.0.0.1", v1.port), timeout=10) as conn:
        conn.sendall(
            b"GET /api/echo/a HTTP/1.1\r\nHost: h\r\n\r\n"
            b"POST /api/echo/b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
            b"HEAD /api/echo/c HTTP/1.1\r\nHost: h\r\n\r\n"
            b"GET /api/echo/d?q=1 HTTP/1.1\r\nHost: h\r\n\r\n"
        )
        status, _, body = read_response(conn)
        assert status == b"HTTP/1.1 200 OK" and json.loads(body)["url"] == "http://h/api/echo/a"
        assert json.loads(read_response(conn)[2])["body_text"] == "hello world"
        status, headers, body = read_response(conn)
        assert (status, body) == (b"HTTP/1.1 200 OK", b"")
        assert headers[b"content-type"] == b"application/json"
        assert json.loads(read_response(conn)[2])["url"] == "http://h/api/echo/d?q=1"
        # The host asks for the body only once the request may proceed.
        conn.sendall(
            b"POST /api/echo/e HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert conn.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(b"data")
        assert json.loads(read_response(conn)[2])["body_text"] == "data"


def test_the_query_method_loads_and_routes(start_host: StartHost, tmp_path: Path) -> None:
    # azure-functions 2.x (what Python 3.13 installs) registers QUERY for ASGI/WSGI apps; a
    # function.json names it as it likes on any version.
    app = write_app(
        tmp_path / "app",
        {
            "Search/function.json": (
                '{"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req",'
                ' "authLevel": "anonymous", "methods": ["query", "get"]},'
                ' {"type": "http", "direction": "out", "name": "$return"}]}'
            ),
            "Search/__init__.py": (
                "def main(req):\n    return req.method + ' ' + req.get_body().decode()\n"
            ),
        },
    )
    host = start_host(app)
    assert host.client.request("QUERY", "/api/Search", content=b"q=1").text == "QUERY q=1"
    assert host.client.post("/api/Search").status_code == 404
