"""`def` functions that hang past functionTimeout: their threads are written off and replaced,
so other `def` functions keep running; a pool exhausted by them is reported, and under
`serve --workers N` its worker drains and is replaced."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import StartHost, write_app

HUNG_APP = """
import os
import threading

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
NEVER = threading.Event()


@app.route(route="hang")
def hang(req: func.HttpRequest) -> str:
    NEVER.wait()
    return "never"


@app.route(route="fast")
def fast(req: func.HttpRequest) -> str:
    return str(os.getpid())


@app.route(route="async")
async def async_fast(req: func.HttpRequest) -> str:
    return "async"
"""

HOST_JSON = '{"version": "2.0", "functionTimeout": "00:00:01"}'
ONE_THREAD = {"PYTHON_THREADPOOL_THREAD_COUNT": "1"}
TIMED_OUT = "Timeout value of 00:00:01 exceeded by function 'Functions.hang'"
EXHAUSTED = "The thread pool of `def` functions is exhausted: all 2 of its threads"


def hung_app(tmp_path: Path) -> Path:
    return write_app(tmp_path / "app", {"host.json": HOST_JSON, "function_app.py": HUNG_APP})


def get(base_url: str, path: str) -> httpx.Response:
    # A new connection each time: workers sharing the socket take turns.
    return httpx.get(f"{base_url}{path}", headers={"connection": "close"}, timeout=30)


def test_a_hung_def_function_does_not_starve_the_others(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(hung_app(tmp_path), command="serve", env=ONE_THREAD)
    assert get(host.base_url, "/api/hang").status_code == 500
    host.wait_for_output(TIMED_OUT)
    # The only thread still runs `hang`; a replacement runs this one (within its timeout).
    r = get(host.base_url, "/api/fast")
    assert r.status_code == 200 and r.text.isdigit()
    assert EXHAUSTED not in host.output()


def test_an_exhausted_pool_is_reported_with_what_to_do(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(hung_app(tmp_path), command="serve", env=ONE_THREAD)
    for _ in range(2):  # PYTHON_THREADPOOL_THREAD_COUNT, plus as many replacements
        assert get(host.base_url, "/api/hang").status_code == 500
    out = host.wait_for_output(EXHAUSTED)
    assert "(PYTHON_THREADPOOL_THREAD_COUNT=1, and 1 more started in their place)" in out
    host.wait_for_output("Restart the host to run `def` functions again")
    # No thread is left for `def` functions; the rest of the host still answers.
    assert get(host.base_url, "/api/fast").status_code == 500
    assert get(host.base_url, "/api/async").text == "async"
    assert host.proc.poll() is None


def _children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(p) for p in text.split()}


def test_a_worker_exhausted_by_hung_functions_drains_and_is_replaced(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(
        hung_app(tmp_path), "--workers", "2", command="serve", env=ONE_THREAD, timeout=60
    )
    supervisor = host.proc.pid
    deadline = time.monotonic() + 60
    while len(workers := _children(supervisor)) < 2:
        assert time.monotonic() < deadline, host.output()
        time.sleep(0.1)
    # Each hung call holds a thread for good; a worker has two (one and a replacement), so
    # three of them exhaust one of the two workers, whichever takes which.
    for _ in range(3):
        assert get(host.base_url, "/api/hang").status_code == 500
        if "exits with code 75" in host.output():
            break
    host.wait_for_output("This worker stops taking requests, drains and exits with code 75")
    while (replaced := workers - _children(supervisor)) == set() or len(_children(supervisor)) < 2:
        assert time.monotonic() < deadline + 60, host.output()
        time.sleep(0.1)
    (gone,) = replaced
    # Both workers answer again, with a thread for `def` functions each.
    answered = [get(host.base_url, "/api/fast") for _ in range(10)]
    assert {r.status_code for r in answered} == {200}
    assert str(gone) not in {r.text for r in answered}
    assert get(host.base_url, "/api/async").text == "async"
