"""Settings files, bad input and host options, each through the real command."""

from __future__ import annotations

import concurrent.futures
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import HTTP_FUNCTION_JSON, StartHost, free_port, launch, run_cli, write_app

V2_HELLO = """
import azure.functions as func
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="hello")
def hello(req: func.HttpRequest) -> str:
    return "hi"
"""


def _start_error(app: Path, host_env: dict[str, str], *args: str) -> str:
    result = run_cli("start", str(app), "--port", str(free_port()), *args, env=host_env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_malformed_host_json_stops_with_file_and_position(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(
        tmp_path / "app", {"host.json": '{"version": "2.0",\n  "x": }', "function_app.py": V2_HELLO}
    )
    line = _start_error(app, host_env)
    assert line.startswith("funchost: error: host.json: invalid JSON at line 2, column 8:")


def test_malformed_local_settings_stops_with_file_and_position(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(
        tmp_path / "app",
        {"local.settings.json": '{"Values": {"A": "1" "B"}}', "function_app.py": V2_HELLO},
    )
    line = _start_error(app, host_env)
    assert line.startswith(
        "funchost: error: local.settings.json: invalid JSON at line 1, column 22:"
    )


def test_encrypted_local_settings_gives_a_clear_error(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "local.settings.json": '{"IsEncrypted": true, "Values": {"A": "AQAAANCMnd8BFdERjHoAwE"}}',
            "function_app.py": V2_HELLO,
        },
    )
    line = _start_error(app, host_env)
    assert "local.settings.json: IsEncrypted is true" in line
    assert "AQAAANCMnd8BFdERjHoAwE" not in line


def test_missing_host_json_is_reported(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = tmp_path / "empty"
    app.mkdir()
    assert "no host.json found" in _start_error(app, host_env)


def test_invalid_function_timeout_is_reported(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(
        tmp_path / "app",
        {"host.json": '{"functionTimeout": "five minutes"}', "function_app.py": V2_HELLO},
    )
    assert "host.json: functionTimeout 'five minutes' is not a TimeSpan" in _start_error(
        app, host_env
    )


def test_invalid_script_file_setting_is_reported(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": V2_HELLO})
    env = {**host_env, "PYTHON_SCRIPT_FILE_NAME": "../evil.py"}
    result = run_cli("start", str(app), "--port", str(free_port()), env=env)
    assert result.returncode == 2
    assert "PYTHON_SCRIPT_FILE_NAME '../evil.py' is not a valid Python file name" in result.stderr


def test_custom_script_file_name(start_host: StartHost, tmp_path: Path) -> None:
    app = write_app(tmp_path / "app", {"app_main.py": V2_HELLO})
    host = start_host(app, env={"PYTHON_SCRIPT_FILE_NAME": "app_main.py"})
    assert host.client.get("/api/hello").text == "hi"


def test_two_function_apps_fail_with_the_worker_message(
    start_host: StartHost, tmp_path: Path
) -> None:
    code = V2_HELLO + "\nsecond = func.FunctionApp()\n"
    host = start_host(write_app(tmp_path / "app", {"function_app.py": code}))
    assert (
        "More than one FunctionApp or other top level function app instances are defined."
        in host.output()
    )


def test_no_function_app_fails_with_the_worker_message(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(write_app(tmp_path / "app", {"function_app.py": "x = 1\n"}))
    assert "Could not find top level function app instances in function_app.py." in host.output()


def test_local_settings_port_cors_and_values(
    start_host: StartHost, tmp_path: Path, host_env: dict[str, str]
) -> None:
    port = free_port()
    app = write_app(
        tmp_path / "app",
        {
            "function_app.py": V2_HELLO,
            "local.settings.json": (
                '{"Values": {"X": "1"}, "Host": {"LocalHttpPort": ' + str(port) + ", "
                '"CORS": "https://a.example, https://b.example", "CORSCredentials": true}}'
            ),
        },
    )
    host = launch(
        [sys.executable, "-m", "funchost", "start", str(app)], host_env, tmp_path / "log", port
    )
    try:
        host.wait_until_ready()
        r = httpx.get(f"{host.base_url}/api/hello", headers={"Origin": "https://b.example"})
        assert r.text == "hi"
        assert r.headers["access-control-allow-origin"] == "https://b.example"
        assert r.headers["access-control-allow-credentials"] == "true"
        other = httpx.get(f"{host.base_url}/api/hello", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        pre = httpx.options(
            f"{host.base_url}/api/hello",
            headers={
                "Origin": "https://a.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-methods"] == "POST"
        assert pre.headers["access-control-allow-headers"] == "content-type"
    finally:
        host.stop()


def test_serve_takes_cors_from_app_service_settings(start_host: StartHost, tmp_path: Path) -> None:
    host = start_host(
        write_app(tmp_path / "app", {"function_app.py": V2_HELLO}),
        command="serve",
        env={
            "WEBSITE_CORS_ALLOWED_ORIGINS": "https://portal.example,https://app.example",
            "WEBSITE_CORS_SUPPORT_CREDENTIALS": "true",
        },
    )
    r = host.client.get("/api/hello", headers={"Origin": "https://app.example"})
    assert r.text == "hi"
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    other = host.client.get("/api/hello", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    pre = host.client.options(
        "/api/hello",
        headers={"Origin": "https://portal.example", "Access-Control-Request-Method": "PUT"},
    )
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == "https://portal.example"


SLOW_DEF = """
import time
import azure.functions as func
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="slow")
def slow(req: func.HttpRequest) -> str:
    time.sleep(1)
    return "done"
"""


def _two_at_once(base_url: str) -> float:
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: httpx.get(f"{base_url}/api/slow", timeout=30), [0, 1]))
    assert [a.text for a in answers] == ["done", "done"]
    return time.monotonic() - started


def test_worker_process_count_times_thread_count_def_invocations_run_at_once(
    start_host: StartHost, tmp_path: Path
) -> None:
    # The real host starts FUNCTIONS_WORKER_PROCESS_COUNT workers, each with its threads.
    app = write_app(tmp_path / "app", {"function_app.py": SLOW_DEF})
    env = {"PYTHON_THREADPOOL_THREAD_COUNT": "1", "FUNCTIONS_WORKER_PROCESS_COUNT": "2"}
    host = start_host(app, "--no-reload", env=env)
    assert _two_at_once(host.base_url) < 1.8
    single = start_host(app, "--no-reload", env={"PYTHON_THREADPOOL_THREAD_COUNT": "1"})
    assert _two_at_once(single.base_url) >= 1.9  # one thread: one after the other


def test_worker_process_count_out_of_range_is_named(
    host_env: dict[str, str], tmp_path: Path
) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": V2_HELLO})
    result = run_cli(
        "serve",
        str(app),
        "--port",
        str(free_port()),
        env={**host_env, "FUNCTIONS_WORKER_PROCESS_COUNT": "11"},
    )
    assert result.returncode != 0
    assert "FUNCTIONS_WORKER_PROCESS_COUNT must be a whole number from 1 to 10, found '11'" in (
        result.stderr
    )


def test_cors_flag_with_wildcard(start_host: StartHost, tmp_path: Path) -> None:
    host = start_host(write_app(tmp_path / "app", {"function_app.py": V2_HELLO}), "--cors", "*")
    r = host.client.get("/api/hello", headers={"Origin": "https://x.example"})
    assert r.headers["access-control-allow-origin"] == "*"


def test_request_body_limit_gives_413(start_host: StartHost, tmp_path: Path) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "Echo/function.json": HTTP_FUNCTION_JSON,
            "Echo/__init__.py": "def main(req):\n    return str(len(req.get_body()))\n",
        },
    )
    host = start_host(app, env={"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT": "1000"})
    assert host.client.post("/api/Echo", content=b"x" * 1000).text == "1000"
    r = host.client.post("/api/Echo", content=b"x" * 1001)
    assert r.status_code == 413 and r.content == b""

    def chunks():
        for _ in range(10):
            yield b"y" * 200

    assert host.client.post("/api/Echo", content=chunks()).status_code == 413


def test_homepage_can_be_disabled(start_host: StartHost, tmp_path: Path) -> None:
    host = start_host(
        write_app(tmp_path / "app", {"function_app.py": V2_HELLO}),
        env={"AzureWebJobsDisableHomepage": "true"},
    )
    r = host.client.get("/")
    assert r.status_code == 204


def test_functions_flag_loads_only_the_named_functions(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "A/function.json": HTTP_FUNCTION_JSON,
            "A/__init__.py": "def main(req):\n    return 'a'\n",
            "B/function.json": HTTP_FUNCTION_JSON,
            "B/__init__.py": "raise RuntimeError('B imported')\n",
        },
    )
    host = start_host(app, "--functions", "A")
    assert host.client.get("/api/A").text == "a"
    assert host.client.get("/api/B").status_code == 404
    assert "B imported" not in host.output()


def test_python_packages_folder_is_on_sys_path(start_host: StartHost, tmp_path: Path) -> None:
    app = write_app(
        tmp_path / "app",
        {
            ".python_packages/lib/site-packages/vendored_pkg/__init__.py": "VALUE = 'vendored'\n",
            "F/function.json": HTTP_FUNCTION_JSON,
            "F/__init__.py": "import vendored_pkg\n\ndef main(req):\n    return vendored_pkg.VALUE\n",
        },
    )
    host = start_host(app)
    assert host.client.get("/api/F").text == "vendored"


def test_function_timeout_cancels_async_and_fails_sync(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "host.json": '{"version": "2.0", "functionTimeout": "00:00:01"}',
            "function_app.py": """
import asyncio, time, logging
import azure.functions as func
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="async")
async def slow_async(req: func.HttpRequest) -> str:
    try:
        await asyncio.sleep(5)
    except asyncio.CancelledError:
        logging.info("async-cancelled")
        raise
    return "late"

@app.route(route="sync")
def slow_sync(req: func.HttpRequest) -> str:
    time.sleep(2)
    logging.info("sync-finished-late")
    return "late"

@app.route(route="fast")
def fast(req: func.HttpRequest) -> str:
    return "fast"
""",
        },
    )
    host = start_host(app)
    started = time.monotonic()
    r = host.client.get("/api/async")
    assert r.status_code == 500 and r.content == b""
    assert time.monotonic() - started < 3
    host.wait_for_output("async-cancelled")
    host.wait_for_output("Timeout value of 00:00:01 exceeded by function 'Functions.slow_async'")
    r = host.client.get("/api/sync")
    assert r.status_code == 500
    host.wait_for_output("Timeout value of 00:00:01 exceeded by function 'Functions.slow_sync'")
    host.wait_for_output("sync-finished-late")
    assert host.client.get("/api/fast").text == "fast"


def test_port_and_workers_flags_are_validated(host_env: dict[str, str]) -> None:
    result = run_cli("start", ".", "--port", "70000", env=host_env)
    assert result.returncode == 2 and "port 70000 is out of range" in result.stderr


def test_host_json_log_level_hides_function_info_lines(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "host.json": '{"version": "2.0", "logging": {"logLevel": {"Function": "Warning"}}}',
            "F/function.json": HTTP_FUNCTION_JSON,
            "F/__init__.py": "import logging\n\ndef main(req):\n    logging.info('info-line')\n    logging.warning('warn-line')\n    return 'ok'\n",
        },
    )
    host = start_host(app)
    assert host.client.get("/api/F").text == "ok"
    out = host.wait_for_output("warn-line")
    assert "info-line" not in out
    assert "Executing 'Functions.F'" not in out


def test_invalid_route_template_fails_only_that_function(
    start_host: StartHost, tmp_path: Path
) -> None:
    bad = HTTP_FUNCTION_JSON.replace('"name": "req"}', '"name": "req", "route": "items/{id"}')
    app = write_app(
        tmp_path / "app",
        {
            "Bad/function.json": bad,
            "Bad/__init__.py": "def main(req):\n    return 'bad'\n",
            "Ok/function.json": HTTP_FUNCTION_JSON,
            "Ok/__init__.py": "def main(req):\n    return 'ok'\n",
        },
    )
    host = start_host(app)
    assert host.client.get("/api/Ok").text == "ok"
    assert (
        "Bad (Bad/function.json): Bad/function.json: invalid route template 'items/{id': unclosed '{'"
        in host.output()
    )


def test_console_script_is_installed(host_env: dict[str, str]) -> None:
    import subprocess
    import sys

    script = Path(sys.executable).parent / "funchost"
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, env=host_env, timeout=30
    )
    assert result.returncode == 0
    assert result.stdout.startswith("funchost ")


def test_port_in_use_is_one_line(tmp_path: Path, host_env: dict[str, str]) -> None:
    import socket

    app = write_app(tmp_path / "app", {"function_app.py": V2_HELLO})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "start", str(app), "--port", str(port), "--host", "127.0.0.1", env=host_env
        )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"funchost: error: cannot listen on 127.0.0.1:{port}: Address already in use; choose another --port"
    )


