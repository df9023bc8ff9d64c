"""What the host application and funchost's HTTP server exchange directly, without ASGI.

The host is an ASGI application (`HostApp.__call__`), so any ASGI server runs it. funchost's
own server skips the ASGI messages: it hands `HostApp.respond` a `Request` (its request cycle)
and writes the `Response` it gets back. A request then costs no scope dict, no message dicts
and no `receive`/`send` calls, the server's largest share of a small function's request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from funchost.bindings.http import HttpResponseParts as Response

__all__ = ["BodyIncomplete", "BodyTooLarge", "Request", "Respond", "Response", "read_body"]


class BodyTooLarge(Exception):
    """The request body is larger than the limit `Request.read_body` was given."""


class BodyIncomplete(Exception):
    """The request body did not arrive whole: the client left, or sent a malformed body (the
    server has answered 400 where it could). The request must not run."""


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

    async def read_body(self, limit: int) -> bytes:
        """The whole body; `BodyTooLarge` past `limit` bytes (before reading, when declared),
        `BodyIncomplete` if it ends before its framing says it does."""
        ...


# A `Response` is a status, headers with lower-case names and no framing headers, and the
# whole body; the server writes the framing (content-length) itself.
Respond = Callable[[Request], Awaitable[Response]]


async def read_body(
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]], headers: dict[str, str], limit: int
) -> bytes:
    """The whole body of a request from its ASGI `receive`, for `Request.read_body`."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge  # refused before a byte of it is read
    chunks: list[bytes] = []
    size = 0
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
            chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
