"""Binding expressions: `%Setting%` and `{name}` in queue names, blob paths and the like.

`%Setting%` is replaced from the app settings once, when a function's bindings are prepared.
`{name}` is filled per invocation from the binding data: the trigger's metadata and captures,
a JSON message's or HTTP body's top-level properties, HTTP query and route values,
`{Query.x}` and `{Headers.x}`, and the built-ins `{rand-guid}` and `{DateTime}`. Names match
case-insensitively, as in Azure; `{a.b}` reads property `b` of object `a`. `{{` and `}}` are
literal braces. Error messages are the host's.

JSON read for binding data (a message, a request body) is bounded: at most `JSON_DATA_MAX_BYTES`
bytes nested at most `JSON_DATA_MAX_DEPTH` levels, and only a JSON object is parsed at all, since
parsing multiplies a document's size in memory (an array of empty objects by about 25).
"""

from __future__ import annotations

import itertools
import json
import operator
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

_SETTING = re.compile(r"%([^%]+)%")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")

#: The largest JSON document, in bytes, read for binding data.
JSON_DATA_MAX_BYTES = 1024 * 1024
#: Its deepest nesting of objects and arrays (Newtonsoft.Json's default `MaxDepth`).
JSON_DATA_MAX_DEPTH = 64
#: Names a binding expression resolves without binding data: the built-ins.
BUILTIN_NAMES = frozenset({"rand-guid", "datetime"})

# A JSON string, or an unterminated one up to the end: what a JSON lexer skips.
_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\[\s\S])*+(?:"|\\?\Z)')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# Openers to 2 and closers to 0: the running sum less the count seen is the depth.
_BRACKET_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_SPACE = b" \t\r\n"


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
        """A JSON object's top-level properties, when `text` is one (within the bounds of
        `json_object`); anything else adds none."""
        if not text:
            return
        try:
            self.update(json_object(text))
        except JsonDataError:
            return

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

    @property
    def data_names(self) -> frozenset[str]:
        """The binding-data names its parameters read, lower-cased (`order` for `{order.id}`)."""
        return frozenset(p.partition(".")[0].lower() for p in self.parameters)

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


class JsonDataError(ValueError):
    """A JSON document binding data cannot be read from; the message says why, in one line."""


def json_object(text: str | bytes) -> dict[str, Any]:
    """The JSON object `text`, read within `JSON_DATA_MAX_BYTES` and `JSON_DATA_MAX_DEPTH`.

    Anything but an object (an array, a string, not JSON at all) is refused before it is
    parsed. Linear in the size of `text`; for large documents, call it off the event loop.
    """
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > JSON_DATA_MAX_BYTES:
        raise JsonDataError(f"is larger than {JSON_DATA_MAX_BYTES} bytes")
    start = data.lstrip(_SPACE)
    if start.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
        start = start[3:].lstrip(_SPACE)
    if not start.startswith(b"{"):
        raise JsonDataError("is not a JSON object")
    if _nesting(data) > JSON_DATA_MAX_DEPTH:
        raise JsonDataError(f"nests deeper than {JSON_DATA_MAX_DEPTH} levels")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise JsonDataError(f"is not valid JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(value, dict):
        raise JsonDataError("is not a JSON object")
    return value


def json_properties(text: str | bytes, names: frozenset[str]) -> dict[str, Any]:
    """The properties of the JSON object `text` (`json_object`) whose lower-cased names are in
    `names`; the rest of the document is dropped at once."""
    return {k: v for k, v in json_object(text).items() if k.lower() in names}


def _nesting(data: bytes) -> int:
    """How deeply arrays and objects nest in the JSON document `data`, in linear time."""
    if data.count(b"[") + data.count(b"{") <= JSON_DATA_MAX_DEPTH:
        return 0  # too few brackets to nest too deeply: no need to measure
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    steps = itertools.accumulate(brackets.translate(_BRACKET_STEP))
    depth: int = max(map(operator.sub, steps, itertools.count(1)))
    return depth


def http_binding_data(
    query: Mapping[str, str],
    route: Mapping[str, str],
    headers: Mapping[str, str],
    body_properties: Mapping[str, Any] | None = None,
) -> BindingData:
    """An HTTP request's binding data: JSON body properties (read by `json_object`, when an
    expression needs them), then query (not `code`), then route values, later wins; plus
    `Query` and `Headers` objects for `{Query.x}`/`{Headers.x}`."""
    data = BindingData(body_properties)
    data.update({k: v for k, v in query.items() if k.lower() != "code"})
    data.update(route)
    data.update({"Query": dict(query), "Headers": dict(headers)})
    return data
