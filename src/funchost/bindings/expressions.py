"""Binding expressions: `%Setting%` and `{name}` in queue names, blob paths and the like.

`%Setting%` is replaced from the app settings once, when a function's bindings are prepared.
`{name}` is filled per invocation from the binding data: the trigger's metadata and captures,
a JSON message's or HTTP body's top-level properties, HTTP query and route values,
`{Query.x}` and `{Headers.x}`, and the built-ins `{rand-guid}` and `{DateTime}`. Names match
case-insensitively, as in Azure; `{a.b}` reads property `b` of object `a`. `{{` and `}}` are
literal braces. Error messages are the host's.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

_SETTING = re.compile(r"%([^%]+)%")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class BindingExpressionError(ValueError):
    """An expression that cannot be resolved; the message is the host's."""


def resolve_settings(text: str, settings: Mapping[str, str]) -> str:
    """`text` with every `%Name%` replaced by that app setting."""

    def replace(match: re.Match[str]) -> str:
        value = settings.get(match[1])
        if value is None:
            raise BindingExpressionError(f"'%{match[1]}%' does not resolve to a value.")
        return value

    return _SETTING.sub(replace, text)


class BindingData:
    """Values by name, looked up case-insensitively; later additions win."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._values: dict[str, Any] = {}
        if values:
            self.update(values)

    def update(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            self._values[name.lower()] = value

    def add_json_properties(self, text: str | bytes | None) -> None:
        """A JSON object's top-level properties, when `text` is one; anything else adds none."""
        if not text:
            return
        try:
            value = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            return
        if isinstance(value, dict):
            self.update(value)

    def get(self, name: str) -> Any:
        return self._values.get(name.lower())

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._values

    def names(self) -> Iterable[str]:
        return self._values.keys()


def _format(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _lookup(data: BindingData, expression: str) -> Any:
    head, *path = expression.split(".")
    value = data.get(head)
    if value is None:
        return None
    for part in path:
        if isinstance(value, Mapping):
            lowered = part.lower()
            value = next((v for k, v in value.items() if str(k).lower() == lowered), None)
        else:
            return None
        if value is None:
            return None
    return value


def _builtin(expression: str, now: datetime | None) -> str | None:
    lowered = expression.lower()
    if lowered == "rand-guid":
        return str(uuid.uuid4())
    if lowered == "datetime":
        moment = now or datetime.now(UTC)
        return moment.strftime("%Y-%m-%dT%H-%M-%SZ")
    return None


class BindingTemplate:
    """A binding property with `{...}` parameters, parsed once and filled per invocation."""

    __slots__ = ("_parts", "parameters", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        # Literal text and parameter names, alternating; a name is a 1-tuple.
        self._parts: list[str | tuple[str]] = []
        position = 0
        for match in _TOKEN.finditer(text):
            self._parts.append(text[position : match.start()])
            token = match[0]
            if token in ("{{", "}}"):
                self._parts.append(token[0])
            else:
                name = match[1].strip()
                if not name:
                    raise BindingExpressionError(f"Invalid template '{text}': empty '{{}}'.")
                self._parts.append((name,))
            position = match.end()
        rest = text[position:]
        if "{" in rest or "}" in rest:
            raise BindingExpressionError(f"Invalid template '{text}': unbalanced braces.")
        self._parts.append(rest)
        self.parameters = tuple(p[0] for p in self._parts if isinstance(p, tuple))

    @property
    def has_parameters(self) -> bool:
        return bool(self.parameters)

    def bind(self, data: BindingData | None, now: datetime | None = None) -> str:
        if not self.parameters:
            return "".join(p for p in self._parts if isinstance(p, str))
        out: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
                continue
            name = part[0]
            value = _lookup(data, name) if data is not None else None
            if value is None:
                builtin = _builtin(name, now)
                if builtin is None:
                    raise BindingExpressionError(f"No value for named parameter '{name}'.")
                out.append(builtin)
            else:
                out.append(_format(value))
        return "".join(out)


def http_binding_data(
    body: bytes,
    query: Mapping[str, str],
    route: Mapping[str, str],
    headers: Mapping[str, str],
) -> BindingData:
    """An HTTP request's binding data: JSON body properties, then query (not `code`), then
    route values, later wins; plus `Query` and `Headers` objects for `{Query.x}`/`{Headers.x}`."""
    data = BindingData()
    data.add_json_properties(body)
    data.update({k: v for k, v in query.items() if k.lower() != "code"})
    data.update(route)
    data.update({"Query": dict(query), "Headers": dict(headers)})
    return data
