"""Requests as the official storage SDKs sign them, captured instead of sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.core.pipeline.transport import HttpRequest, HttpTransport


class Captured(Exception):
    def __init__(self, request: HttpRequest) -> None:
        self.request = request


class CapturingTransport(HttpTransport):  # type: ignore[type-arg]
    """Records the request the SDK would send, and sends nothing."""

    def send(self, request: HttpRequest, **kwargs: Any) -> Any:
        raise Captured(request)

    def open(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> CapturingTransport:
        return self

    def __exit__(self, *args: object) -> None: ...


def capture(call: Callable[[], object]) -> HttpRequest:
    with pytest.raises(Captured) as caught:
        call()
    return caught.value.request
