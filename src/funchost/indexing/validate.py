"""Checking a user function's signature against its bindings, with the real worker's messages.

The result is the list of `ParamSpec`s the invoker follows at every invocation, so this work
is done once, at load time.
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable, Sequence
from typing import Any

from funchost.bindings.converters import converter_for
from funchost.errors import FunctionLoadError
from funchost.indexing.spec import BindingSpec, ParamSpec


def _fail(function_name: str, message: str) -> FunctionLoadError:
    return FunctionLoadError(f"cannot load the {function_name} function: {message}")


def _is_out_annotation(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    candidate = origin if origin is not None else annotation
    return isinstance(candidate, type) and candidate.__name__ == "Out"


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", repr(t))


def _extension_package(module: str) -> str:
    """The distribution an `azurefunctions.extensions.<kind>.<name>...` module comes from."""
    parts = module.split(".")
    if parts[:2] == ["azurefunctions", "extensions"] and len(parts) >= 4:
        return "-".join(parts[:4])
    return module


def unsupported_extension(
    bindings: Sequence[BindingSpec], annotations: dict[str, Any]
) -> str | None:
    """Why a function needs a worker extension funchost does not run, or None.

    The worker turns on HTTP streaming for every HTTP function of an app once a web extension
    (`azurefunctions-extensions-http-fastapi`) is imported, and hands SDK types
    (`azurefunctions-extensions-bindings-blob`'s `BlobClient`, ...) to parameters so annotated.
    Both are told apart with the extensions' own base package, and only when the app has
    imported it: nothing is imported here.
    """
    base = sys.modules.get("azurefunctions.extensions.base")
    if base is None:
        return None
    try:
        web_module = base.ModuleTrackerMeta.get_module()
        if web_module and any(b.is_trigger and b.type.lower() == "httptrigger" for b in bindings):
            return (
                f"funchost does not support the {_extension_package(web_module)} extension "
                "(HTTP streaming) yet; use azure.functions.HttpRequest and HttpResponse, or "
                "AsgiFunctionApp for a FastAPI app"
            )
        registry = base.get_binding_registry()
        for name, anno in annotations.items():
            if name != "return" and registry.check_supported_type(anno):
                inner = typing.get_args(anno)[0] if typing.get_args(anno) else anno
                return (
                    f"funchost does not support SDK-type bindings yet: {name!r} is annotated "
                    f"{_type_name(anno)} from the "
                    f"{_extension_package(getattr(inner, '__module__', ''))} extension; "
                    "use the binding's azure.functions types (str, bytes, func.InputStream)"
                )
    except Exception:  # an extension version whose API differs: judge by annotations alone
        return None
    return None


def _implicit_output(binding_type: str) -> bool:
    """Whether the binding's converter returns the function's result itself (output-only
    converters do not say)."""
    check = getattr(converter_for(binding_type), "has_implicit_output", None)
    return bool(check()) if check is not None else False


def plan_parameters(
    function_name: str,
    func: Callable[..., Any],
    bindings: Sequence[BindingSpec],
) -> tuple[tuple[ParamSpec, ...], ParamSpec | None, bool]:
    """(params, return param, requires_context) for `func`, or FunctionLoadError."""
    try:
        params = dict(inspect.signature(func).parameters)
    except (TypeError, ValueError) as exc:
        raise _fail(function_name, f"cannot inspect the entry point: {exc}") from None
    try:
        annotations = typing.get_type_hints(func)
    except Exception as exc:
        raise _fail(function_name, f"cannot resolve type annotations: {exc}") from None
    unsupported = unsupported_extension(bindings, annotations)
    if unsupported is not None:
        raise _fail(function_name, unsupported)

    bound: dict[str, BindingSpec] = {}
    return_binding: BindingSpec | None = None
    for b in bindings:
        if b.direction == "inout":
            raise _fail(function_name, '"inout" bindings are not supported')
        if b.name == "$return":
            if b.direction != "out":
                raise _fail(function_name, '"$return" binding must have direction set to "out"')
            return_binding = b
        else:
            bound[b.name] = b

    requires_context = False
    if "context" in params and "context" not in bound:
        requires_context = True
        params.pop("context")
        if "context" in annotations:
            anno = annotations["context"]
            if not isinstance(anno, type) or anno.__name__ != "Context":
                raise _fail(
                    function_name,
                    'the "context" parameter is expected to be of type '
                    f"azure.functions.Context, got {anno!r}",
                )

    extra_py = set(params) - set(bound)
    if extra_py:
        raise _fail(
            function_name,
            "the following parameters are declared in Python but not in function.json: "
            f"{extra_py!r}",
        )
    extra_json = set(bound) - set(params)
    if extra_json:
        raise _fail(
            function_name,
            "the following parameters are declared in function.json but not in Python: "
            f"{extra_json!r}",
        )

    planned: list[ParamSpec] = []
    for name in params:
        b = bound[name]
        has_anno = name in annotations
        anno = annotations.get(name)
        is_param_out = has_anno and _is_out_annotation(anno)
        is_binding_out = b.direction == "out"
        pytype: Any = anno
        if is_param_out:
            args = typing.get_args(anno)
            if len(args) != 1:
                raise _fail(function_name, f"binding {name} has invalid Out annotation {anno!r}")
            pytype = args[0]
        if has_anno and not isinstance(pytype, type) and typing.get_origin(pytype) is None:
            raise _fail(function_name, f"binding {name} has invalid non-type annotation {anno!r}")
        if is_binding_out and has_anno and not is_param_out:
            raise _fail(
                function_name,
                f'binding {name} is declared to have the "out" direction, but its annotation '
                "in Python is not a subclass of azure.functions.Out",
            )
        if not is_binding_out and is_param_out:
            raise _fail(
                function_name,
                f'binding {name} is declared to have the "in" direction in function.json, but '
                "its annotation is azure.functions.Out in Python",
            )
        # As the worker: `str`/`bytes` take the generic converter, except for a binding whose
        # converter has an implicit output (a durable activity's `str` input is JSON decoded).
        generic = has_anno and pytype in (str, bytes)
        if generic and _implicit_output(b.type):
            generic = False
        converter_name = "generic" if generic else b.type
        if has_anno:
            converter = converter_for(converter_name)
            check_type = typing.get_origin(pytype) or pytype
            try:
                ok = (
                    converter.check_output_type_annotation(pytype)
                    if is_param_out
                    else converter.check_input_type_annotation(pytype)
                )
            except TypeError:
                ok = False
            if not ok:
                if b.data_type:
                    raise _fail(
                        function_name,
                        f'{name!r} binding type "{b.type}" and dataType "{b.data_type}" in '
                        "function.json do not match the corresponding function parameter's "
                        f'Python type annotation "{_type_name(check_type)}"',
                    )
                raise _fail(
                    function_name,
                    f'type of {name} binding in function.json "{b.type}" does not match its '
                    f'Python annotation "{_type_name(check_type)}"',
                )
        planned.append(
            ParamSpec(name, b, converter_name, pytype if has_anno else None, is_binding_out)
        )

    return_param: ParamSpec | None = None
    if return_binding is not None:
        return_type: Any = None
        converter_name = return_binding.type
        if "return" in annotations:
            return_type = annotations["return"]
            if _is_out_annotation(return_type):
                raise _fail(function_name, "return annotation should not be azure.functions.Out")
            if not isinstance(return_type, type):
                raise _fail(
                    function_name, f"has invalid non-type return annotation {return_type!r}"
                )
            if not converter_for(converter_name).check_output_type_annotation(return_type):
                raise _fail(
                    function_name,
                    f'Python return annotation "{return_type.__name__}" does not match binding '
                    f'type "{return_binding.type}"',
                )
        return_param = ParamSpec("$return", return_binding, converter_name, return_type, True)
    else:
        # As the worker: a trigger whose converter has an implicit output (the durable
        # orchestration, entity and activity triggers) takes the return value itself.
        trigger = next((b for b in bindings if b.is_trigger), None)
        if trigger is not None and _implicit_output(trigger.type):
            return_param = ParamSpec("$return", trigger, trigger.type, None, True)
    return tuple(planned), return_param, requires_context
