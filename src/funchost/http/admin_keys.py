"""The admin API for keys, with the real host's routes and shapes (KeysController):

    GET                    /admin/host/keys                        host function keys
    GET|PUT|POST|DELETE    /admin/host/keys/{name}                 one host key
    GET|POST               /admin/host/keys/_master                the master key
    GET                    /admin/functions/{function}/keys        a function's keys
    GET|PUT|POST|DELETE    /admin/functions/{function}/keys/{name} one function key

PUT sets the value given as `{"name": ..., "value": ...}` (201 when the key is new, 200 when it
is replaced), POST generates a new value, DELETE answers 204. Like the rest of the admin API,
these routes need the master key.
"""

from __future__ import annotations

import json
from typing import Any

from funchost.host import Host
from funchost.keys import FunctionKey, KeyStoreError

MASTER = "_master"


class KeysAnswer:
    def __init__(self, status: int, body: Any = None) -> None:
        self.status = status
        self.body = body


def handle_keys(
    host: Host, method: str, parts: list[str], body: bytes, base_url: str
) -> KeysAnswer | None:
    """Answer `parts` (the path after /admin) when it is a keys route, else None."""
    if parts[:2] == ["host", "keys"]:
        scope, key_parts = "host", parts[2:]
    elif len(parts) >= 3 and parts[0] == "functions" and parts[2] == "keys":
        spec = host.index.get(parts[1])
        if spec is None:
            return KeysAnswer(404)
        scope, key_parts = spec.name, parts[3:]
    else:
        return None
    store = host.keys
    if store is None:
        return KeysAnswer(
            404, {"error": "keys are not in use; start with --enable-auth or use funchost serve"}
        )
    href = f"{base_url}/admin/" + "/".join(parts[:2] if scope == "host" else parts[:3])
    try:
        if not key_parts:
            if method != "GET":
                return KeysAnswer(405)
            listed = store.host_keys() if scope == "host" else store.function_keys(scope)
            return KeysAnswer(
                200,
                {
                    "keys": [{"name": k.name, "value": k.value} for k in listed],
                    "links": [{"rel": "self", "href": href}],
                },
            )
        if len(key_parts) != 1:
            return KeysAnswer(404)
        return _one_key(store, scope, key_parts[0], method, body, f"{href}/{key_parts[0]}")
    except KeyStoreError as exc:
        return KeysAnswer(400, {"error": str(exc)})


def _one_key(store: Any, scope: str, name: str, method: str, body: bytes, href: str) -> KeysAnswer:
    if scope == "host" and name == MASTER:
        if method == "GET":
            return _key(FunctionKey("_master", store.master_key()), href, 200)
        if method == "POST":
            return _key(FunctionKey("_master", store.set_key("master", "master")), href, 200)
        return KeysAnswer(405)
    existing = store.host_keys() if scope == "host" else store.function_keys(scope)
    current = next((k for k in existing if k.name == name), None)
    if method == "GET":
        return KeysAnswer(404) if current is None else _key(current, href, 200)
    if method == "DELETE":
        return KeysAnswer(204 if store.delete_key(scope, name) else 404)
    if method == "PUT":
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return KeysAnswer(
                400, {"error": 'the body must be JSON like {"name": ..., "value": ...}'}
            )
        value = payload.get("value") if isinstance(payload, dict) else None
        if not isinstance(value, str):
            return KeysAnswer(400, {"error": "the body must give the key's value as a string"})
    elif method == "POST":
        value = None
    else:
        return KeysAnswer(405)
    value = store.set_key(scope, name, value)
    return _key(FunctionKey(name, value), href, 200 if current is not None else 201)


def _key(key: FunctionKey, href: str, status: int) -> KeysAnswer:
    return KeysAnswer(
        status, {"name": key.name, "value": key.value, "links": [{"rel": "self", "href": href}]}
    )
