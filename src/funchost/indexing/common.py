"""Turning binding dictionaries (function.json or a v2 app's JSON) into specs."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from funchost.bindings.http import trigger_route
from funchost.errors import FunctionLoadError
from funchost.http.routing import RouteTemplateError, compile_route
from funchost.indexing.spec import BindingSpec, FunctionSpec, RetrySpec
from funchost.indexing.validate import plan_parameters


def parse_bindings(raw: Any, where: str) -> tuple[BindingSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise FunctionLoadError(f"{where}: 'bindings' must be a non-empty list")
    result: list[BindingSpec] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise FunctionLoadError(f"{where}: bindings[{i}] must be a JSON object")
        lowered = {str(k).lower(): v for k, v in item.items()}
        missing = [k for k in ("name", "type", "direction") if not lowered.get(k)]
        if missing:
            raise FunctionLoadError(
                f"{where}: bindings[{i}] is missing {', '.join(repr(m) for m in missing)}"
            )
        direction = str(lowered["direction"]).lower()
        if direction not in ("in", "out", "inout"):
            raise FunctionLoadError(
                f"{where}: bindings[{i}] has invalid direction {lowered['direction']!r}"
            )
        data_type = lowered.get("datatype")
        result.append(
            BindingSpec(
                name=str(lowered["name"]),
                type=str(lowered["type"]),
                direction=direction,
                data_type=str(data_type).lower() if data_type else None,
                raw=dict(item),
            )
        )
    triggers = [b for b in result if b.is_trigger]
    if len(triggers) != 1:
        raise FunctionLoadError(
            f"{where}: a function needs exactly one trigger binding, found {len(triggers)}"
        )
    names = [b.name.lower() for b in result]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise FunctionLoadError(f"{where}: binding names must be unique, repeated: {dupes}")
    return tuple(result)


AUTH_LEVELS = ("anonymous", "function", "admin", "system")
# QUERY (the HTTP QUERY method draft): azure-functions 2.x's AsgiFunctionApp and WsgiFunctionApp
# register it with the others.
HTTP_METHODS = (
    "GET",
    "POST",
    "PUT",
    "DELETE",
    "PATCH",
    "HEAD",
    "OPTIONS",
    "TRACE",
    "CONNECT",
    "QUERY",
)


def check_http_trigger(bindings: Sequence[BindingSpec], function_name: str, where: str) -> None:
    """An HTTP trigger's route, methods and authLevel, checked at load, not on first request."""
    for b in bindings:
        if b.is_trigger and b.type.lower() == "httptrigger":
            level = b.get("authLevel")
            if level is not None and str(level).lower() not in AUTH_LEVELS:
                raise FunctionLoadError(
                    f"{where}: authLevel {level!r} is not one of anonymous, function, admin"
                )
            methods = b.get("methods")
            if methods is not None and (
                not isinstance(methods, list)
                or any(not isinstance(m, str) or m.upper() not in HTTP_METHODS for m in methods)
            ):
                raise FunctionLoadError(
                    f'{where}: methods must be a list of HTTP methods like ["get", "post"], '
                    f"found {methods!r}"
                )
            try:
                compile_route(trigger_route(b, function_name))
            except RouteTemplateError as exc:
                raise FunctionLoadError(f"{where}: {exc}") from None


def build_spec(
    *,
    name: str,
    directory: str,
    script_file: str,
    entry_point: str,
    func: Callable[..., Any],
    bindings: Sequence[BindingSpec],
    disabled: bool,
    retry: RetrySpec | None,
    model: str,
) -> FunctionSpec:
    params, return_param, requires_context = plan_parameters(name, func, bindings)
    trigger = next(b for b in bindings if b.is_trigger)
    return FunctionSpec(
        name=name,
        directory=directory,
        script_file=script_file,
        entry_point=entry_point,
        trigger=trigger,
        bindings=tuple(bindings),
        callable=func,
        is_async=inspect.iscoroutinefunction(func),
        disabled=disabled,
        retry=retry,
        model=model,
        params=params,
        return_param=return_param,
        requires_context=requires_context,
    )
