"""Who may call the Durable Functions HTTP API (funchost.durable.api), without a server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from funchost.durable.api import DurableApi, derived_key, redact_rpc_secret
from funchost.durable.hub import DurableFunctions, TaskHub, hub_name, max_activities
from funchost.durable.store import DurableStore, WorkItem
from funchost.errors import ConfigError
from funchost.indexing.spec import BindingSpec, FunctionSpec
from funchost.invocation.invoker import InvocationResult, TriggerEvent


async def _never(spec: FunctionSpec, event: TriggerEvent) -> InvocationResult:
    raise AssertionError("no function runs here")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DurableStore]:
    opened = DurableStore(tmp_path / "durable.sqlite3")
    yield opened
    opened.close()


def _api(store: DurableStore, keys: bool) -> DurableApi:
    hub = TaskHub(store, "Hub", DurableFunctions({}, {}), _never)
    system = derived_key("master", "durabletask_extension") if keys else None
    token = derived_key("master", "durabletask-rpc") if keys else None
    return DurableApi(hub, 7071, "localhost:7071", system, token)


def test_rpc_path_is_keyless_only_from_loopback_with_the_secret(store: DurableStore) -> None:
    api = _api(store, keys=True)
    token = derived_key("master", "durabletask-rpc")
    parts = ["rpc", token, "instances", "x"]
    assert api.authorized(parts, None, ("127.0.0.1", 5000), False) == (True, ["instances", "x"])
    assert api.authorized(parts, None, ("::1", 5000), False)[0]
    assert not api.authorized(parts, None, ("10.1.2.3", 5000), False)[0]
    assert not api.authorized(parts, None, None, False)[0]
    assert not api.authorized(["rpc", "guess", "instances", "x"], None, ("127.0.0.1", 1), False)[0]


def test_public_api_under_keys_takes_the_system_or_master_key_only(store: DurableStore) -> None:
    api = _api(store, keys=True)
    parts = ["instances", "x"]
    assert not api.authorized(parts, None, ("127.0.0.1", 1), False)[0]
    assert not api.authorized(parts, "wrong", ("127.0.0.1", 1), False)[0]
    assert api.authorized(parts, derived_key("master", "durabletask_extension"), None, False)[0]
    assert api.authorized(parts, "master", None, True)[0]
    # The binding hands the client the RPC path and the management URLs their key.
    binding = api.client_binding()
    assert f"/rpc/{derived_key('master', 'durabletask-rpc')}/" in binding
    assert f"code={derived_key('master', 'durabletask_extension')}" in binding


def test_without_keys_the_api_is_open_as_in_core_tools(store: DurableStore) -> None:
    api = _api(store, keys=False)
    assert api.authorized(["instances", "x"], None, ("10.1.2.3", 1), False)[0]
    assert '"rpcBaseUrl": "http://127.0.0.1:7071/runtime/webhooks/durabletask/"' in (
        api.client_binding()
    )


def test_the_rpc_secret_is_hidden_in_logged_paths() -> None:
    assert (
        redact_rpc_secret("/runtime/webhooks/durabletask/rpc/s3cret/instances/x")
        == "/runtime/webhooks/durabletask/rpc/[hidden]/instances/x"
    )
    assert redact_rpc_secret("/api/rpc/s3cret") == "/api/rpc/s3cret"


def test_task_hub_name_comes_from_host_json_or_the_site_name() -> None:
    assert hub_name({}, {}) == "TestHubName"
    assert hub_name({"durabletask": {"hubname": "%HUB%"}}, {"HUB": "Orders2"}) == "Orders2"
    assert hub_name({}, {"WEBSITE_SITE_NAME": "9-my_site"}) == "t9mysite"
    assert hub_name({}, {"WEBSITE_SITE_NAME": "a-b"}) == "ab0"
    with pytest.raises(ConfigError, match="Task hub name 'bad-name' should contain only"):
        hub_name({"durableTask": {"hubName": "bad-name"}}, {})
    with pytest.raises(ConfigError, match="maxConcurrentActivityFunctions must be a whole"):
        max_activities({"maxConcurrentActivityFunctions": 0})
    assert max_activities({"maxconcurrentactivityfunctions": 3}) == 3


def test_a_running_activity_keeps_its_work_item_from_other_processes(tmp_path: Path) -> None:
    store = DurableStore(tmp_path / "durable.sqlite3", lease_seconds=0.3)
    other = DurableStore(tmp_path / "durable.sqlite3", lease_seconds=0.3)
    seen: list[list[WorkItem]] = []

    async def slow(spec: FunctionSpec, event: TriggerEvent) -> InvocationResult:
        for _ in range(4):
            await asyncio.sleep(0.25)
            seen.append(other.claim_work("Hub", 10))
        return InvocationResult("id", succeeded=True)

    activity = FunctionSpec(
        "slow",
        str(tmp_path),
        "function_app.py",
        "slow",
        BindingSpec("work", "activityTrigger", "in"),
        (),
        callable=lambda work: None,
    )
    hub = TaskHub(store, "Hub", DurableFunctions({}, {"slow": activity}), slow)
    store.checkpoint("Hub", "i", [], [], [(0, "slow", "null")], "Running", None, None, "now")
    (item,) = store.claim_work("Hub", 10)
    try:
        asyncio.run(hub.run_activity(item))
    finally:
        store.close()
        other.close()
    # A second after the claim, three lease lengths, no other process could take it.
    assert seen == [[], [], [], []]
