"""The ASGI application that is the whole host: functions' routes, keys, CORS, admin, home page.

Its lifespan starts and stops the host (ASGI lifespans of user apps, non-HTTP listeners), so
any ASGI server can run it and several processes can share one port. funchost's own server
calls `HostApp.respond` instead, the same code without the ASGI messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus

from funchost.bindings.expressions import (
    BUILTIN_NAMES,
    JSON_DATA_MAX_BYTES,
    JsonDataError,
    http_binding_data,
    json_properties,
)
from funchost.bindings.http import (
    NO_CONTENT,
    OK_EMPTY,
    HttpResponseParts,
    build_request,
    join_headers,
    route_template,
)
from funchost.bindings.runtime import FunctionBindings
from funchost.durable.api import PREFIX as DURABLE_PREFIX
from funchost.durable.api import redact_rpc_secret
from funchost.host import Host
from funchost.http.admin import handle_admin, same_machine, takes_body, warm_up
from funchost.http.cors import CorsPolicy
from funchost.http.exchange import (
    BodyBudget,
    BodyIncomplete,
    BodyOverBudget,
    BodyTooLarge,
    Request,
    Respond,
    Response,
    read_body,
)
from funchost.http.homepage import HOMEPAGE
from funchost.http.paths import decode_path
from funchost.http.routing import RouteTable
from funchost.indexing.spec import FunctionSpec, RetrySpec
from funchost.invocation.invoker import EMPTY, HOST_API_REASON, TriggerEvent

if TYPE_CHECKING:
    from funchost.publishing.receiver import Publisher

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger("funchost.http")

_EMPTY: list[tuple[bytes, bytes]] = []
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
# Bodies up to this size are parsed for binding data on the event loop (a millisecond at
# most); larger ones in a thread, one at a time, since a parse can take about 25 times the
# body's size in memory while it runs.
INLINE_JSON_BYTES = 16 * 1024
# Seconds a client refused by the body budget (503) is asked to wait before it retries.
RETRY_AFTER = b"5"


class HttpFunction:
    """One HTTP function as the front end needs it, computed once."""

    __slots__ = (
        "auth_level",
        "body_names",
        "io",
        "no_response",
        "output_name",
        "required_names",
        "retry",
        "spec",
    )

    def __init__(
        self,
        spec: FunctionSpec,
        io: FunctionBindings | None = None,
        retry: RetrySpec | None = None,
    ) -> None:
        self.spec = spec
        self.io = io  # storage-backed input/output bindings, if it has any
        self.retry = retry  # its retry policy (its own or host.json's), if any
        self.auth_level = str(spec.trigger.get("authLevel") or "function").lower()
        # The output whose value is the response: its `http` output, a named one before
        # `$return`; None when it has none.
        self.output_name: str | None = None
        returns_elsewhere = False  # `$return` bound to another output (a queue, a blob)
        for b in spec.output_bindings:
            if b.type.lower() == "http":
                if b.name != "$return" or self.output_name is None:
                    self.output_name = b.name
            elif b.name == "$return":
                returns_elsewhere = True
        # The response when the function gave none: the host answers 200 (its OkResult) when
        # the return value went to another output, else it makes its response of the null
        # return value, 204. (An `http` `$return` of None fails the invocation instead.)
        self.no_response: HttpResponseParts = OK_EMPTY if returns_elsewhere else NO_CONTENT
        # The binding-data names its expressions read that a JSON body may hold, and those of
        # them nothing else can give (`{rand-guid}` and `{DateTime}` fall back to built-ins).
        names = io.data_names - {"query", "headers"} if io is not None else frozenset()
        self.body_names: frozenset[str] = names
        self.required_names: frozenset[str] = names - BUILTIN_NAMES

    def names_from_body(self, query: Mapping[str, str], route: Mapping[str, str]) -> list[str]:
        """The names its expressions need that this request's query and route do not give."""
        given = {k.lower() for k in query if k.lower() != "code"}
        given.update(k.lower() for k in route)
        return sorted(self.required_names - given)


