"""Whatever a function raises fails its invocation only: SystemExit, KeyboardInterrupt,
GeneratorExit and a CancelledError of its own are a 500 with the traceback logged, and the host
keeps serving; under `start` and `serve`, for plain functions, ASGI and WSGI apps, and queue
triggers. Only a cancellation of the invocation itself (the host stopping) is not a failure."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from funchost.testing import TestHost
from tests.conftest import APPS, HTTP_FUNCTION_JSON, RunningHost, StartHost, write_app
from tests.stores import Backend, eventually

COMMANDS = ["start", "serve"]

V2_PLAIN = """
import argparse
import asyncio
import sys

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="exit")
async def exit_async(req: func.HttpRequest) -> str:
    sys.exit(3)


@app.route(route="interrupt")
async def interrupt_async(req: func.HttpRequest) -> str:
    raise KeyboardInterrupt("stop")


@app.route(route="argparse")
async def bad_arguments(req: func.HttpRequest) -> str:
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--count", type=int)
    parser.parse_args(["--count", "many"])
    return "parsed"


@app.route(route="generator-exit")
async def generator_exit(req: func.HttpRequest) -> str:
    raise GeneratorExit


@app.route(route="cancelled")
async def cancelled_by_itself(req: func.HttpRequest) -> str:
    raise asyncio.CancelledError("the function's own")


@app.route(route="exit-sync")
def exit_sync(req: func.HttpRequest) -> str:
    sys.exit(5)


@app.route(route="stop-iteration-sync")
def stop_iteration_sync(req: func.HttpRequest) -> str:
    return next(iter([]))


@app.route(route="hello")
async def hello(req: func.HttpRequest) -> str:
    return "hi"
"""

V1_EXIT = """
import sys


async def main(req):
    sys.exit(3)
"""

V1_INTERRUPT = """
async def main(req):
    raise KeyboardInterrupt
"""

V1_HELLO = """
async def main(req):
    return "hi"
"""


def assert_failed_and_alive(
    host: RunningHost, path: str, function: str, exception: str, frame: str, alive: str
) -> None:
    """`path` gets an empty 500; the log has the failure with its traceback down to `frame`;
    the host still answers `alive`."""
    r = httpx.get(f"{host.base_url}{path}", timeout=15)
    assert (r.status_code, r.content) == (500, b"")
    header = (
        f"Exception while executing function: Functions.{function}. Result: Failure\n"
        f"Exception: {exception}\nStack: Traceback (most recent call last):"
    )
    out = host.wait_for_output(header)
    stack = out[out.index(header) :]
    assert f", in {frame}\n" in stack
    assert host.proc.poll() is None
    assert httpx.get(f"{host.base_url}{alive}", timeout=15).status_code == 200


@pytest.mark.parametrize("command", COMMANDS)
def test_v2_functions_that_raise_base_exceptions_fail_alone(
    start_host: StartHost, tmp_path: Path, command: str
) -> None:
    host = start_host(write_app(tmp_path / "app", {"function_app.py": V2_PLAIN}), command=command)
    cases = [
        ("/api/exit", "exit_async", "SystemExit: 3", "exit_async"),
        ("/api/interrupt", "interrupt_async", "KeyboardInterrupt: stop", "interrupt_async"),
        ("/api/argparse", "bad_arguments", "SystemExit: 2", "bad_arguments"),
        ("/api/generator-exit", "generator_exit", "GeneratorExit: ", "generator_exit"),
        (
            "/api/cancelled",
            "cancelled_by_itself",
            "CancelledError: the function's own",
            "cancelled_by_itself",
        ),
        ("/api/exit-sync", "exit_sync", "SystemExit: 5", "exit_sync"),
        (
            "/api/stop-iteration-sync",
            "stop_iteration_sync",
            "RuntimeError: function raised StopIteration",
            "stop_iteration_sync",
        ),
    ]
    for path, function, exception, frame in cases:
        assert_failed_and_alive(host, path, function, exception, frame, "/api/hello")
    assert "tool: error: argument --count: invalid int value: 'many'" in host.output()
    assert host.client.get("/api/hello").text == "hi"


@pytest.mark.parametrize("command", COMMANDS)
def test_v1_functions_that_raise_base_exceptions_fail_alone(
    start_host: StartHost, tmp_path: Path, command: str
) -> None:
    files = {
        "Exit/__init__.py": V1_EXIT,
        "Exit/function.json": HTTP_FUNCTION_JSON,
        "Interrupt/__init__.py": V1_INTERRUPT,
        "Interrupt/function.json": HTTP_FUNCTION_JSON,
        "Hello/__init__.py": V1_HELLO,
        "Hello/function.json": HTTP_FUNCTION_JSON,
    }
    host = start_host(write_app(tmp_path / "app", files), command=command)
    assert_failed_and_alive(host, "/api/Exit", "Exit", "SystemExit: 3", "main", "/api/Hello")
    assert_failed_and_alive(
        host, "/api/Interrupt", "Interrupt", "KeyboardInterrupt: ", "main", "/api/Hello"
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_asgi_function_app_that_exits_fails_alone(start_host: StartHost, command: str) -> None:
    host = start_host(APPS / "v2asgi", command=command)
    for path, exception, frame in [
        ("/exit", "SystemExit: 3", "exit_app"),
        ("/interrupt", "KeyboardInterrupt: ", "interrupt"),
        # Raised in the task StreamingResponse starts: asyncio stops the loop for it.
        ("/stream-exit", "SystemExit: 4", "body"),
    ]:
        assert_failed_and_alive(host, path, "http_app_func", exception, frame, "/hello/ada")
    assert host.client.get("/hello/ada").json() == {"name": "ada", "startups": 1}


@pytest.mark.parametrize("command", COMMANDS)
def test_wsgi_function_app_that_exits_fails_alone(start_host: StartHost, command: str) -> None:
    host = start_host(APPS / "v2wsgi", command=command)
    assert_failed_and_alive(
        host, "/exit", "http_app_func", "SystemExit: 3", "exit_app", "/hello/bob"
    )
    assert_failed_and_alive(
        host, "/interrupt", "http_app_func", "KeyboardInterrupt: ", "interrupt", "/hello/bob"
    )
    assert host.client.get("/hello/bob").text == "hello bob"


@pytest.mark.parametrize("command", COMMANDS)
def test_v1_asgi_middleware_that_exits_fails_alone(start_host: StartHost, command: str) -> None:
    host = start_host(APPS / "v1asgi", command=command)
    assert_failed_and_alive(host, "/exit", "Api", "SystemExit: 3", "exit_app", "/state")
    assert_failed_and_alive(host, "/interrupt", "Api", "KeyboardInterrupt: ", "interrupt", "/state")
    assert host.client.get("/state").json() == {"startups": 1}


@pytest.mark.parametrize("command", COMMANDS)
def test_v1_wsgi_middleware_that_exits_fails_alone(start_host: StartHost, command: str) -> None:
    host = start_host(APPS / "v1wsgi", command=command)
    alive = "/flask/hello/ann"
    assert_failed_and_alive(host, "/flask/exit", "FlaskApp", "SystemExit: 3", "exit_app", alive)
    assert_failed_and_alive(
        host, "/flask/interrupt", "FlaskApp", "KeyboardInterrupt: ", "interrupt", alive
    )
    assert host.client.get(alive).text == "hello ann"


QUEUE_APP = """
import sys

