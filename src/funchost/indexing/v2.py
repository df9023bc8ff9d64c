"""Indexing decorator ("v2") apps: the FunctionApp instance found in function_app.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import azure.functions as func

from funchost.bindings.kinds import unregistered_types
from funchost.errors import ConfigError, FunctionLoadError
from funchost.hostjson import parse_retry
from funchost.indexing.common import build_spec, check_http_trigger, parse_bindings
from funchost.indexing.loader import import_hint, import_script
from funchost.indexing.spec import FailedFunction, FunctionSpec


def find_function_app(module: Any, script: str) -> Any:
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    # The same instance may be bound to several names.
    unique = list({id(a): a for a in apps}.values())
    if len(unique) > 1:
        raise FunctionLoadError(
            "More than one FunctionApp or other top level function app instances are defined."
        )
    if not unique:
        raise FunctionLoadError(f"Could not find top level function app instances in {script}.")
    return unique[0]


def read_v2_app(
    app_dir: Path, script: str, disabled_names: set[str]
) -> tuple[list[FunctionSpec | FailedFunction], Any]:
    """The functions of a v2 app, and its FunctionApp instance (None when it failed)."""
    try:
        module = import_script(app_dir, script)
        app = find_function_app(module, script)
        functions = app.get_functions()
    except FunctionLoadError as exc:
        return [FailedFunction(script, script, str(exc))], None
    except (Exception, SystemExit) as exc:
        return [FailedFunction(script, script, import_hint(exc))], None
    results: list[FunctionSpec | FailedFunction] = []
    for f in functions:
        name = f.get_function_name()
        try:
            definition = json.loads(f.get_function_json())
            bindings = parse_bindings(definition.get("bindings"), f"{script} ({name})")
            check_http_trigger(bindings, name, f"{script} ({name})")
            retry_raw = f.get_settings_dict("retry_policy")
            retry = parse_retry(retry_raw, f"{script} ({name})") if retry_raw else None
            spec = build_spec(
                name=name,
                directory=str(app_dir),
                script_file=str(app_dir / script),
                entry_point=f.get_user_function().__name__,
                func=f.get_user_function(),
                bindings=bindings,
                disabled=name.lower() in disabled_names,
                retry=retry,
                model="v2",
            )
            # The worker indexed it; the host then refuses the binding types it cannot run.
            unregistered = unregistered_types(bindings)
            results.append(
                spec if unregistered is None else FailedFunction(name, script, unregistered)
            )
        except (FunctionLoadError, ConfigError) as exc:
            results.append(FailedFunction(name, script, str(exc)))
    return results, app
