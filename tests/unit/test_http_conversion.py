"""Turning what a function returned into an HTTP response."""

from __future__ import annotations

import json

import azure.functions as func
from azure.functions import meta

from funchost.bindings.converters import encode
from funchost.bindings.http import join_headers, response_parts


def test_str_return_is_text_plain() -> None:
    parts = response_parts(encode("http", "hi", str))
    assert (parts.status, parts.headers, parts.body) == (
        200,
        [(b"content-type", b"text/plain; charset=utf-8")],
        b"hi",
    )


def test_json_string_with_body_key_is_read_as_a_response_object() -> None:
    text = json.dumps({"status": 202, "body": {"ok": True}, "headers": {"X-A": "1"}})
    parts = response_parts(meta.Datum(text, "string"))
    assert parts.status == 202
    assert json.loads(parts.body) == {"ok": True}
    assert (b"x-a", b"1") in parts.headers


def test_json_string_without_body_key_stays_text() -> None:
    parts = response_parts(meta.Datum('{"a": 1}', "string"))
    assert parts.body == b'{"a": 1}'
    assert parts.status == 200


def test_http_response_defaults() -> None:
    parts = response_parts(encode("http", func.HttpResponse("x"), None))
    assert parts.status == 200
    assert (b"content-type", b"text/plain; charset=utf-8") in parts.headers


def test_none_is_204() -> None:
    assert response_parts(None).status == 204


def test_repeated_headers_are_joined_and_names_lower_cased() -> None:
    assert join_headers([(b"X-A", b"1"), (b"x-a", b"2"), (b"Host", b"h")]) == {
        "x-a": "1,2",
        "host": "h",
    }


def test_build_request_equals_what_the_library_converter_builds() -> None:
    from funchost.bindings.converters import decode
    from funchost.bindings.http import build_request

    def s(value: str) -> meta.Datum:
        return meta.Datum(value, "string")

    args = (
        "POST",
        "http://h/api/x?a=1",
        {"content-type": "application/json"},
        {"a": "1"},
        {"id": "7"},
        b'{"k": 2}',
    )
    method, url, headers, query, params, body = args
    datum = meta.Datum(
        {
            "method": s(method),
            "url": s(url),
            "headers": {k: s(v) for k, v in headers.items()},
            "query": {k: s(v) for k, v in query.items()},
            "params": {k: s(v) for k, v in params.items()},
            "body": meta.Datum(body, "bytes"),
        },
        "http",
    )
    expected = decode("httpTrigger", datum, None, {})
    method, url, headers, params, route_params, body = args
    actual = build_request(
        method, url, headers=headers, params=params, route_params=route_params, body=body
    )
    assert type(actual) is type(expected)
    for attribute in ("method", "url", "params", "route_params"):
        assert getattr(actual, attribute) == getattr(expected, attribute)
    assert dict(actual.headers) == dict(expected.headers)
    assert actual.get_body() == expected.get_body()
    assert actual.get_json() == expected.get_json() == {"k": 2}
