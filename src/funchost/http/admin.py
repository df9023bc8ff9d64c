"""The admin API (`/admin/...`): host status, function metadata, manual invocation, warmup.

With keys off (`funchost start` without `--enable-auth`) nothing but the caller's machine
protects it, and a web page the developer opens can reach 127.0.0.1 too: by a cross-site
request, or by rebinding its own host name to 127.0.0.1. `same_machine` tells those apart from
the developer's own requests by their `Host` and `Origin` headers, which a page cannot forge.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import quote, urlsplit

from funchost.bindings.http import route_template
from funchost.bindings.warmup import warmup_function
from funchost.host import Host
from funchost.http.admin_keys import handle_keys
from funchost.http.exchange import Request
from funchost.indexing.spec import FunctionSpec


def function_metadata(host: Host, spec: FunctionSpec, base_url: str) -> dict[str, Any]:
    name = quote(spec.name)
    return {
        "name": spec.name,
        "script_root_path_href": f"{base_url}/admin/vfs/{name}/",
        "script_href": f"{base_url}/admin/vfs/{quote(spec.script_file)}",
        "config_href": f"{base_url}/admin/vfs/{name}/function.json",
        "href": f"{base_url}/admin/functions/{name}",
        "invoke_url_template": host_invoke_url(host, spec, base_url),
        "language": "python",
        "config": {
            "scriptFile": spec.script_file,
            "entryPoint": spec.entry_point,
            "disabled": spec.disabled,
            "bindings": [dict(b.raw) for b in spec.bindings],
        },
        "isDisabled": spec.disabled,
        "isDirect": False,
        "isProxy": False,
    }


def host_invoke_url(host: Host, spec: FunctionSpec, base_url: str) -> str | None:
    if not spec.is_http:
        return None
    return f"{base_url}/{route_template(host.config.host_options.route_prefix, spec)}"


class AdminResponse:
    def __init__(self, status: int, body: Any = None) -> None:
        self.status = status
        self.body = b"" if body is None else json.dumps(body).encode("utf-8")


def handle_admin(
    host: Host, method: str, path: str, body: bytes, base_url: str
) -> AdminResponse | None:
    """The answer for an admin path, or None when no admin route matches (404)."""
    parts = [p for p in path.split("/") if p][1:]  # drop "admin"
    keys = handle_keys(host, method, parts, body, base_url)
    if keys is not None:
        return AdminResponse(keys.status, keys.body)
    if parts == ["host", "ping"] and method in ("GET", "POST", "HEAD"):
        return AdminResponse(200)
    if parts == ["host", "status"] and method in ("GET", "HEAD"):
        return AdminResponse(200, host.status())
    if parts == ["functions"] and method == "GET":
        return AdminResponse(
            200, [function_metadata(host, f, base_url) for f in host.index.functions]
        )
    if len(parts) == 2 and parts[0] == "functions":
        spec = host.index.get(parts[1])
        if spec is None:
            return AdminResponse(404)
        if method == "GET":
            return AdminResponse(200, function_metadata(host, spec, base_url))
        if method == "POST":
            return _invoke(host, spec, body)
    return None


async def warm_up(host: Host) -> AdminResponse:
    """`/admin/warmup`, as the real host's warmup route: any method, no key (the warmup
    function needs no authorization there). The first request this host gets runs the warmup
    function, through the admin API's invocation, and answers when it is done: 200, or 500
    if it failed (404 if it is disabled). Every later request, and every request to an app
    without one, answers 200 at once without running anything."""
    if host.warmup_claimed:
        return AdminResponse(200)
    host.warmup_claimed = True
    spec = warmup_function(host.index)
    if spec is None:
        return AdminResponse(200)
    if spec.disabled:
        return AdminResponse(404)
    result = await host.invoke_from_admin(spec, "")
    return AdminResponse(200 if result.succeeded else 500)


def takes_body(method: str, path: str) -> bool:
    """Whether the admin route for `method` and `path` reads the request body: invoking a
    function (`POST /admin/functions/{name}`) and setting a key (`PUT .../keys/{name}`)."""
    parts = [p for p in path.split("/") if p][1:]
    if method == "POST":
        return len(parts) == 2 and parts[0] == "functions"
    if method == "PUT":
        return len(parts) >= 3 and parts[-2] == "keys"
    return False


def same_machine(request: Request) -> bool:
    """Whether a request may use the admin API without keys: its `Host` names this machine
    (`localhost`, `*.localhost`, a loopback address, or the address the request arrived at;
    a request without `Host` is not a browser's) and its `Origin`, when it has one, is the
    host's own (same scheme, host and port)."""
    server = request.server
    host = request.headers.get("host")
    if host is None:
        if server is None:
            return "origin" not in request.headers
        name, port = server[0].lower(), server[1]
    else:
        split = _split_host(host)
        if split is None or not _names_this_machine(split[0], server):
            return False
        name, port = split[0], split[1] or _default_port(request.scheme)
    origin = request.headers.get("origin")
    if origin is None:
        return True
    try:
        parts = urlsplit(origin.strip())
        origin_port = parts.port or _default_port(parts.scheme)
    except ValueError:
        return False
    hostname = (parts.hostname or "").rstrip(".")
    return (parts.scheme, hostname, origin_port) == (request.scheme, name, port)


def _split_host(value: str) -> tuple[str, int | None] | None:
    """A `Host` header's name (lower-case, IPv6 without brackets) and port; None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket:
            return None
    else:
        name, colon, rest = value.partition(":")
        rest = colon + rest
    if not rest:
        return name.rstrip("."), None
    if rest[0] != ":" or not rest[1:].isdigit():
        return None
    return name.rstrip("."), int(rest[1:])


def _names_this_machine(name: str, server: tuple[str, int] | None) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True  # RFC 6761: always the loopback interface
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # any other name can be rebound to 127.0.0.1 by whoever controls it
    if address.is_loopback:
        return True
    if server is None:
        return False
    try:
        here = ipaddress.ip_address(server[0].partition("%")[0])
    except ValueError:
        return False
    if isinstance(here, ipaddress.IPv6Address) and here.ipv4_mapped is not None:
        here = here.ipv4_mapped
    return address == here


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _invoke(host: Host, spec: FunctionSpec, body: bytes) -> AdminResponse:
    if spec.disabled:
        return AdminResponse(400, {"error": f"function '{spec.name}' is disabled"})
    if spec.is_http:
        return AdminResponse(
            400, {"error": f"function '{spec.name}' is HTTP-triggered; call its URL instead"}
        )
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return AdminResponse(400, {"error": 'the request body must be JSON like {"input": "..."}'})
    value = payload.get("input", "") if isinstance(payload, dict) else ""
    if not isinstance(value, str):
        value = json.dumps(value)
    host.invoke_in_background(spec, value)
    return AdminResponse(202)
