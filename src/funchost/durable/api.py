"""The Durable Functions HTTP API under `/runtime/webhooks/durabletask` (spec §4, §5), served on
the host's own port, for the library's client (`rpcBaseUrl`) and for people (the management
URLs `create_check_status_response` hands out).

Keys, as the extension: under `funchost serve` the public API takes the master key or the
durable system key (`code=` or `x-functions-key`), which the management URLs carry. The client
binding's `rpcBaseUrl` names a path with a per-app secret (derived from the master key) that
is accepted without a key only from a loopback address, as the extension's loopback-only RPC
listener. Under `funchost start` (keys off) the API is open, as in Core Tools.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from ipaddress import ip_address
from typing import Any
from urllib.parse import parse_qsl, quote

import dateutil.parser

from funchost.durable import history as h
from funchost.durable.hub import InstanceIdError, TaskHub, check_instance_id, entity_id
from funchost.durable.store import TERMINAL, InstanceRow

PREFIX = "/runtime/webhooks/durabletask"  # lower case: requests are matched so
JSON_TYPE = (b"content-type", b"application/json; charset=utf-8")
RUNNING = frozenset({"Running", "Pending", "ContinuedAsNew", "Suspended"})
STATUSES = RUNNING | TERMINAL


@dataclass(frozen=True)
class ApiAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""


def _json(status: int, value: Any, headers: list[tuple[bytes, bytes]] | None = None) -> ApiAnswer:
    return ApiAnswer(status, [JSON_TYPE, *(headers or [])], json.dumps(value).encode())


def _message(status: int, text: str) -> ApiAnswer:
    return _json(status, {"Message": text})


def derived_key(master_key: str, purpose: str) -> str:
    digest = hmac.new(master_key.encode(), purpose.encode(), hashlib.sha256).digest()
    return digest.hex()


def redact_rpc_secret(path: str) -> str:
    """A request path for logs, the RPC path's secret hidden."""
    rpc = f"{PREFIX}/rpc/"
    if not path.lower().startswith(rpc):
        return path
    _, _, rest = path[len(rpc) :].partition("/")
    return f"{path[: len(rpc)]}[hidden]/{rest}"


def is_loopback(client: tuple[str, int] | None) -> bool:
    if client is None:
        return False
    try:
        return ip_address(client[0]).is_loopback
    except ValueError:
        return False


