"""The in-process TestHost and the `function_host` pytest fixture."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from funchost.testing import TestHost
from tests.conftest import APPS


def test_test_host_serves_http_and_invokes_other_functions() -> None:
    before_env = dict(os.environ)
    with TestHost(APPS / "v1", settings={"OVERRIDDEN_BY_ENV": "from-test"}) as host:
        assert host.client.get("/api/HttpHello", params={"name": "x"}).text == "Hello, x!"
        assert host.client.get("/api/Boom").status_code == 500
        data = host.client.get("/api/ContextInfo").json()
        assert data["env"]["OVERRIDDEN_BY_ENV"] == "from-test"
        assert data["env"]["FROM_LOCAL_SETTINGS"] == "local-value"
        result = host.invoke("TimerJob")
        assert result.succeeded
    assert dict(os.environ) == before_env
    assert not any(name == "__app__" or name.startswith("__app__.") for name in sys.modules)
    assert str(APPS / "v1") not in sys.path


def test_function_host_fixture_runs_asgi_lifespan(
    function_host: Callable[..., TestHost], tmp_path: Path
) -> None:
    events = tmp_path / "events"
    host = function_host(APPS / "v2asgi", settings={"LIFESPAN_EVENTS_FILE": str(events)})
    assert events.read_text().splitlines() == ["startup"]
    assert host.client.get("/hello/ann").json() == {"name": "ann", "startups": 1}


def test_test_host_with_keys_enforced(tmp_path: Path) -> None:
    settings = {"FUNCTIONS_SECRETS_PATH": str(tmp_path / "secrets")}
    with TestHost(APPS / "v2", settings=settings, mode="production") as host:
        assert host.client.get("/api/secure").status_code == 401
        assert host.host.keys is not None
        key = host.host.keys.function_keys("secure")[0].value
        assert host.client.get("/api/secure", headers={"x-functions-key": key}).text == "secure ok"


def test_test_host_runs_queue_triggers_on_an_embedded_store_of_its_own(tmp_path: Path) -> None:
    import shutil
    import time

    app = tmp_path / "queues"
    shutil.copytree(APPS / "queues", app)
    records = tmp_path / "records"
    records.mkdir()
    settings = {"RECORD_DIR": str(records), "ROUTED_QUEUE": "q", "AzureWebJobsStorage": ""}
    with TestHost(app, settings=settings) as host:
        assert host.client.post("/api/enqueue", content=b"via http").status_code == 202
        deadline = time.monotonic() + 10
        while not (records / "process_order.jsonl").exists():
            assert time.monotonic() < deadline, "the queue trigger did not run"
            time.sleep(0.05)
        assert host.invoke("process_order", "direct").succeeded
        state = Path(host.host.config.state_dir)
        assert state.is_dir() and not state.is_relative_to(app)
    assert not state.exists()
    assert not (app / ".funchost").exists()
