"""Building the `AppIndex` of an app folder, whichever model it is written in.

A function.json ("v1") app and a function_app.py ("v2") app both become one `AppIndex`: the
functions that loaded (as frozen `FunctionSpec`s), and those that failed, with the reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funchost.bindings.kinds import binding_problem
from funchost.config import HostConfig
from funchost.indexing.loader import install_app_package, prepare_sys_path
from funchost.indexing.spec import FailedFunction, FunctionSpec
from funchost.indexing.v1 import function_folders, read_v1_function
from funchost.indexing.v2 import read_v2_app

logger = logging.getLogger("funchost.indexing")


@dataclass
class AppIndex:
    model: str
    functions: list[FunctionSpec] = field(default_factory=list)
    failed: list[FailedFunction] = field(default_factory=list)
    function_app: Any = None  # the v2 FunctionApp instance

    @property
    def enabled(self) -> list[FunctionSpec]:
        return [f for f in self.functions if not f.disabled]

    def get(self, name: str) -> FunctionSpec | None:
        lowered = name.lower()
        for f in self.functions:
            if f.name.lower() == lowered:
                return f
        return None


def index_app(config: HostConfig) -> AppIndex:
    app_dir = config.code_root
    wanted = {n.lower() for n in config.functions}
    disabled_names = {
        key.split(".", 1)[1].rsplit(".", 1)[0].lower()
        for key in config.settings
        if key.lower().startswith("azurewebjobs.")
        and key.lower().endswith(".disabled")
        and config.settings[key].strip().lower() in ("1", "true")
    }
    prepare_sys_path(app_dir)
    script = config.script_name
    folders = function_folders(app_dir)
    if (app_dir / script).is_file():
        results, app = read_v2_app(app_dir, script, disabled_names)
        index = AppIndex(model="v2", function_app=app)
    elif folders:
        install_app_package(app_dir, (f.name for f in folders))
        index = AppIndex(model="v1")
        results = [
            read_v1_function(app_dir, folder, folder.name.lower() in disabled_names)
            for folder in folders
            if not wanted or folder.name.lower() in wanted
        ]
    else:
        # No functions yet (a new app): the host starts, says so and answers its admin API.
        index = AppIndex(model="v1")
        results = []
    for item in results:
        if isinstance(item, FunctionSpec) and not item.disabled:
            problem = binding_problem(item, config.settings, config.connection_strings)
            if problem is not None:
                item = FailedFunction(item.name, _binding_file(item), problem)
        if isinstance(item, FailedFunction):
            index.failed.append(item)
        elif not wanted or item.name.lower() in wanted:
            index.functions.append(item)
    _warn_retries_without_support(index.functions, config)
    known = {f.name.lower() for f in index.functions} | {f.name.lower() for f in index.failed}
    for name in config.functions:
        if name.lower() not in known:
            logger.warning("--functions: no function named %r in %s", name, app_dir)
    return index


# Of funchost's triggers, only the timer's declares retry support to the WebJobs SDK.
RETRY_SUPPORTED_TRIGGERS = frozenset({"timertrigger"})


def _warn_retries_without_support(functions: list[FunctionSpec], config: HostConfig) -> None:
    """The SDK's indexing warning for a retry policy on a trigger without retry support.

    The policy still applies there, as in the SDK (HTTP, queue and blob triggers alike).
    """
    default = config.host_options.retry
    for spec in functions:
        if (spec.retry or default) is None:
            continue
        if spec.trigger.type.lower() not in RETRY_SUPPORTED_TRIGGERS:
            logger.warning(
                "Soon retries will not be supported for function 'Functions.%s'. For more "
                "information, please visit http://aka.ms/func-retry-policies.",
                spec.name,
            )


def _binding_file(spec: FunctionSpec) -> str:
    """Where a function's bindings are written: its function.json, or the v2 script."""
    if spec.model == "v1":
        return str(Path(spec.directory) / "function.json")
    return spec.script_file