class AsgiRequest:
    """An ASGI `http` scope seen as the host's `Request`."""

    __slots__ = (
        "_receive",
        "client",
        "headers",
        "method",
        "path",
        "query_string",
        "raw_path",
        "scheme",
        "server",
    )

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.method: str = scope["method"]
        raw_path: bytes | None = scope.get("raw_path")
        # Decoded as funchost's own server decodes it (UTF-8, `%2F` kept), whichever server
        # made the scope: the same URL matches the same route under uvicorn and in TestHost.
        self.path: str = decode_path(raw_path) if raw_path and b"%" in raw_path else scope["path"]
        self.raw_path: bytes = raw_path or self.path.encode()
        self.query_string: bytes = scope["query_string"]
        self.headers = join_headers(scope["headers"])
        self.scheme: str = scope.get("scheme", "http")
        self.server: tuple[str, int] | None = scope.get("server")
        self.client: tuple[str, int] | None = scope.get("client")
        self._receive = receive

    async def read_body(self, limit: int, budget: BodyBudget | None = None) -> bytes:
        return await read_body(self._receive, self.headers, limit, budget)

    async def receive(self) -> MutableMapping[str, Any]:
        return await self._receive()


class HostApp:
    def __init__(self, host: Host) -> None:
        self.host = host
        config = host.config
        self.routes: RouteTable[HttpFunction] = RouteTable()
        prefix = config.host_options.route_prefix
        for spec in host.index.enabled:
            if spec.is_http:
                methods = spec.trigger.get("methods") or None
                function = HttpFunction(spec, host.io.get(spec.name), host.retry_policy(spec))
                self.routes.add(route_template(prefix, spec), methods, function)
        self.cors = CorsPolicy(config.cors_origins, config.cors_credentials)
        self.cors_enabled = self.cors.enabled
        self.body_limit = config.request_body_limit
        self.body_budget = BodyBudget(config.request_body_budget)
        self._json_lock = asyncio.Lock()  # one large body parsed for binding data at a time
        self.keys = host.keys
        self.invoker = host.invoker
        self.homepage_disabled = config.homepage_disabled
        self.durable = host.durable
        # The routes of `funchost publish`, set by `funchost serve` (funchost.server).
        self.publisher: Publisher | None = None
        # funchost's server calls `respond` directly, without ASGI messages (http/exchange.py).
        self.respond: Respond = _with_access_log(self.answer) if config.verbose else self.answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            response = await self.respond(AsgiRequest(scope, receive))
            body = response.body
            headers = [(b"content-length", b"%d" % len(body)), *response.headers]
            await send(
                {"type": "http.response.start", "status": response.status, "headers": headers}
            )
            await send({"type": "http.response.body", "body": body})
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

    async def answer(self, request: Request) -> Response:
        """The response to one HTTP request: a function's, the admin API's or the home page."""
        method = request.method
        path = request.path
        headers = request.headers
        cors_headers = _EMPTY
        origin = headers.get("origin") if self.cors_enabled else None
        if origin is not None and self.cors.allows(origin):
            if method == "OPTIONS" and "access-control-request-method" in headers:
                return Response(
                    204,
                    self.cors.preflight_headers(
                        origin,
                        headers["access-control-request-method"],
                        headers.get("access-control-request-headers", ""),
                    ),
                )
            cors_headers = self.cors.response_headers(origin)
        if path.startswith("/admin/") or path == "/admin":
            return await self.admin(request, cors_headers)
        if self.durable is not None and path.lower().startswith(DURABLE_PREFIX):
            return await self.durable_api(request, cors_headers)
        match = self.routes.match(method, path)
        if match is None:
            # The home page only when no function's route takes `/` (as the host's
            # HomepageMiddleware): with an empty route prefix a catch-all route answers it.
            if path == "/" or path == "":
                if self.homepage_disabled:
                    return Response(204, cors_headers)
                return Response(
                    200,
                    [(b"content-type", b"text/html; charset=utf-8"), *cors_headers],
                    HOMEPAGE if method != "HEAD" else b"",
                )
            return Response(404, cors_headers)
        function, route_values = match
        query_string = request.query_string
        query = _query(query_string) if query_string else {}
        if (
            self.keys is not None
            and function.auth_level != "anonymous"
            and not self.keys.authorize(
                function.auth_level,
                function.spec.name,
                given_key(headers, query),
            )
        ):
            return Response(401, cors_headers)
        if "content-length" in headers or "transfer-encoding" in headers:
            body = await self._read_body(request, cors_headers)
            if isinstance(body, Response):
                return body
        else:
            body = b""  # no body framing: the request has none (RFC 9112 6.3)
        try:  # the body stays counted in the budget until the function is done with it
            binding_data = None
            if function.io is not None:
                properties = None
                if body and function.required_names:
                    wanted = function.names_from_body(query, route_values)
                    if wanted:
                        try:
                            properties = await self._json_properties(body, function.body_names)
                        except JsonDataError as exc:
                            return _unreadable_body(exc, wanted, cors_headers)
                binding_data = http_binding_data(query, route_values, headers, properties)
            host = headers.get("host")
            url = f"{request.scheme}://{host}" if host else _origin(request)
            url += request.raw_path.decode("latin-1")
            if query_string:
                url = f"{url}?{query_string.decode('latin-1')}"
            event = TriggerEvent(
                None,
                EMPTY,
                HOST_API_REASON,  # the real host's reason for HTTP invocations too
                headers.get("traceparent"),
                headers.get("tracestate", ""),
                EMPTY,
                build_request(
                    method,
                    url,
                    headers=headers,
                    params=query,
                    route_params=route_values,
                    body=body,
                ),
                binding_data,
            )
            if function.retry is None:
                # The common case: run once, without the retry loop.
                result = await self.invoker.invoke_once(function.spec, event, 0, 0, function.io)
            else:
                result = await self.invoker.invoke(
                    function.spec, event, retry=function.retry, io=function.io
                )
        finally:
            if body:
                self.body_budget.release(len(body))
        if not result.succeeded:
            return Response(500, cors_headers)
        name = function.output_name
        parts = (result.outputs.get(name) if name else None) or function.no_response
        if cors_headers:
            parts = Response(parts.status, [*parts.headers, *cors_headers], parts.body)
        if method == "HEAD":
            return Response(parts.status, parts.headers)
        return parts

    async def _read_body(
        self, request: Request, cors_headers: list[tuple[bytes, bytes]]
    ) -> bytes | Response:
        """The request's whole body, counted in the body budget (the caller releases it), or
        the response that refuses it: 413 too large, 503 over the budget, 400 not whole (the
        request never runs)."""
        try:
            return await request.read_body(self.body_limit, self.body_budget)
        except BodyTooLarge:
            return Response(413, cors_headers)
        except BodyOverBudget:
            return Response(503, [(b"retry-after", RETRY_AFTER), *cors_headers])
        except BodyIncomplete:
            return Response(400, cors_headers)

    async def _json_properties(self, body: bytes, names: frozenset[str]) -> dict[str, Any]:
        """The properties named in `names` of the JSON object `body`: parsed off the event
        loop, one body at a time, unless it is small (or refused at once for its size)."""
        if len(body) <= INLINE_JSON_BYTES or len(body) > JSON_DATA_MAX_BYTES:
            return json_properties(body, names)
        async with self._json_lock:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, json_properties, body, names)

    async def durable_api(
        self, request: Request, cors_headers: list[tuple[bytes, bytes]]
    ) -> Response:
        """The Durable Functions HTTP API (funchost.durable.api), keys checked there."""
        assert self.durable is not None
        parts = [p for p in request.path[len(DURABLE_PREFIX) :].split("/") if p]
        query_string = request.query_string.decode("latin-1")
        query = _query(request.query_string) if query_string else {}
        key = given_key(request.headers, query)
        master_ok = self.keys is not None and bool(key) and self.keys.authorize("admin", None, key)
        allowed, parts = self.durable.authorized(parts, key, request.client, master_ok)
        if not allowed:
            return Response(401, cors_headers)
        body = b""
        if "content-length" in request.headers or "transfer-encoding" in request.headers:
            read = await self._read_body(request, cors_headers)
            if isinstance(read, Response):
                return read
            body = read
        try:
            answer = self.durable.answer(
                request.method, parts, query_string, request.headers, body, _origin(request)
            )
        finally:
            self.body_budget.release(len(body))
        return Response(answer.status, [*answer.headers, *cors_headers], answer.body)

    async def admin(self, request: Request, cors_headers: list[tuple[bytes, bytes]]) -> Response:
        path = request.path.rstrip("/")
        method = request.method
        headers = request.headers
        lowered = path.lower()
        if lowered == "/admin/warmup":
            # A route to the warmup function, anonymous in the host as the platform calls it.
            warmed = await warm_up(self.host)
            return Response(warmed.status, cors_headers)
        # Health probes need no key and may name any host (HostController.Ping has no
        # authorization policy); their bodies are never read.
        if lowered != "/admin/host/ping":
            if self.keys is None:
                # Keys off (`start`): this machine's own requests only, never a web page's.
                if not same_machine(request):
                    logger.warning(
                        "Refused %s %s: without keys the admin API answers only requests from "
                        "this machine (Host %r, Origin %r).",
                        method,
                        path,
                        headers.get("host"),
                        headers.get("origin"),
                    )
                    return Response(403, _EMPTY)
            else:
                query_string = request.query_string
                query = _query(query_string) if query_string else {}
                key = given_key(headers, query)
                if not self.keys.authorize("admin", None, key):
                    return Response(401, cors_headers)
        if self.publisher is not None:
            parts = [p for p in path.split("/") if p][1:]
            if self.publisher.handles(parts):
                published = await self.publisher.answer(request, parts)
                return Response(
                    published.status, [*published.headers, *cors_headers], published.body
                )
        body = b""
        if takes_body(method, path) and (
            "content-length" in headers or "transfer-encoding" in headers
        ):
            read = await self._read_body(request, cors_headers)
            if isinstance(read, Response):
                return read
            body = read
        try:
            answer = handle_admin(self.host, method, path, body, _origin(request))
        finally:
            self.body_budget.release(len(body))
        if answer is None:
            return Response(404, cors_headers)
        content = [(b"content-type", b"application/json; charset=utf-8")] if answer.body else []
        return Response(answer.status, [*content, *cors_headers], answer.body)


