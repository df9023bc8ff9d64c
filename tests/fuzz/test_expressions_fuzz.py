"""Binding expressions under arbitrary input: an expression either parses or raises
BindingExpressionError, resolving it against any binding data (nested JSON, odd keys) gives a
string or BindingExpressionError, JSON text of any shape adds properties or nothing, and all
of it takes time linear in the input."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from funchost.bindings.expressions import (
    BindingData,
    BindingExpressionError,
    BindingTemplate,
    resolve_settings,
)
from tests.fuzz.budget import examples
from tests.fuzz.timing import assert_linear

# --- strategies --------------------------------------------------------------------------

ODD_KEYS = st.one_of(
    st.sampled_from(
        ["name", "Name", "NAME", "", " ", ".", "a.b", "{", "}", "%", "rand-guid", "DateTime"]
    ),
    st.sampled_from(["Query", "Headers", "sys", "é", "İ", "ß", "\u212a", "0", "-1", "null"]),
    st.text(max_size=6),
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(ODD_KEYS, children, max_size=4)
    ),
    max_leaves=20,
)
BINDING_DATA = st.dictionaries(ODD_KEYS, JSON_VALUES, max_size=8)

EXPRESSION_FRAGMENTS = st.one_of(
    st.sampled_from(["{", "}", "{{", "}}", "%", ".", " ", "/", "-", "{}", "{ }", "{.}"]),
    st.sampled_from(["{name}", "{Name.x}", "{a.b.c}", "{rand-guid}", "{DateTime}", "{ name }"]),
    st.sampled_from(["{Query.code}", "{Headers.x-y}", "{sys.randguid}", "{a..b}", "{.a}"]),
    ODD_KEYS.map(lambda key: "{" + key + "}"),
    st.text(max_size=4),
)
EXPRESSIONS = st.one_of(
    st.lists(EXPRESSION_FRAGMENTS, max_size=8).map("".join), st.text(max_size=30)
)


@st.composite
def json_documents(draw: st.DrawFn) -> str | bytes:
    """JSON text of every shape add_json_properties may get: objects, other values, broken
    and deeply nested documents, bytes that are not UTF-8."""
    kind = draw(st.integers(min_value=0, max_value=5))
    if kind == 0:
        return json.dumps(draw(st.dictionaries(ODD_KEYS, JSON_VALUES, max_size=6)))
    if kind == 1:
        return json.dumps(draw(JSON_VALUES))
    if kind == 2:
        depth = draw(st.integers(min_value=1, max_value=5000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        inner = opener * depth + closer * depth
        return '{"a":' + inner + ', "b": 1}' if draw(st.booleans()) else inner
    if kind == 3:
        text = json.dumps(draw(st.dictionaries(ODD_KEYS, JSON_VALUES, min_size=1, max_size=4)))
        cut = draw(st.integers(min_value=0, max_value=len(text)))
        return text[:cut] + draw(st.text(max_size=3))
    if kind == 4:
        return draw(st.binary(max_size=40))
    return draw(st.sampled_from(["NaN", "[]", "{}", '{"a": NaN}', "\ufeff{}", '{"a":1}{"b":2}']))


# --- parsing -----------------------------------------------------------------------------


@examples(300)
@given(EXPRESSIONS)
@example("{")
@example("}")
@example("{}")
@example("{{}}")
@example("{a}}")
@example("{{a}")
@example("{ }")
def test_any_expression_parses_or_raises_binding_expression_error(text: str) -> None:
    try:
        template = BindingTemplate(text)
    except BindingExpressionError as exc:
        assert str(exc).startswith(f"Invalid template '{text}'"), str(exc)
        return
    assert all(name and name == name.strip() for name in template.parameters)
    if not template.has_parameters:
        # Only "{{" and "}}" are special without parameters.
        assert template.bind(None) == text.replace("{{", "{").replace("}}", "}")


# --- resolving ---------------------------------------------------------------------------


@examples(300)
@given(EXPRESSIONS, BINDING_DATA)
@example("{a.b}", {"a": {"B": [1, {"c": None}]}})
@example("{a}", {"a": float("nan")})
@example("{a.0}", {"a": [1, 2]})
@example("{.}", {"": {"": 1}})
def test_resolving_against_any_binding_data_gives_text_or_the_documented_error(
    text: str, values: dict[str, Any]
) -> None:
    try:
        template = BindingTemplate(text)
    except BindingExpressionError:
        return
    data = BindingData(values)
    try:
        result = template.bind(data)
    except BindingExpressionError as exc:
        assert str(exc).startswith("No value for named parameter '"), str(exc)
        return
    assert isinstance(result, str)


NAMES = st.text(
    alphabet=st.characters(blacklist_characters="{}.", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=8,
).filter(lambda name: name == name.strip() and name.lower() not in ("rand-guid", "datetime"))
LITERALS = st.text(
    alphabet=st.characters(blacklist_characters="{}", blacklist_categories=["Cs"]), max_size=6
)


def _swap_ascii_case(name: str) -> str:
    # Only ASCII: the swapped case of MICRO SIGN is GREEK CAPITAL MU, whose lower case is
    # GREEK SMALL MU, not the micro sign.
    return "".join(c.swapcase() if c.isascii() else c for c in name)


@examples(200)
@given(st.lists(st.tuples(LITERALS, NAMES, st.text(max_size=8)), max_size=5), LITERALS)
def test_parameters_are_replaced_by_their_values_case_insensitively(
    pieces: list[tuple[str, str, str]], tail: str
) -> None:
    values: dict[str, str] = {}
    for _, name, value in pieces:
        values.setdefault(name.lower(), value)
    template = BindingTemplate(
        "".join(literal + "{" + _swap_ascii_case(name) + "}" for literal, name, _ in pieces) + tail
    )
    expected = "".join(literal + values[name.lower()] for literal, name, _ in pieces) + tail
    assert template.bind(BindingData(values)) == expected


@examples(200)
@given(json_documents())
@example('{"a":' + "[" * 100_000 + "]" * 100_000 + "}")
@example("[" * 100_000)
@example(b"\xff\xfe{}")
@example('{"a": 1e999999}')
@example('{"a": ' + "1" * 5000 + "}")
def test_json_text_of_any_shape_adds_properties_or_nothing(text: str | bytes) -> None:
    data = BindingData({"kept": 1})
    data.add_json_properties(text)
    assert data.get("kept") is not None or "kept" in str(text).lower()
    for name in data.names():
        assert isinstance(name, str)


@examples(200)
@given(st.text(max_size=40), st.dictionaries(st.text(max_size=6), st.text(max_size=6)))
@example("%%", {})
@example("%a%%b%", {"a": "%b", "b": "x"})
@example("%" * 1000, {})
def test_settings_resolve_or_raise_the_documented_error(
    text: str, settings: dict[str, str]
) -> None:
    try:
        result = resolve_settings(text, settings)
    except BindingExpressionError as exc:
        assert str(exc).endswith("' does not resolve to a value."), str(exc)
        return
    assert isinstance(result, str)


# --- linear time -------------------------------------------------------------------------


def _parse_and_bind(text: str) -> None:
    with contextlib.suppress(BindingExpressionError):
        BindingTemplate(text).bind(BindingData({"a": "x"}))
    with contextlib.suppress(BindingExpressionError):
        resolve_settings(text, {"a": "x"})


@examples(30)
@given(st.sampled_from(["{", "}", "{a", "a}", "{{", "{a}", "%", "%a", "{.", "{a.", "{ ", "x"]))
def test_expressions_take_time_linear_in_their_length(unit: str) -> None:
    short, long = unit * (4_096 // len(unit)), unit * (65_536 // len(unit))
    assert_linear(lambda: _parse_and_bind(short), lambda: _parse_and_bind(long), 16, 0.01, unit)


@examples(10)
@given(st.sampled_from(["[", '{"a":', '{"a":[', " ", '"', "1", '{"a":"\\\\']))
def test_json_properties_take_time_linear_in_the_document(unit: str) -> None:
    def document(length: int) -> str:
        return '{"x":' + unit * (length // len(unit))

    short, long = document(25_000), document(400_000)
    assert_linear(
        lambda: BindingData().add_json_properties(short),
        lambda: BindingData().add_json_properties(long),
        16,
        0.02,
        unit,
    )
