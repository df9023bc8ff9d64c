"""The frozen description of one function that every app model is indexed into."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BindingSpec:
    """One binding as function.json would describe it."""

    name: str
    type: str
    direction: str  # "in" | "out" | "inout"
    data_type: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_trigger(self) -> bool:
        return self.type.lower().endswith("trigger")

    def get(self, key: str, default: Any = None) -> Any:
        """A property of the binding, looked up case-insensitively as the host does."""
        if key in self.raw:
            return self.raw[key]
        lowered = key.lower()
        for k, v in self.raw.items():
            if k.lower() == lowered:
                return v
        return default


@dataclass(frozen=True)
class RetrySpec:
    strategy: str  # "fixedDelay" | "exponentialBackoff"
    max_retry_count: int
    delay_interval: float = 0.0
    minimum_interval: float = 0.0
    maximum_interval: float = 0.0


@dataclass(frozen=True)
class ParamSpec:
    """How one Python parameter (or the return value) is fed: by which converter, as which type."""

    name: str
    binding: BindingSpec
    converter_name: str  # the binding type, or "generic" for str/bytes annotations
    pytype: Any = None  # the annotation (inner type for func.Out[T]); None when not annotated
    is_out: bool = False


@dataclass(frozen=True)
class FunctionSpec:
    """A function ready to run: what triggers it, its bindings and its Python callable."""

    name: str
    directory: str
    script_file: str
    entry_point: str
    trigger: BindingSpec
    bindings: tuple[BindingSpec, ...]
    callable: Callable[..., Any] = field(compare=False, repr=False)
    is_async: bool = False
    disabled: bool = False
    retry: RetrySpec | None = None
    model: str = "v1"  # "v1" (function.json) | "v2" (decorators)
    params: tuple[ParamSpec, ...] = ()
    return_param: ParamSpec | None = None
    requires_context: bool = False

    @property
    def is_http(self) -> bool:
        return self.trigger.type.lower() == "httptrigger"

    @property
    def output_bindings(self) -> tuple[BindingSpec, ...]:
        return tuple(b for b in self.bindings if b.direction == "out")


@dataclass(frozen=True)
class FailedFunction:
    """A function that could not be loaded, with the file and reason shown to the user."""

    name: str
    file: str
    reason: str