class DurableApi:
    """The API of one task hub. `system_key` is None when keys are off (`funchost start`)."""

    def __init__(
        self,
        hub: TaskHub,
        port: int,
        public_host: str,
        system_key: str | None,
        rpc_token: str | None,
    ) -> None:
        self.hub = hub
        self.port = port
        self.public_host = public_host
        self.system_key = system_key
        self.rpc_token = rpc_token

    # -- the client binding

    def client_binding(self) -> str:
        """The durable client binding's JSON string (spec §4.1)."""
        base = f"http://{self.public_host}{PREFIX}"
        rpc = f"http://127.0.0.1:{self.port}{PREFIX}/"
        if self.rpc_token is not None:
            rpc += f"rpc/{self.rpc_token}/"
        code = f"&code={self.system_key}" if self.system_key else ""
        management = self.management_urls(base, "INSTANCEID")
        return json.dumps(
            {
                "taskHubName": self.hub.name,
                "creationUrls": {
                    "createNewInstancePostUri": f"{base}/orchestrators/{{functionName}}"
                    f"[/{{instanceId}}]?{code[1:]}".rstrip("?"),
                    "createAndWaitOnNewInstancePostUri": f"{base}/orchestrators/{{functionName}}"
                    "[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval="
                    f"{{intervalInSeconds}}{code}",
                },
                "managementUrls": management,
                "baseUrl": base,
                "requiredQueryStringParameters": f"code={self.system_key}"
                if self.system_key
                else "",
                "rpcBaseUrl": rpc,
                "connectionName": None,
                "httpBaseUrl": None,
            }
        )

    def _query(self) -> str:
        query = f"taskHub={self.hub.name}&connection=Storage"
        if self.system_key:
            query += f"&code={self.system_key}"
        return query

    def management_urls(self, base: str, instance_id: str) -> dict[str, str]:
        query = self._query()
        instance = f"{base}/instances/{instance_id}"
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        }

    # -- requests

    def authorized(
        self, parts: list[str], key: str | None, client: tuple[str, int] | None, master_ok: bool
    ) -> tuple[bool, list[str]]:
        """Whether the request may proceed, and the route parts after any RPC prefix."""
        if len(parts) >= 2 and parts[0] == "rpc":
            token = parts[1]
            rest = parts[2:]
            if self.rpc_token is None:
                return True, rest
            ok = hmac.compare_digest(token.encode(), self.rpc_token.encode())
            return ok and is_loopback(client), rest
        if self.system_key is None:
            return True, parts
        if master_ok:
            return True, parts
        return bool(key) and hmac.compare_digest(str(key).encode(), self.system_key.encode()), parts

    def answer(
        self,
        method: str,
        parts: list[str],
        query_string: str,
        headers: Mapping[str, str],
        body: bytes,
        origin: str,
    ) -> ApiAnswer:
        query = {k.lower(): v for k, v in parse_qsl(query_string, keep_blank_values=True)}
        base = f"{origin}{PREFIX}"
        if parts and parts[0].lower() == "orchestrators" and len(parts) in (2, 3):
            if method != "POST":
                return ApiAnswer(404, [])
            return self.start(parts[1], parts[2] if len(parts) == 3 else None, body, base)
        if parts and parts[0].lower() == "instances" and len(parts) >= 2:
            instance_id = parts[1]
            row = self.hub.store.instance(self.hub.name, instance_id)
            if len(parts) == 2 and method == "GET":
                return self.status(instance_id, query, base, origin, parts)
            if len(parts) == 2 and method == "DELETE":
                if row is None:
                    return ApiAnswer(404, [])
                self.hub.store.purge(self.hub.name, [instance_id])
                return _json(200, {"instancesDeleted": 1})
            if len(parts) == 4 and parts[2].lower() == "raiseevent" and method == "POST":
                if row is None:
                    return ApiAnswer(404, [])
                if row.status in TERMINAL:
                    return ApiAnswer(410, [])
                content_type = headers.get("content-type", "").split(";")[0].strip().lower()
                if content_type != "application/json":
                    return _message(400, "Only application/json request content is supported")
                try:
                    data = json.loads(body) if body else None
                except ValueError:
                    return _message(400, "Invalid JSON content")
                self.hub.raise_event(instance_id, parts[3], json.dumps(data))
                return ApiAnswer(202, [])
            if len(parts) == 3 and parts[2].lower() == "terminate" and method == "POST":
                if row is None:
                    return ApiAnswer(404, [])
                if row.status in TERMINAL:
                    return ApiAnswer(410, [])
                self.hub.terminate(instance_id, query.get("reason"))
                return ApiAnswer(202, [])
            operation = parts[2].lower() if len(parts) >= 3 else ""
            if len(parts) == 3 and operation in ("suspend", "resume") and method == "POST":
                if row is None:
                    return ApiAnswer(404, [])
                if row.status in TERMINAL:
                    return ApiAnswer(410, [])
                if operation == "suspend" and row.status != "Suspended":
                    self.hub.suspend(instance_id, query.get("reason"))
                elif operation == "resume" and row.status == "Suspended":
                    self.hub.resume(instance_id, query.get("reason"))
                return ApiAnswer(202, [])
            if len(parts) == 3 and operation == "restart" and method == "POST":
                if row is None:
                    return _json(
                        400,
                        _error(
                            "InstanceId does not match a valid orchestration instance.",
                            f"No instance with ID '{instance_id}' found.",
                        ),
                    )
                new_id = None if _flag(query, "restartwithnewinstanceid", True) else instance_id
                return self._started(row.name, new_id, row.input, base)
            if operation == "rewind" and method == "POST":
                if row is None:
                    return ApiAnswer(404, [])
                if row.status in ("Completed", "Terminated", "Canceled"):
                    return ApiAnswer(410, [])
                if row.status == "Failed":
                    self.hub.rewind(instance_id, query.get("reason"))
                return ApiAnswer(202, [])
            return ApiAnswer(404, [])
        if len(parts) == 1 and parts[0].lower() == "instances":
            if method == "GET":
                return self.list_instances(query, headers.get("x-ms-continuation-token", ""))
            if method == "DELETE":
                return self.purge_instances(query)
            return ApiAnswer(404, [])
        if parts and parts[0].lower() == "entities":
            if len(parts) == 3:
                return self.entity(method, parts[1], parts[2], query, headers, body)
            return self.not_built("listing entities")
        return ApiAnswer(404, [])

    def entity(
        self,
        method: str,
        name: str,
        key: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
    ) -> ApiAnswer:
        """`GET /entities/{name}/{key}` (its state) and `POST` (a signal; `op`, the body as
        its input) or `DELETE` (the `delete` signal). Key `$` is the empty key."""
        key = "" if key == "$" else key
        if method == "GET":
            state = self.hub.store.entity_state(self.hub.name, entity_id(name, key))
            if state is None:
                return ApiAnswer(404, [])
            return ApiAnswer(200, [JSON_TYPE], state.encode())
        if method not in ("POST", "DELETE"):
            return ApiAnswer(404, [])
        operation = query.get("op", "") if method == "POST" else "delete"
        text: str | None = None
        if body:
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            raw = body.decode("utf-8", "replace")
            if content_type == "application/json":
                try:
                    text = json.dumps(json.loads(raw))
                except ValueError as exc:
                    return _message(400, f"Could not parse JSON content: {exc}")
            else:
                text = json.dumps(raw)
        self.hub.signal_entity(name, key, operation, text)
        return ApiAnswer(202, [])

    @staticmethod
    def not_built(what: str) -> ApiAnswer:
        return _message(501, f"funchost does not support Durable {what} yet.")

    def start(self, name: str, instance_id: str | None, body: bytes, base: str) -> ApiAnswer:
        try:
            value = json.loads(body) if body.strip() else None
        except ValueError:
            return _json(400, _error("Invalid JSON content", "Invalid JSON content"))
        stored = None if value is None else json.dumps(value)
        return self._started(name, instance_id, stored, base)

    def _started(
        self, name: str, instance_id: str | None, stored: str | None, base: str
    ) -> ApiAnswer:
        """Start an instance; the start route's answer (also restart's)."""
        try:
            if instance_id is not None:
                check_instance_id(instance_id)
            started = self.hub.start(name, instance_id, stored)
        except (LookupError, InstanceIdError, FileExistsError) as exc:
            return _json(
                400, _error("One or more of the arguments submitted is incorrect", str(exc))
            )
        urls = self.management_urls(base, started)
        payload = {k: v for k, v in urls.items() if k not in ("rewindPostUri",)}
        return _json(
            202,
            payload,
            [(b"location", urls["statusQueryGetUri"].encode()), (b"retry-after", b"10")],
        )

    def _filters(
        self, query: Mapping[str, str]
    ) -> tuple[str | None, str | None, list[str], str | None]:
        statuses = [
            s.strip() for s in query.get("runtimestatus", "").split(",") if s.strip() in STATUSES
        ]
        return (
            _time(query.get("createdtimefrom")),
            _time(query.get("createdtimeto")),
            statuses,
            query.get("instanceidprefix"),
        )

    def list_instances(self, query: Mapping[str, str], token: str) -> ApiAnswer:
        """`GET /instances`: every match when `top` is absent (the extension pages by 100, and
        the library reads one page only); with `top`, pages and `x-ms-continuation-token`."""
        rows = self.hub.store.instances(self.hub.name, *self._filters(query))
        show_input = _flag(query, "showinput", True)
        headers: list[tuple[bytes, bytes]] = []
        top = query.get("top", "")
        if top.isdigit() and int(top) > 0:
            start = int(token) if token.isdigit() else 0
            end = start + int(top)
            if end < len(rows):
                headers.append((b"x-ms-continuation-token", str(end).encode()))
            rows = rows[start:end]
        return _json(200, [status_body(row, show_input) for row in rows], headers)

    def purge_instances(self, query: Mapping[str, str]) -> ApiAnswer:
        created_from, created_to, statuses, _ = self._filters(query)
        if created_from is None:
            return _json(400, "Please provide value for 'createdTimeFrom' parameter.")
        rows = self.hub.store.instances(
            self.hub.name, created_from, created_to or h.timestamp(), statuses, None
        )
        if not rows:
            return ApiAnswer(404, [])
        self.hub.store.purge(self.hub.name, [row.id for row in rows])
        return _json(200, {"instancesDeleted": len(rows)})

    def status(
        self, instance_id: str, query: Mapping[str, str], base: str, origin: str, parts: list[str]
    ) -> ApiAnswer:
        row = self.hub.store.instance(self.hub.name, instance_id)
        if row is None:
            return ApiAnswer(404, [])
        show_input = _flag(query, "showinput", True)
        body = status_body(row, show_input)
        if _flag(query, "showhistory", False):
            body["historyEvents"] = h.history_events(
                self.hub.store.history(self.hub.name, instance_id),
                _flag(query, "showhistoryoutput", False),
                show_input,
            )
        if row.status in RUNNING:
            location = f"{base}/instances/{quote(instance_id)}"
            return _json(202, body, [(b"location", location.encode()), (b"retry-after", b"5")])
        if row.status == "Failed" and _flag(query, "returninternalservererroronfailure", False):
            return _json(500, body)
        return _json(200, body)


def status_body(row: InstanceRow, show_input: bool) -> dict[str, Any]:
    return {
        "name": row.name,
        "instanceId": row.id,
        "runtimeStatus": row.status,
        "input": h.parsed(row.input) if show_input else None,
        "customStatus": h.parsed(row.custom_status),
        "output": h.parsed(row.output),
        "createdTime": h.status_time(row.created),
        "lastUpdatedTime": h.status_time(row.updated),
    }


def _time(text: str | None) -> str | None:
    """A filter's date as stored timestamps compare; None when absent or unparseable (the
    extension ignores dates it cannot parse)."""
    if not text:
        return None
    try:
        moment = dateutil.parser.isoparse(text)
    except ValueError:
        try:
            moment = dateutil.parser.parse(text)
        except (ValueError, OverflowError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return h.timestamp(moment)


def _flag(query: Mapping[str, str], name: str, default: bool) -> bool:
    value = query.get(name)
    if value is None:
        return default
    return value.strip().lower() == "true"


def _error(message: str, exception_message: str) -> dict[str, Any]:
    return {
        "Message": message,
        "ExceptionMessage": exception_message,
        "ExceptionType": "System.ArgumentException",
        "StackTrace": None,
    }
