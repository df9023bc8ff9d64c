"""CORS for `--cors` / local.settings.json `Host.CORS`, answered before any function runs."""

from __future__ import annotations

from collections.abc import Sequence


class CorsPolicy:
    def __init__(self, origins: Sequence[str], credentials: bool) -> None:
        self.any_origin = "*" in origins
        self.origins = {o.rstrip("/").lower() for o in origins if o != "*"}
        self.credentials = credentials

    @property
    def enabled(self) -> bool:
        return self.any_origin or bool(self.origins)

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin.rstrip("/").lower() in self.origins

    def response_headers(self, origin: str) -> list[tuple[bytes, bytes]]:
        # With credentials the origin must be echoed; browsers refuse "*" there.
        value = "*" if self.any_origin and not self.credentials else origin
        headers = [(b"access-control-allow-origin", value.encode("latin-1"))]
        if value != "*":
            headers.append((b"vary", b"Origin"))
        if self.credentials:
            headers.append((b"access-control-allow-credentials", b"true"))
        return headers

    def preflight_headers(
        self, origin: str, method: str, req_headers: str
    ) -> list[tuple[bytes, bytes]]:
        headers = self.response_headers(origin)
        headers.append((b"access-control-allow-methods", (method or "GET").encode("latin-1")))
        if req_headers:
            headers.append((b"access-control-allow-headers", req_headers.encode("latin-1")))
        headers.append((b"access-control-max-age", b"86400"))
        return headers
