"""The ASGI application that is the whole host: functions' routes, keys, CORS, admin, home page.

Its lifespan starts and stops the host (ASGI lifespans of user apps, non-HTTP listeners), so
any ASGI server can run it and several processes can share one port.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from funchost.bindings.expressions import http_binding_data
from funchost.bindings.http import NO_CONTENT, build_request, join_headers, route_template
from funchost.host import Host
from funchost.http.admin import handle_admin
from funchost.http.cors import CorsPolicy
from funchost.http.homepage import HOMEPAGE
from funchost.http.routing import RouteTable
from funchost.indexing.spec import FunctionSpec
from funchost.invocation.invoker import FunctionIO, TriggerEvent

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("funchost.http")

_EMPTY: list[tuple[bytes, bytes]] = []


class _BodyTooLarge(Exception):
    pass


class HttpFunction:
    """One HTTP function as the front end needs it, computed once."""

    __slots__ = ("auth_level", "io", "output_name", "spec")

    def __init__(self, spec: FunctionSpec, io: FunctionIO | None = None) -> None:
        self.spec = spec
        self.io = io  # storage-backed input/output bindings, if it has any
        self.auth_level = str(spec.trigger.get("authLevel") or "function").lower()
        self.output_name: str | None = None
        for b in spec.output_bindings:
            if b.type.lower() == "http" and b.name != "$return":
                self.output_name = b.name


async def _read_body(receive: Receive, limit: int, headers: dict[str, str]) -> bytes:
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BodyTooLarge  # refused before a byte of it is read
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
        more = message.get("more_body", False)
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


async def _respond(
    send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b""
) -> None:
    # Header names arrive lower-cased (bindings/http.py); the length is always funchost's own.
    out = [(b"content-length", str(len(body)).encode())]
    out += [h for h in headers if h[0] != b"content-length"]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


class HostApp:
    def __init__(self, host: Host) -> None:
        self.host = host
        config = host.config
        self.routes: RouteTable[HttpFunction] = RouteTable()
        prefix = config.host_options.route_prefix
        for spec in host.index.enabled:
            if spec.is_http:
                methods = spec.trigger.get("methods") or None
                function = HttpFunction(spec, host.io.get(spec.name))
                self.routes.add(route_template(prefix, spec), methods, function)
        self.cors = CorsPolicy(config.cors_origins, config.cors_credentials)
        self.cors_enabled = self.cors.enabled
        self.body_limit = config.request_body_limit
        self.keys = host.keys
        self.invoker = host.invoker
        self.homepage_disabled = config.homepage_disabled
        self._http = _with_access_log(self.http) if config.verbose else self.http

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)
        # websockets are not part of Azure Functions' HTTP trigger; the server closes them.

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.host.start()
                except Exception as exc:
                    logger.exception("The host failed to start.")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.host.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        path: str = scope["path"]
        headers = join_headers(scope["headers"])
        cors_headers = _EMPTY
        origin = headers.get("origin") if self.cors_enabled else None
        if origin is not None and self.cors.allows(origin):
            if method == "OPTIONS" and "access-control-request-method" in headers:
                await _respond(
                    send,
                    204,
                    self.cors.preflight_headers(
                        origin,
                        headers["access-control-request-method"],
                        headers.get("access-control-request-headers", ""),
                    ),
                )
                return
            cors_headers = self.cors.response_headers(origin)
        if path == "/" or path == "":
            if self.homepage_disabled:
                await _respond(send, 204, cors_headers)
            else:
                await _respond(
                    send,
                    200,
                    [(b"content-type", b"text/html; charset=utf-8"), *cors_headers],
                    HOMEPAGE if method != "HEAD" else b"",
                )
            return
        if path.startswith("/admin/") or path == "/admin":
            await self.admin(scope, receive, send, headers, cors_headers)
            return
        match = self.routes.match(method, path)
        if match is None:
            await _respond(send, 404, cors_headers)
            return
        function, route_values = match
        query_string: bytes = scope["query_string"]
        query = _query(query_string) if query_string else {}
        if (
            self.keys is not None
            and function.auth_level != "anonymous"
            and not self.keys.authorize(
                function.auth_level,
                function.spec.name,
                headers.get("x-functions-key") or query.get("code"),
            )
        ):
            await _respond(send, 401, cors_headers)
            return
        if "content-length" in headers or "transfer-encoding" in headers:
            try:
                body = await _read_body(receive, self.body_limit, headers)
            except _BodyTooLarge:
                await _respond(send, 413, cors_headers)
                return
        else:
            body = b""  # no body framing: the request has none (RFC 9112 6.3)
        url = _url(scope, headers, query_string)
        event = TriggerEvent(
            None,
            traceparent=headers.get("traceparent"),
            tracestate=headers.get("tracestate", ""),
            value=build_request(method, url, headers, query, route_values, body),
        )
        if function.io is not None:
            event.binding_data = http_binding_data(body, query, route_values, headers)
        # HTTP functions take no retry policy, so the invoker runs them once, directly.
        result = await self.invoker.invoke_once(function.spec, event, io=function.io)
        if not result.succeeded:
            await _respond(send, 500, cors_headers)
            return
        parts = result.outputs.get(function.output_name or "$return") or NO_CONTENT
        response_headers = [*parts.headers, *cors_headers] if cors_headers else parts.headers
        await _respond(
            send, parts.status, response_headers, parts.body if method != "HEAD" else b""
        )

    async def admin(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        cors_headers: list[tuple[bytes, bytes]],
    ) -> None:
        method = scope["method"]
        path = scope["path"].rstrip("/")
        query_string: bytes = scope["query_string"]
        # Health probes need no key (HostController.Ping has no authorization policy).
        anonymous = path.lower() == "/admin/host/ping"
        if self.keys is not None and not anonymous:
            query = _query(query_string) if query_string else {}
            key = headers.get("x-functions-key") or query.get("code")
            if not self.keys.authorize("admin", None, key):
                await _respond(send, 401, cors_headers)
                return
        try:
            body = await _read_body(receive, self.body_limit, headers)
        except _BodyTooLarge:
            await _respond(send, 413, cors_headers)
            return
        answer = handle_admin(self.host, method, path, body, _origin(scope, headers))
        if answer is None:
            await _respond(send, 404, cors_headers)
            return
        content = [(b"content-type", b"application/json; charset=utf-8")] if answer.body else []
        await _respond(send, answer.status, [*content, *cors_headers], answer.body)


def redact_query(query_string: bytes) -> str:
    """The query string with the value of `code` (a function key) hidden, for logs."""
    if not query_string:
        return ""
    parts = []
    for part in query_string.decode("latin-1").split("&"):
        name, sep, _ = part.partition("=")
        parts.append(f"{name}=[hidden]" if sep and name.lower() == "code" else part)
    return "?" + "&".join(parts)


def _with_access_log(
    handler: Callable[[Scope, Receive, Send], Awaitable[None]],
) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """Wrap the HTTP handler to log one line per request (`--verbose`), keys hidden."""

    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        status = [0]

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await handler(scope, receive, capture)
        client = scope.get("client") or ("-", 0)
        logger.info(
            '%s - "%s %s%s" %d',
            client[0],
            scope["method"],
            scope["path"],
            redact_query(scope["query_string"]),
            status[0],
        )

    return logged


def _query(query_string: bytes) -> dict[str, str]:
    """Query values by name; repeated names joined by commas, empty values dropped."""
    query: dict[str, str] = {}
    for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=False):
        query[k] = f"{query[k]},{v}" if k in query else v
    return query


def _origin(scope: Scope, headers: dict[str, str]) -> str:
    host = headers.get("host")
    if not host:
        server = scope.get("server") or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def _url(scope: Scope, headers: dict[str, str], query_string: bytes) -> str:
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    url = _origin(scope, headers) + path.decode("latin-1")
    if query_string:
        url += "?" + query_string.decode("latin-1")
    return url
