"""HTTP trigger and output: between ASGI messages and the library's `http` Datum shape."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from typing import Any

from azure.functions import _abc as func_abc
from azure.functions import http as func_http
from azure.functions import meta
from azure.functions._http import HttpResponse as LibraryHttpResponse

from funchost.bindings import converters
from funchost.bindings.cookies import cookie_headers, set_cookie_headers
from funchost.indexing.spec import BindingSpec, FunctionSpec

TEXT_PLAIN = b"text/plain; charset=utf-8"
_RESPONSE_KEYS = {
    "body",
    "status",
    "statuscode",
    "headers",
    "cookies",
    "israw",
    "enablecontentnegotiation",
}


def trigger_route(trigger: BindingSpec, function_name: str) -> str:
    """An HTTP trigger's route: its `route`, or the function's name when it has none."""
    route = trigger.get("route")
    return function_name if route is None or str(route).strip() == "" else str(route)


def route_template(prefix: str, spec: FunctionSpec) -> str:
    """The full route template of an HTTP function: route prefix, then its route."""
    route = trigger_route(spec.trigger, spec.name)
    return "/".join(p for p in (prefix.strip("/"), route.strip("/")) if p)


# The `func.HttpRequest` the library's HttpRequestConverter makes from the worker's `http`
# Datum for a request, built directly because it is on the hot path of every request:
# build_request(method, url, headers=..., params=..., route_params=..., body=...). A partial,
# not a function, to save a Python frame per request.
build_request = functools.partial(func_http.HttpRequest, body_type="bytes")


def join_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Header names lower-cased; repeated headers joined by commas, as the host passes them."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    return headers


class HttpResponseParts:
    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
        self.status = status
        self.headers = headers
        self.body = body


NO_CONTENT = HttpResponseParts(204, [], b"")
OK_EMPTY = HttpResponseParts(200, [], b"")


def _body_bytes(datum: Any) -> bytes:
    if datum is None:
        return b""
    value = datum.value if isinstance(datum, meta.Datum) else datum
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")


def _from_response_object(obj: dict[str, Any]) -> HttpResponseParts:
    """A JSON object string with a `body` key, read as a response object (as the host does)."""
    lowered = {k.lower(): v for k, v in obj.items()}
    status = int(lowered.get("status", lowered.get("statuscode", 200)) or 200)
    headers, has_type = _function_headers((lowered.get("headers") or {}).items())
    body = lowered.get("body")
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode("utf-8")
        if not has_type:
            headers.append((b"content-type", b"application/json; charset=utf-8"))
    else:
        data = b"" if body is None else str(body).encode("utf-8")
        if not has_type:
            headers.append((b"content-type", TEXT_PLAIN))
    return HttpResponseParts(status, headers, data)


_CONTENT_TYPES: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def _content_type(mimetype: str, charset: str) -> tuple[bytes, bytes]:
    """The content-type header of a `func.HttpResponse` that sets none (as the converter);
    callers look in `_CONTENT_TYPES` first."""
    text = f"{mimetype}; charset={charset}" if mimetype.startswith("text/") else mimetype
    header = (b"content-type", text.encode("latin-1"))
    if len(_CONTENT_TYPES) < 256:  # a few pairs in any app; never unbounded
        _CONTENT_TYPES[(mimetype, charset)] = header
    return header


# Headers that are not passed on as they are, by what becomes of them: the server frames every
# body itself (a function's own framing headers are dropped), a content type tells the encoder
# to set none, and `Set-Cookie` headers become cookies (`bindings/cookies.py`).
_FRAMING, _CONTENT_TYPE, _SET_COOKIE = 0, 1, 2
_SPECIAL = {
    "content-length": _FRAMING,
    "transfer-encoding": _FRAMING,
    "content-type": _CONTENT_TYPE,
    "set-cookie": _SET_COOKIE,
}


def _function_headers(
    pairs: Iterable[tuple[str, Any]], cookies: bool = False
) -> tuple[list[tuple[bytes, bytes]], bool]:
    """A function's response headers as the host sends them: names lower-cased, values as
    text, framing headers dropped, one value per name (the last: the library's converter
    makes the headers a dict, and the host keeps one header of a name), and with `cookies`
    its `Set-Cookie` headers parsed into cookies as the library's converter and the worker
    parse them; and whether they set a content type."""
    out: dict[str, tuple[bytes, bytes]] = {}
    has_type = False
    set_cookies: list[str] | None = None
    for name, value in pairs:
        lowered = name.lower()
        special = _SPECIAL.get(lowered)
        if special is not None:
            if special == _FRAMING:
                continue
            if special == _CONTENT_TYPE:
                has_type = True
            elif cookies:
                if set_cookies is None:
                    set_cookies = []
                set_cookies.append(str(value))
                continue
        out[lowered] = (lowered.encode("latin-1"), str(value).encode("latin-1"))
    headers = [*out.values()]
    if set_cookies is not None:
        headers += set_cookie_headers(set_cookies)
    return headers, has_type


def http_output(value: Any, pytype: Any) -> HttpResponseParts:
    """Encode what an HTTP function returned (or set on its `http` output).

    `func.HttpResponse` and `str`, nearly every function's result, are converted here with the
    rules of the library's HttpResponseConverter (content type from mimetype and charset when
    not set, empty body for None); anything else goes through the converter itself, so a value
    it cannot encode fails the invocation with the worker's message.
    """
    # The exact-type test first: an ABC isinstance check costs more than the rest of this line.
    if type(value) is LibraryHttpResponse or isinstance(value, func_abc.HttpResponse):
        headers = value.headers
        # Most responses set no headers: no iteration then.
        out, has_type = _function_headers(headers.items(), True) if headers else ([], False)
        if not has_type:
            mimetype, charset = value.mimetype, value.charset
            out.append(_CONTENT_TYPES.get((mimetype, charset)) or _content_type(mimetype, charset))
        body = value.get_body()
        return HttpResponseParts(int(value.status_code), out, body if body is not None else b"")
    if isinstance(value, str):
        return response_parts(meta.Datum(value, "string"))
    return response_parts(converters.encode("http", value, pytype))


def response_parts(datum: meta.Datum | None) -> HttpResponseParts:
    """Status, headers and body for the Datum an HTTP function produced."""
    if datum is None or datum.value is None:
        return NO_CONTENT
    if datum.type == "http":
        value = datum.value
        status = int(value["status_code"].value) if value.get("status_code") else 200
        headers, _ = _function_headers(
            (name, h.value) for name, h in value.get("headers", {}).items()
        )
        cookies = value.get("cookies")
        if cookies:
            headers += cookie_headers(cookies)
        return HttpResponseParts(status, headers, _body_bytes(value.get("body")))
    if datum.type == "string":
        text = datum.value
        if text[:1] == "{" and '"' in text:
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
            if (
                isinstance(obj, dict)
                and any(k.lower() == "body" for k in obj)
                and all(k.lower() in _RESPONSE_KEYS for k in obj)
            ):
                return _from_response_object(obj)
        return HttpResponseParts(200, [(b"content-type", TEXT_PLAIN)], text.encode("utf-8"))
    if datum.type == "bytes":
        return HttpResponseParts(200, [(b"content-type", b"application/octet-stream")], datum.value)
    if datum.type == "json":
        return HttpResponseParts(
            200, [(b"content-type", b"application/json; charset=utf-8")], _body_bytes(datum)
        )
    raise TypeError(f"an HTTP function returned an unsupported value of type {datum.type!r}")
