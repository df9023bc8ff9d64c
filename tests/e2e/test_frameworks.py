"""WSGI and ASGI frameworks through func.WsgiMiddleware/AsgiMiddleware and the v2 app classes."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import httpx

from tests.conftest import APPS, StartHost


def test_asgi_function_app_lifespan_runs_once_at_start_and_stop(
    start_host: StartHost, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    host = start_host(APPS / "v2asgi", env={"LIFESPAN_EVENTS_FILE": str(events)})
    assert events.read_text().splitlines() == ["startup"]
    for _ in range(3):
        assert host.client.get("/hello/ada").json() == {"name": "ada", "startups": 1}
    assert host.stop() == 0
    assert events.read_text().splitlines() == ["startup", "shutdown"]


def test_asgi_requests_are_not_serialized(start_host: StartHost) -> None:
    host = start_host(APPS / "v2asgi")
    url = f"{host.base_url}/wait?s=1"
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: httpx.get(url, timeout=30).json(), range(8)))
    assert time.monotonic() - started < 2.5
    assert max(r["max_in_flight"] for r in results) >= 4


def test_wsgi_function_app_serves_flask(start_host: StartHost) -> None:
    host = start_host(APPS / "v2wsgi")
    assert host.client.get("/hello/bob").text == "hello bob"
    r = host.client.post("/echo?q=1", json={"a": [1, 2]})
    assert r.json() == {"json": {"a": [1, 2]}, "query": "1"}


def test_v1_middlewares_with_catch_all_routes(start_host: StartHost) -> None:
    host = start_host(APPS / "v1wsgi")
    assert host.client.get("/flask/hello/ann").text == "hello ann"
    assert host.client.get("/hello/ann").json() == {"name": "ann"}


def test_v1_module_level_asgi_middleware_gets_lifespan(
    start_host: StartHost, tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    host = start_host(APPS / "v1asgi", env={"LIFESPAN_EVENTS_FILE": str(events)})
    assert host.client.get("/state").json() == {"startups": 1}
    assert host.client.get("/state").json() == {"startups": 1}
    assert host.stop() == 0
    assert events.read_text() == "shutdown\n"
