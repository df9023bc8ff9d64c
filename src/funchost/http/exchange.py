"""What the host application and funchost's HTTP server exchange directly, without ASGI.

The host is an ASGI application (`HostApp.__call__`), so any ASGI server runs it. funchost's
own server skips the ASGI messages: it hands `HostApp.respond` a `Request` (its request cycle)
and writes the `Response` it gets back. A request then costs no scope dict, no message dicts
and no `receive`/`send` calls, the server's largest share of a small function's request.

Bodies are read whole (`read_body`), so the memory they take is bounded twice: each body by the
body size limit (413), and all the bodies held at once, across every connection of the
process, by a `BodyBudget` (503 with `Retry-After`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from funchost.bindings.http import HttpResponseParts as Response

__all__ = [
    "BodyBudget",
    "BodyIncomplete",
    "BodyOverBudget",
    "BodyTooLarge",
    "Receive",
    "Request",
    "Respond",
    "Response",
    "read_body",
]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


class BodyTooLarge(Exception):
    """The request body is larger than the limit `read_body` was given."""


class BodyOverBudget(Exception):
    """Holding the request body would take the process past its budget for request bodies."""


class BodyIncomplete(Exception):
    """The request body did not arrive whole: the client left, or sent a malformed body (the
    server has answered 400 where it could). The request must not run."""


class BodyBudget:
    """Bytes of request bodies held in memory at once, across every connection of a process.

    Used on the event loop only, so it needs no lock.
    """

    __slots__ = ("size", "used")

    def __init__(self, size: int) -> None:
        self.size = size
        self.used = 0

    def reserve(self, amount: int) -> None:
        """Count `amount` more bytes; `BodyOverBudget` (and nothing counted) past `size`."""
        if self.used + amount > self.size:
            raise BodyOverBudget
        self.used += amount

    def release(self, amount: int) -> None:
        self.used -= amount


class Request(Protocol):
    """One HTTP request, its body not yet read."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...  # percent-decoded
    @property
    def raw_path(self) -> bytes: ...
    @property
    def query_string(self) -> bytes: ...
    @property
    def headers(self) -> dict[str, str]: ...  # names lower-cased, repeats joined by commas
    @property
    def scheme(self) -> str: ...
    @property
    def server(self) -> tuple[str, int] | None: ...
    @property
    def client(self) -> tuple[str, int] | None: ...

    async def read_body(self, limit: int, budget: BodyBudget | None = None) -> bytes:
        """The whole body (the module's `read_body` on the request's ASGI `receive`)."""
        ...

    async def receive(self) -> MutableMapping[str, Any]:
        """The next ASGI message of the request: a part of its body, or its end (for bodies
        streamed elsewhere than memory, such as a published package)."""
        ...


# A `Response` is a status, headers with lower-case names and no framing headers, and the
# whole body; the server writes the framing (content-length) itself.
Respond = Callable[[Request], Awaitable[Response]]


async def read_body(
    receive: Receive, headers: dict[str, str], limit: int, budget: BodyBudget | None = None
) -> bytes:
    """The whole body of a request from its ASGI `receive`, for `Request.read_body`.

    `BodyTooLarge` past `limit` bytes (before a byte is read when the size is declared);
    `BodyOverBudget` when `budget` (the process's, if given) cannot hold it: a declared size is
    reserved up front, a chunked body as it grows; `BodyIncomplete` when it does not arrive
    whole. On success the body's size stays reserved in `budget` until the caller, done with
    the body, releases it; on any failure nothing stays reserved.
    """
    if budget is None:
        budget = BodyBudget(limit)
    declared = headers.get("content-length", "")
    reserved = 0
    if declared.isdigit():
        reserved = int(declared)
        if reserved > limit:
            raise BodyTooLarge  # refused before a byte of it is read
        budget.reserve(reserved)
    chunks: list[bytes] = []
    size = 0
    try:
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise BodyIncomplete
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge
                if size > reserved:
                    budget.reserve(size - reserved)
                    reserved = size
                chunks.append(chunk)
            more = message.get("more_body", False)
    except BaseException:  # cancelled too: nothing may stay reserved
        budget.release(reserved)
        raise
    if reserved > size:
        budget.release(reserved - size)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
