"""`funchost durable list|status|history|raise|terminate|purge`: an app's task hub from the
command line, read and changed in its store, with or without a host running (a running host
picks changes up at its next poll)."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from funchost.errors import ConfigError

if TYPE_CHECKING:  # imported when a command runs, so that the other commands start fast
    from funchost.durable.hub import TaskHub
    from funchost.indexing.spec import FunctionSpec
    from funchost.invocation.invoker import InvocationResult, TriggerEvent

COMMANDS = ("durable",)


def add_commands(commands: Any) -> None:
    durable = commands.add_parser("durable", help="list and manage Durable Functions instances")
    durable_cmd = durable.add_subparsers(dest="durable_command", required=True)
    listing = durable_cmd.add_parser("list", help="list instances (oldest first)")
    listing.add_argument("--status", default="", help="only these statuses (comma-separated)")
    status = durable_cmd.add_parser("status", help="an instance's status as JSON")
    history = durable_cmd.add_parser("history", help="an instance's history as JSON")
    raise_ = durable_cmd.add_parser("raise", help="raise an event to an instance")
    raise_.add_argument("instance_id", metavar="INSTANCE_ID")
    raise_.add_argument("event")
    raise_.add_argument("data", nargs="?", default="null", help="JSON (default: null)")
    terminate = durable_cmd.add_parser("terminate", help="terminate a running instance")
    terminate.add_argument("--reason", default="")
    purge = durable_cmd.add_parser("purge", help="forget an instance and its history")
    for sub in (status, history, terminate, purge):
        sub.add_argument("instance_id", metavar="INSTANCE_ID")
    for sub in (listing, status, history, raise_, terminate, purge):
        sub.add_argument("--app", default=".", metavar="DIR", help="the app folder (default: .)")


async def _nothing_runs(spec: FunctionSpec, event: TriggerEvent) -> InvocationResult:
    raise ConfigError("funchost durable runs no functions")


def run(args: argparse.Namespace) -> int:
    from funchost.config import load_config
    from funchost.durable.hub import DurableFunctions, TaskHub, hub_name
    from funchost.durable.setup import STORE_FILE
    from funchost.durable.store import DurableStore

    config = load_config(args.app, environ=dict(os.environ))
    store = DurableStore(config.state_dir / STORE_FILE)
    try:
        hub = TaskHub(
            store,
            hub_name(config.host_options.extensions, config.settings),
            DurableFunctions({}, {}),
            _nothing_runs,
        )
        return _run(args, hub)
    finally:
        store.close()


def _run(args: argparse.Namespace, hub: TaskHub) -> int:
    from funchost.durable import history as h
    from funchost.durable.api import status_body
    from funchost.durable.hub import check_instance_id
    from funchost.durable.store import TERMINAL

    command = args.durable_command
    if command == "list":
        statuses = [s.strip() for s in args.status.split(",") if s.strip()]
        for listed in hub.store.instances(hub.name, None, None, statuses, None):
            created = h.status_time(listed.created)
            print(f"{listed.id}\t{listed.name}\t{listed.status}\t{created}")
        return 0
    check_instance_id(args.instance_id)
    row = hub.store.instance(hub.name, args.instance_id)
    if row is None:
        raise ConfigError(f"no instance '{args.instance_id}' in task hub '{hub.name}'")
    if command == "status":
        print(json.dumps(status_body(row, True), indent=2))
    elif command == "history":
        events = h.history_events(hub.store.history(hub.name, row.id), True, True)
        print(json.dumps(events, indent=2))
    elif command == "purge":
        hub.store.purge(hub.name, [row.id])
        print(f"Purged '{row.id}'.")
    elif row.status in TERMINAL:
        raise ConfigError(f"instance '{row.id}' has ended ({row.status})")
    elif command == "raise":
        try:
            data = json.loads(args.data)
        except ValueError:
            raise ConfigError(f"the event data is not JSON: {args.data!r}") from None
        hub.raise_event(row.id, args.event, json.dumps(data))
        print(f"Raised '{args.event}' to '{row.id}'.")
    else:
        hub.terminate(row.id, args.reason)
        print(f"Terminated '{row.id}'.")
    return 0
