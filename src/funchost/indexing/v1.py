"""Indexing function.json ("v1") apps: one function per folder holding a function.json."""

from __future__ import annotations

from pathlib import Path

from funchost.bindings.kinds import unregistered_types
from funchost.errors import ConfigError, FunctionLoadError
from funchost.hostjson import parse_retry
from funchost.indexing.common import build_spec, check_http_trigger, parse_bindings
from funchost.indexing.loader import import_function_module, import_hint
from funchost.indexing.spec import FailedFunction, FunctionSpec
from funchost.jsonfile import read_json_object

FUNCTION_JSON = "function.json"


def function_folders(app_dir: Path) -> list[Path]:
    return sorted(
        (p for p in app_dir.iterdir() if p.is_dir() and (p / FUNCTION_JSON).is_file()),
        key=lambda p: p.name.lower(),
    )


def read_v1_function(
    app_dir: Path, folder: Path, disabled_by_setting: bool
) -> FunctionSpec | FailedFunction:
    name = folder.name
    rel_json = f"{name}/{FUNCTION_JSON}"
    try:
        meta = read_json_object(folder / FUNCTION_JSON, label=rel_json)
    except ConfigError as exc:
        return FailedFunction(name, rel_json, str(exc))
    lowered = {k.lower(): v for k, v in meta.items()}
    try:
        bindings = parse_bindings(lowered.get("bindings"), rel_json)
        # The host refuses these before the worker loads the function: its code is not imported.
        unregistered = unregistered_types(bindings)
        if unregistered is not None:
            return FailedFunction(name, rel_json, unregistered)
        check_http_trigger(bindings, name, rel_json)
        retry = parse_retry(lowered.get("retry"), rel_json)
    except (FunctionLoadError, ConfigError) as exc:
        return FailedFunction(name, rel_json, str(exc))
    disabled_value = lowered.get("disabled", False)
    disabled = disabled_value is True or str(disabled_value).lower() == "true"
    script_setting = lowered.get("scriptfile")
    script = (folder / str(script_setting or "__init__.py")).resolve()
    rel_script = f"{name}/{script_setting or '__init__.py'}"
    if not script.is_file():
        if script_setting:
            reason = (
                "Invalid script file name configuration. The 'scriptFile' property is set to a "
                "file that does not exist."
            )
        else:
            reason = f"no __init__.py in {name}/; add one or set 'scriptFile' in {rel_json}"
        return FailedFunction(name, rel_script, reason)
    entry_point = str(lowered.get("entrypoint") or "main")
    try:
        script.relative_to(app_dir)
    except ValueError:
        return FailedFunction(name, rel_script, "scriptFile must be inside the app folder")
    if disabled or disabled_by_setting:
        # A disabled function is listed but its code is not imported, as in Azure.
        return FunctionSpec(
            name=name,
            directory=str(folder),
            script_file=str(script),
            entry_point=entry_point,
            trigger=next(b for b in bindings if b.is_trigger),
            bindings=bindings,
            callable=_never_called,
            disabled=True,
            retry=retry,
        )
    try:
        module = import_function_module(app_dir, script)
    except (Exception, SystemExit) as exc:
        return FailedFunction(name, rel_script, f"cannot load function {name}: {import_hint(exc)}")
    func = getattr(module, entry_point, None)
    if not callable(func):
        return FailedFunction(
            name,
            rel_script,
            f"cannot load function {name}: function {entry_point}() is not present in {rel_script}",
        )
    try:
        return build_spec(
            name=name,
            directory=str(folder),
            script_file=str(script),
            entry_point=entry_point,
            func=func,
            bindings=bindings,
            disabled=False,
            retry=retry,
            model="v1",
        )
    except FunctionLoadError as exc:
        return FailedFunction(name, rel_script, str(exc))


def _never_called(*args: object, **kwargs: object) -> None:
    raise RuntimeError("a disabled function was invoked")
