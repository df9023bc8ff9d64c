"""`call_http`: the durable HTTP call, run by the host as the built-in activity DTFx schedules
it under (`BuiltIn::HttpActivity`), so it has one task number and one `TaskScheduled`.

The result is the extension's `DurableHttpResponse` as JSON (`statusCode`, `headers`,
`content`). As the extension, a 202 answer with a `Location` header is polled with GET (every
`Retry-After` seconds, else `POLL_SECONDS`) until it is something else, inside the one task.
A `tokenSource` (a managed identity token) is not supported: the call fails saying so.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from funchost.durable import history as h
from funchost.durable.store import WorkItem

POLL_SECONDS = 30.0
TIMEOUT_SECONDS = 240.0  # the whole exchange, polls included


def _failure(item: WorkItem, message: str) -> dict[str, Any]:
    return h.event(
        h.TASK_FAILED,
        TaskScheduledId=item.task_id,
        Reason=f"Activity function '{item.name}' failed: {message}",
        Details=json.dumps({"ExceptionType": "HttpRequestException", "Message": message}),
    )


async def call_http(item: WorkItem) -> dict[str, Any]:
    """The completion event of one durable HTTP call."""
    try:
        request = json.loads(item.input or "{}")
        method = str(request["method"]).upper()
        uri = str(request["uri"])
    except (ValueError, KeyError, TypeError):
        return _failure(item, "the call_http request is not valid")
    if request.get("tokenSource"):
        return _failure(item, "funchost does not support Durable call_http token sources yet")
    headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
    content = request.get("content")
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.request(method, uri, data=content, headers=headers) as response:
                status, answer_headers, text = await _read(response)
            while status == 202 and "Location" in answer_headers:
                await asyncio.sleep(_retry_after(answer_headers.get("Retry-After")))
                async with session.get(answer_headers["Location"], headers=headers) as response:
                    status, answer_headers, text = await _read(response)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        return _failure(item, str(exc) or type(exc).__name__)
    result = {"statusCode": status, "headers": answer_headers, "content": text}
    return h.event(h.TASK_COMPLETED, TaskScheduledId=item.task_id, Result=json.dumps(result))


async def _read(response: aiohttp.ClientResponse) -> tuple[int, dict[str, str], str]:
    text = await response.text(errors="replace")
    return response.status, dict(response.headers), text


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else POLL_SECONDS
    except ValueError:
        return POLL_SECONDS
