"""Encoding a function's outputs, inside its invocation, with the encoder of each binding type.

Encoding happens before the invocation is reported, so a value a binding cannot take fails the
invocation as in the worker. The result is what the binding's writer consumes: an
`HttpResponseParts` for `http`, a library `Datum` for every other binding type.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from funchost.bindings import converters
from funchost.bindings.http import http_output
from funchost.indexing.spec import ParamSpec

Encoder = Callable[[Any, Any], Any]

ENCODERS: dict[str, Encoder] = {
    "http": http_output,
}


@functools.cache
def _encoder_for(binding_type: str) -> Encoder | None:
    return ENCODERS.get(binding_type.lower())


def encode_output(param: ParamSpec, value: Any) -> Any:
    encoder = _encoder_for(param.binding.type)
    if encoder is not None:
        return encoder(value, param.pytype)
    return converters.encode(param.converter_name, value, param.pytype)
