"""Converting values between the host and user code with the `azure.functions` converters.

The library registers one converter class per binding type in `meta.get_binding_registry()`;
funchost uses them exactly as the Python worker does, with the worker's "generic" converter as
the fallback for binding types the library does not know and for `str`/`bytes` annotations.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

from azure.functions import meta


class GenericConverter:
    """Passes strings, bytes and JSON through unchanged (the worker's GenericBinding)."""

    __name__ = "GenericConverter"

    @classmethod
    def check_input_type_annotation(cls, pytype: type) -> bool:
        return issubclass(pytype, (str, bytes))

    @classmethod
    def check_output_type_annotation(cls, pytype: type) -> bool:
        return issubclass(pytype, (str, bytearray, bytes))

    @classmethod
    def has_implicit_output(cls) -> bool:
        return False

    @classmethod
    def has_trigger_support(cls) -> bool:
        return False

    @classmethod
    def decode(cls, data: meta.Datum, *, trigger_metadata: Mapping[str, meta.Datum] | None) -> Any:
        if data.type in ("string", "bytes", "json"):
            return data.value
        if data.type is None:
            return None
        raise NotImplementedError

    @classmethod
    def encode(cls, obj: Any, *, expected_type: type | None) -> meta.Datum:
        if isinstance(obj, str):
            return meta.Datum(type="string", value=obj)
        if isinstance(obj, (bytes, bytearray)):
            return meta.Datum(type="bytes", value=bytes(obj))
        if obj is None:
            return meta.Datum(type=None, value=None)
        if isinstance(obj, (int, float, bool, list, dict)):
            return meta.Datum(type="json", value=json.dumps(obj))
        raise NotImplementedError


@functools.cache
def converter_for(binding_type: str) -> Any:
    """The converter class for a binding type, found as the worker finds it."""
    if binding_type == "generic":
        return GenericConverter
    registry: Any = meta.get_binding_registry()  # type: ignore[no-untyped-call]
    converter = registry.get(binding_type)
    if converter is None:
        # function.json is case-insensitive about type names; the registry is not.
        lowered = binding_type.lower()
        for name, cls in registry._bindings.items():
            if isinstance(name, str) and name.lower() == lowered:
                return cls
        return GenericConverter
    return converter


def decode(
    binding_type: str,
    datum: meta.Datum,
    pytype: Any,
    trigger_metadata: Mapping[str, meta.Datum] | None,
) -> Any:
    converter = converter_for(binding_type)
    try:
        return converter.decode(datum, trigger_metadata=trigger_metadata)
    except NotImplementedError:
        raise TypeError(
            "unable to decode incoming TypedData: unsupported combination of TypedData field "
            f"{datum.type!r} and expected binding type {binding_type}"
        ) from None


def encode(binding_type: str, obj: Any, pytype: Any) -> meta.Datum:
    converter = converter_for(binding_type)
    try:
        result: meta.Datum = converter.encode(obj, expected_type=pytype)
    except NotImplementedError:
        raise TypeError(
            f'unable to encode outgoing TypedData: unsupported type "{binding_type}" for '
            f'Python type "{type(obj).__name__}"'
        ) from None
    return result


def payload_datum(value: str | bytes, data_type: str | None, pytype: Any) -> meta.Datum:
    """A trigger's or input's payload as the function asks for it: the binding's `dataType`
    (`string`/`binary`) decides, else a `str` or `bytes` annotation, else the payload's own
    type."""
    wanted = (data_type or "").lower()
    if wanted not in ("string", "binary"):
        wanted = "string" if pytype is str else "binary" if pytype is bytes else ""
    if wanted == "string" and isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif wanted == "binary" and isinstance(value, str):
        value = value.encode("utf-8")
    return meta.Datum(value, "string" if isinstance(value, str) else "bytes")
