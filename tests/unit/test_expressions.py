"""Binding expressions: settings, parameters, built-ins and the host's error messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from funchost.bindings.expressions import (
    BindingData,
    BindingExpressionError,
    BindingTemplate,
    http_binding_data,
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
        b'{"id": "body", "only": "b"}',
        {"id": "query", "code": "secret"},
        {"id": "route"},
        {"x-tenant": "t1"},
    )
    assert BindingTemplate("{id}-{only}-{Headers.x-tenant}").bind(data) == "route-b-t1"
    with pytest.raises(BindingExpressionError):
        BindingTemplate("{code}").bind(data)
    assert BindingTemplate("{Query.code}").bind(data) == "secret"


def test_unbalanced_braces_are_refused() -> None:
    with pytest.raises(BindingExpressionError, match="unbalanced"):
        BindingTemplate("out/{name")
