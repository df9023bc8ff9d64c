"""The start-up listing of functions, in the Core Tools style."""

from __future__ import annotations

import logging

from funchost.bindings.http import route_template
from funchost.bindings.kinds import kind_for
from funchost.config import HostConfig
from funchost.endpoint.embedded import EndpointSockets
from funchost.errors import ConfigError
from funchost.indexing.index import AppIndex
from funchost.storage.accounts import StorageAccounts

# The host's warning (Host.Startup) when it has no functions to run.
NO_FUNCTIONS = "No job functions found."
ALL_METHODS = ("GET", "POST", "DELETE", "HEAD", "PATCH", "PUT", "OPTIONS")


def base_url(config: HostConfig) -> str:
    host = config.host
    if host in ("127.0.0.1", "0.0.0.0", "::", "::1", ""):
        host = "localhost"
    return f"http://{host}:{config.port}"


def render_banner(
    config: HostConfig, index: AppIndex, storage_endpoint: EndpointSockets | None = None
) -> str:
    # As Core Tools: no "Functions:" heading without functions (the host says so in its log).
    lines = ["", "Functions:", ""] if index.functions else [""]
    url = base_url(config)
    for spec in index.functions:
        if spec.is_http:
            methods = spec.trigger.get("methods") or ALL_METHODS
            shown = ",".join(str(m).upper() for m in methods)
            target = f"[{shown}] {url}/{route_template(config.host_options.route_prefix, spec)}"
        else:
            target = spec.trigger.type
        suffix = " (disabled)" if spec.disabled else ""
        lines.append(f"\t{spec.name}: {target}{suffix}")
        lines.append("")
    places = storage_places(config, index)
    if storage_endpoint is not None:
        places.append(storage_endpoint.describe())
    for place in places:
        lines.append(f"Storage: {place}")
        lines.append("")
    if index.failed:
        lines.append("Functions that failed to load:")
        lines.append("")
        for failed in index.failed:
            lines.append(f"\t{failed.name} ({failed.file}): {failed.reason}")
            lines.append("")
    return "\n".join(lines)


def show_banner(
    config: HostConfig, index: AppIndex, storage_endpoint: EndpointSockets | None = None
) -> None:
    """Print the banner; with no functions, log the host's start-up warning as the host does."""
    print(render_banner(config, index, storage_endpoint), flush=True)
    if not index.functions:
        logging.getLogger("funchost.host").warning(NO_FUNCTIONS)


def storage_places(config: HostConfig, index: AppIndex) -> list[str]:
    """Where the storage that the enabled functions use is (never a secret)."""
    accounts = StorageAccounts.for_config(config)
    places: list[str] = []
    for spec in index.enabled:
        for binding in spec.bindings:
            kind = kind_for(binding.type)
            if kind is None or not kind.uses_storage:
                continue
            try:
                place = accounts.describe(binding.get("connection"))
            except ConfigError:
                continue  # the function is reported as failed with the reason
            if place not in places:
                places.append(place)
    return places
