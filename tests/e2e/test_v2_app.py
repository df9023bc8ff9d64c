"""A decorator ("v2") app: FunctionApp, Blueprints, defaults, concurrency."""

from __future__ import annotations

import concurrent.futures
import time

import httpx

from funchost.testing import TestHost
from tests.conftest import APPS, StartHost


def test_v2_app_routes_blueprints_and_defaults(start_host: StartHost) -> None:
    host = start_host(APPS / "v2")
    c = host.client
    assert c.get("/api/hello?name=v2").text == "Hello, v2!"
    assert c.get("/api/bp/hello").text == "from blueprint"
    assert c.get("/api/default_route").text == "default route is the function name"
    assert c.post("/api/renamed", json={"a": 1}).json() == {"a": 1}
    assert c.get("/api/renamed").status_code == 404  # methods=["POST"] only
    assert c.get("/api/lonely").status_code == 404  # Blueprint never registered
    out = host.output()
    assert "\tRenamed: [POST]" in out
    assert "\tyearly: timerTrigger" in out
    assert "lonely_fn" not in out


def test_v2_default_auth_level_is_function(start_host: StartHost) -> None:
    host = start_host(APPS / "v2", "--enable-auth")
    assert host.client.get("/api/secure").status_code == 401
    assert host.client.get("/api/hello").status_code == 200


def test_v2_context_function_directory_is_app_root(start_host: StartHost) -> None:
    host = start_host(APPS / "v2")
    data = host.client.get("/api/ctx").json()
    assert data == {"function_directory": str(APPS / "v2"), "function_name": "ctx"}


def _assert_host_frames_the_body(client: httpx.Client) -> None:
    for _ in range(2):  # the second request reuses the connection: the first ended where it said
        response = client.get("/api/framing")
        assert response.text == "framed by the host"
        assert response.headers["content-length"] == str(len("framed by the host"))
        assert "transfer-encoding" not in response.headers


def test_framing_headers_set_by_a_function_are_replaced_by_the_hosts(
    start_host: StartHost,
) -> None:
    _assert_host_frames_the_body(start_host(APPS / "v2").client)
    with TestHost(APPS / "v2") as host:  # the host as an ASGI application
        _assert_host_frames_the_body(host.client)


def test_context_variables_never_leak_between_requests_on_one_connection(
    start_host: StartHost,
) -> None:
    client = start_host(APPS / "v2").client  # keep-alive: every request on one connection
    for mark in ("a", "b", "c"):
        assert client.get("/api/context-isolation", params={"mark": mark}).text == "unset"


def _timed_parallel(url: str, n: int) -> tuple[float, list[str]]:
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        bodies = list(pool.map(lambda _: httpx.get(url, timeout=30).text, range(n)))
    return time.monotonic() - started, bodies


def test_async_functions_run_concurrently_on_the_event_loop(start_host: StartHost) -> None:
    host = start_host(APPS / "v2")
    elapsed, threads = _timed_parallel(f"{host.base_url}/api/slow-async?s=1", 10)
    assert elapsed < 2.5, elapsed  # ten 1-second sleeps, not serialized
    assert set(threads) == {"MainThread"}


def test_sync_functions_run_concurrently_in_the_thread_pool(start_host: StartHost) -> None:
    host = start_host(APPS / "v2", env={"PYTHON_THREADPOOL_THREAD_COUNT": "4"})
    elapsed, threads = _timed_parallel(f"{host.base_url}/api/slow-sync?s=1", 4)
    assert elapsed < 2.5, elapsed
    assert all(t.startswith("funchost") for t in threads)
    assert len(set(threads)) == 4


def test_thread_count_setting_limits_sync_concurrency(start_host: StartHost) -> None:
    host = start_host(APPS / "v2", env={"PYTHON_THREADPOOL_THREAD_COUNT": "1"})
    elapsed, threads = _timed_parallel(f"{host.base_url}/api/slow-sync?s=0.5", 3)
    assert elapsed >= 1.4, elapsed
    assert len(set(threads)) == 1