def redact_query(query_string: bytes) -> str:
    """The query string for logs: without a fragment, and the value of `code` (a function
    key) hidden under every spelling that authenticates (`Code`, `%63ode`)."""
    query_string = query_string.partition(b"#")[0]
    if not query_string:
        return ""
    parts = []
    for part in query_string.decode("latin-1").split("&"):
        name, sep, _ = part.partition("=")
        hidden = sep and unquote_plus(name, encoding="latin-1").strip().lower() == "code"
        parts.append(f"{name}=[hidden]" if hidden else part)
    return "?" + "&".join(parts)


def _unreadable_body(
    problem: JsonDataError, names: list[str], cors_headers: list[tuple[bytes, bytes]]
) -> Response:
    """400 for a body that binding expressions need but cannot be read, saying why in one line."""
    needed = ", ".join(f"{{{name}}}" for name in names)
    message = f"The request body {problem}; the function's bindings read {needed} from it.\n"
    return Response(400, [_TEXT, *cors_headers], message.encode("utf-8"))


def _with_access_log(respond: Respond) -> Respond:
    """Wrap the host's responder to log one line per request (`--verbose`), keys hidden."""

    async def logged(request: Request) -> Response:
        response = await respond(request)
        client = request.client or ("-", 0)
        logger.info(
            '%s - "%s %s%s" %d',
            client[0],
            request.method,
            # never a fragment, nor the durable RPC path's secret
            redact_rpc_secret(request.raw_path.partition(b"#")[0].decode("latin-1")),
            redact_query(request.query_string),
            response.status,
        )
        return response

    return logged


def given_key(headers: dict[str, str], query: dict[str, str]) -> str | None:
    """The key a request carries: the `x-functions-key` header, else `code` in the query,
    whose name is matched without regard to case, as ASP.NET's query collection does."""
    key = headers.get("x-functions-key") or query.get("code")
    if key is None and query:
        for name, value in query.items():
            if name.lower() == "code":
                return value
    return key


def _query(query_string: bytes) -> dict[str, str]:
    """Query values by name; repeated names joined by commas, empty values dropped."""
    query: dict[str, str] = {}
    for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=False):
        query[k] = f"{query[k]},{v}" if k in query else v
    return query


def _origin(request: Request) -> str:
    host = request.headers.get("host")
    if not host:
        server = request.server or ("localhost", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{request.scheme}://{host}"
