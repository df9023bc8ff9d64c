"""Rungs of bench/http_breakdown.py's ladder between raw ASGI and funchost, chosen by LADDER.

    LADDER=1 python bench/apps/on_funchost_server.py ladder_asgi:app PORT
    LADDER=2 ...

LADDER=1 (+request): for each request, what funchost does before it can call a function:
    join the headers, match the route (a RouteTable with one route, "api/hello", GET), parse
    the query, read the body if the request has one, build the URL and the func.HttpRequest
    with funchost.bindings.http.build_request(...); then send raw_asgi.py's fixed response.
LADDER=2 (+function+response): LADDER=1, then await `hello(req)`, which returns
    func.HttpResponse("Hello, world!"), convert it with http_output(resp, None) and send its
    status, headers (with content-length first) and body.

Neither has any host feature: no keys, CORS, invocation ids, logging or timeouts. Unknown
paths get 404 and wrong methods 405, with empty bodies.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import azure.functions as func

from funchost.bindings.http import build_request, http_output, join_headers
from funchost.http.routing import RouteTable

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

LEVEL = os.environ.get("LADDER", "")
if LEVEL not in ("1", "2"):
    raise RuntimeError(f"set LADDER=1 or LADDER=2 (got {LEVEL!r})")

# The same fixed response as raw_asgi.py.
BODY = b"Hello, world!"
HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"13")]


async def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("Hello, world!")


Function = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]
ROUTES: RouteTable[Function] = RouteTable()
ROUTES.add("api/hello", ["GET"], hello)


def _query(query_string: bytes) -> dict[str, str]:
    query: dict[str, str] = {}
    for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=False):
        query[k] = f"{query[k]},{v}" if k in query else v
    return query


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _status_only(send: Send, status: int) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"0")]}
    )
    await send({"type": "http.response.body", "body": b""})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    method: str = scope["method"]
    headers = join_headers(scope["headers"])
    match = ROUTES.match(method, scope["path"])
    if match is None:
        await _status_only(send, 405 if ROUTES.match("GET", scope["path"]) else 404)
        return
    function, route_values = match
    query_string: bytes = scope["query_string"]
    query = _query(query_string) if query_string else {}
    if "content-length" in headers or "transfer-encoding" in headers:
        body = await _read_body(receive)
    else:
        body = b""
    host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    url = f"{scope.get('scheme', 'http')}://{host}{raw_path.decode('latin-1')}"
    if query_string:
        url += "?" + query_string.decode("latin-1")
    req = build_request(
        method, url, headers=headers, params=query, route_params=route_values, body=body
    )

    if LEVEL == "1":
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
        return

    parts = http_output(await function(req), None)
    out = [(b"content-length", str(len(parts.body)).encode()), *parts.headers]
    await send({"type": "http.response.start", "status": parts.status, "headers": out})
    await send({"type": "http.response.body", "body": parts.body})
