"""The admin API (`/admin/...`): host status, function metadata and manual invocation."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from funchost.bindings.http import route_template
from funchost.host import Host
from funchost.http.admin_keys import handle_keys
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
