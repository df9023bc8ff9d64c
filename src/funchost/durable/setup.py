"""The task hub of an app, opened when the app has durable functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from funchost.durable.api import DurableApi, derived_key
from funchost.durable.hub import (
    DurableFunctions,
    Run,
    TaskHub,
    durable_section,
    hub_name,
    max_activities,
)
from funchost.durable.store import DurableStore

if TYPE_CHECKING:
    from funchost.config import HostConfig
    from funchost.indexing.spec import FunctionSpec
    from funchost.keys import KeyStore

STORE_FILE = "durable.sqlite3"
CLIENT_TYPES = frozenset({"durableclient", "orchestrationclient"})


def open_task_hub(
    config: HostConfig, specs: list[FunctionSpec], keys: KeyStore | None, run: Run
) -> DurableApi | None:
    """The app's durable API on the embedded store, or None when it has no orchestrators,
    activities or durable clients."""
    functions = DurableFunctions.of(specs)
    clients = any(b.type.lower() in CLIENT_TYPES for spec in specs for b in spec.bindings)
    if not functions.orchestrators and not functions.activities and not clients:
        return None
    name = hub_name(config.host_options.extensions, config.settings)
    activities = max_activities(durable_section(config.host_options.extensions))
    store = DurableStore(config.state_dir / STORE_FILE)
    hub = TaskHub(store, name, functions, run, activities)
    system_key = rpc_token = None
    if keys is not None:
        master = keys.master_key()
        system_key = derived_key(master, "durabletask_extension")
        rpc_token = derived_key(master, "durabletask-rpc")
    public_host = config.settings.get("WEBSITE_HOSTNAME") or f"localhost:{config.port}"
    return DurableApi(hub, config.port, public_host, system_key, rpc_token)