import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="jobs", connection="AzureWebJobsStorage")
async def exits(msg: str) -> None:
    sys.exit(f"cannot handle {msg}")


@app.route(route="hello", auth_level=func.AuthLevel.ANONYMOUS)
async def hello(req: func.HttpRequest) -> str:
    return "hi"
"""

QUEUE_HOST_JSON = """{"version": "2.0", "extensions": {"queues": {
    "maxPollingInterval": "00:00:01", "visibilityTimeout": "00:00:00", "maxDequeueCount": 2}}}"""


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_a_queue_function_that_exits_is_retried_then_poisoned_and_the_host_lives_on(
    start_host: StartHost, backend: Backend, tmp_path: Path
) -> None:
    app = write_app(tmp_path / "app", {"host.json": QUEUE_HOST_JSON, "function_app.py": QUEUE_APP})
    host = start_host(app, command="serve", env=backend.settings)
    store = backend.client(app)
    store.send("jobs", "job-1")
    assert eventually(lambda: store.take("jobs-poison")) == ["job-1"]
    header = (
        "Exception while executing function: Functions.exits. Result: Failure\n"
        "Exception: SystemExit: cannot handle job-1\nStack: Traceback"
    )
    out = host.wait_for_output("Moving message to queue 'jobs-poison'.")
    assert out.count(header) == 2  # maxDequeueCount attempts, each a failure
    assert host.proc.poll() is None
    assert host.client.get("/api/hello").text == "hi"


WAITING_APP = """
import asyncio
import os
from pathlib import Path

import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *")
async def waits(timer: func.TimerRequest) -> None:
    Path(os.environ["STARTED_FILE"]).touch()
    await asyncio.sleep(3600)
"""


def test_cancelling_a_running_invocation_cancels_it_and_is_not_a_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What the host does when it stops with invocations still running."""
    started = tmp_path / "started"
    app = write_app(tmp_path / "app", {"function_app.py": WAITING_APP})
    with TestHost(app, settings={"STARTED_FILE": str(started)}) as host:
        spec = host.host.index.get("waits")
        assert spec is not None

        async def cancel_while_running() -> bool:
            task = asyncio.get_running_loop().create_task(host.host.invoke_from_admin(spec, ""))
            for _ in range(600):
                if started.exists():
                    break
                await asyncio.sleep(0.05)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                return True
            return False

        assert host.run(cancel_while_running())
    assert started.exists()
    assert "Function 'Functions.waits' (Id: '" in caplog.text and "was cancelled." in caplog.text
    assert "Exception while executing function" not in caplog.text
