"""Binding expressions: settings, parameters, built-ins and the host's error messages."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from funchost.bindings.expressions import (
    JSON_DATA_MAX_BYTES,
    JSON_DATA_MAX_DEPTH,
    BindingData,
    BindingExpressionError,
    BindingTemplate,
    JsonDataError,
    http_binding_data,
    json_object,
    json_properties,
    resolve_settings,
)


def test_settings_are_replaced_and_a_missing_one_is_named() -> None:
    assert resolve_settings("%Prefix%-items", {"Prefix": "in"}) == "in-items"
    with pytest.raises(BindingExpressionError, match=r"^'%Nope%' does not resolve to a value\.$"):
        resolve_settings("%Nope%", {})


def test_parameters_match_case_insensitively_and_read_nested_properties() -> None:
    data = BindingData({"QueueTrigger": "x"})
    data.add_json_properties('{"Order": {"Id": 42}, "region": "eu"}')
    template = BindingTemplate("out/{queuetrigger}/{order.id}-{REGION}.txt")
    assert template.bind(data) == "out/x/42-eu.txt"


def test_a_missing_parameter_gets_the_hosts_message() -> None:
    with pytest.raises(BindingExpressionError, match=r"^No value for named parameter 'name'\.$"):
        BindingTemplate("{name}").bind(BindingData())


def test_built_ins_and_literal_braces() -> None:
    now = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert BindingTemplate("{DateTime}").bind(BindingData(), now) == "2024-01-02T03-04-05Z"
    guid = BindingTemplate("{rand-guid}").bind(BindingData())
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", guid
    )
    assert BindingTemplate("{{literal}}").bind(BindingData()) == "{literal}"


def test_http_data_later_sources_win_and_code_is_not_binding_data() -> None:
    data = http_binding_data(
        {"id": "query", "code": "secret"},
        {"id": "route"},
        {"x-tenant": "t1"},
        json_properties(b'{"id": "body", "only": "b"}', frozenset({"id", "only"})),
    )
    assert BindingTemplate("{id}-{only}-{Headers.x-tenant}").bind(data) == "route-b-t1"
    with pytest.raises(BindingExpressionError):
        BindingTemplate("{code}").bind(data)
    assert BindingTemplate("{Query.code}").bind(data) == "secret"


def test_unbalanced_braces_are_refused() -> None:
    with pytest.raises(BindingExpressionError, match="unbalanced"):
        BindingTemplate("out/{name")


def test_json_object_reads_only_an_object_within_its_bounds() -> None:
    assert json_object(' \r\n{"a": "[[{{", "b": ["\\"]]"]}') == {"a": "[[{{", "b": ['"]]']}
    assert json_object(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    nested = "[" * (JSON_DATA_MAX_DEPTH - 1) + "]" * (JSON_DATA_MAX_DEPTH - 1)
    assert json_object('{"a": ' + nested + "}")["a"] == json.loads(nested)
    cases: list[tuple[str | bytes, str]] = [
        ("[{}]", "is not a JSON object"),
        ('"{}"', "is not a JSON object"),
        ("", "is not a JSON object"),
        ('{"a": ' + "[" * JSON_DATA_MAX_DEPTH + "]" * JSON_DATA_MAX_DEPTH + "}", "nests deeper"),
        ('{"a": ' + "[" * 200_000, "nests deeper"),  # unbalanced, still refused before parsing
        ('{"a": 1', "is not valid JSON"),
        (b'{"a": "\xff"}', "is not valid JSON"),
        ('{"a": "' + "x" * JSON_DATA_MAX_BYTES + '"}', f"is larger than {JSON_DATA_MAX_BYTES}"),
    ]
    for text, problem in cases:
        with pytest.raises(JsonDataError, match=re.escape(problem)):
            json_object(text)


def test_json_nesting_ignores_brackets_inside_strings_and_escaped_quotes() -> None:
    strings = '"[[[[", "\\"[[[[", "\\\\"'
    inside = "[" * JSON_DATA_MAX_DEPTH + "]" * JSON_DATA_MAX_DEPTH
    assert json_object('{"a": [' + strings + "], " + f'"b": "{inside}"' + "}")["b"] == inside
    # An escaped backslash ends before the quote, so the brackets after it count.
    deep = '{"a": "\\\\", "b": ' + inside + "}"
    with pytest.raises(JsonDataError, match="nests deeper"):
        json_object(deep)


def test_a_queue_message_too_deep_for_binding_data_adds_no_properties() -> None:
    data = BindingData({"QueueTrigger": "x"})
    data.add_json_properties('{"id": ' + "[" * 5000 + "]" * 5000 + "}")
    assert "id" not in data and "queuetrigger" in data


def test_json_properties_keeps_only_the_names_asked_for() -> None:
    assert json_properties('{"Name": 1, "pad": [1, 2]}', frozenset({"name"})) == {"Name": 1}


def test_a_template_knows_the_binding_data_names_it_reads() -> None:
    template = BindingTemplate("out/{Order.Id}/{name}-{rand-guid}{{x}}")
    assert template.data_names == frozenset({"order", "name", "rand-guid"})