def test_duplicate_v2_function_names_are_reported(start_host: StartHost, tmp_path: Path) -> None:
    code = (
        V2_HELLO
        + """
@app.function_name(name="hello")
@app.route(route="other")
def other(req: func.HttpRequest) -> str:
    return "other"
"""
    )
    host = start_host(write_app(tmp_path / "app", {"function_app.py": code}))
    out = host.output()
    assert "function_app.py (function_app.py): " in out
    assert "hello" in out.split("Functions that failed to load:")[1]


def test_functions_flag_with_an_unknown_name_warns(start_host: StartHost, tmp_path: Path) -> None:
    host = start_host(
        write_app(tmp_path / "app", {"function_app.py": V2_HELLO}), "--functions", "hello", "nope"
    )
    assert host.client.get("/api/hello").text == "hi"
    host.wait_for_output("--functions: no function named 'nope'")


def test_logs_of_async_and_sync_functions_carry_their_function_name(
    start_host: StartHost, tmp_path: Path
) -> None:
    code = (
        V2_HELLO
        + """
import logging

@app.route(route="alog")
async def alog(req: func.HttpRequest) -> str:
    logging.info("from-async")
    return "a"

@app.route(route="slog")
def slog(req: func.HttpRequest) -> str:
    logging.info("from-sync")
    return "s"
"""
    )
    host = start_host(write_app(tmp_path / "app", {"function_app.py": code}))
    assert host.client.get("/api/alog").text == "a"
    assert host.client.get("/api/slog").text == "s"
    host.wait_for_output("[alog] from-async")
    host.wait_for_output("[slog] from-sync")


def test_retry_policy_reruns_a_failing_non_http_function(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "Job/function.json": (
                '{"bindings": [{"name": "timer", "type": "timerTrigger", "direction": "in", "schedule": "0 0 0 1 1 *"}],'
                ' "retry": {"strategy": "fixedDelay", "maxRetryCount": 2, "delayInterval": "00:00:00"}}'
            ),
            "Job/__init__.py": (
                "import logging\n\n"
                "def main(timer, context):\n"
                "    rc = context.retry_context\n"
                "    logging.info('attempt %d of max %d', rc.retry_count, rc.max_retry_count)\n"
                "    raise RuntimeError('still failing')\n"
            ),
        },
    )
    host = start_host(app)
    assert host.client.post("/admin/functions/Job", json={"input": ""}).status_code == 202
    out = host.wait_for_output("attempt 2 of max 2")
    assert "attempt 0 of max 2" in out and "attempt 1 of max 2" in out
    deadline = time.monotonic() + 10
    while host.output().count("Exception: RuntimeError: still failing") < 3:
        assert time.monotonic() < deadline, host.output()
        time.sleep(0.05)
    time.sleep(0.5)  # no fourth attempt follows
    assert host.output().count("Exception: RuntimeError: still failing") == 3
