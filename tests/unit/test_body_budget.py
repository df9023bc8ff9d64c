"""`read_body` and the body budget: what is reserved, and that nothing stays reserved on failure."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import pytest

from funchost.http.exchange import (
    BodyBudget,
    BodyIncomplete,
    BodyOverBudget,
    BodyTooLarge,
    read_body,
)

Message = MutableMapping[str, Any]


def _receive(*messages: Message) -> Callable[[], Awaitable[Message]]:
    queue = list(messages)

    async def receive() -> Message:
        if not queue:
            await asyncio.Event().wait()  # a client that sends nothing more
        return queue.pop(0)

    return receive


def _piece(body: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


def test_a_declared_body_is_reserved_up_front_and_stays_reserved_until_released() -> None:
    budget = BodyBudget(100)
    receive = _receive(_piece(b"x" * 30), _piece(b"y" * 30, more=False))
    body = asyncio.run(read_body(receive, {"content-length": "60"}, 100, budget))
    assert body == b"x" * 30 + b"y" * 30
    assert budget.used == 60
    budget.release(len(body))
    assert budget.used == 0


def test_a_declared_body_past_the_budget_is_refused_before_it_is_read() -> None:
    budget = BodyBudget(100)
    budget.reserve(50)
    with pytest.raises(BodyOverBudget):
        asyncio.run(read_body(_receive(), {"content-length": "60"}, 100, budget))
    assert budget.used == 50


def test_a_chunked_body_is_counted_as_it_grows() -> None:
    budget = BodyBudget(100)
    budget.reserve(50)
    receive = _receive(_piece(b"x" * 40), _piece(b"y" * 40))
    with pytest.raises(BodyOverBudget):
        asyncio.run(read_body(receive, {"transfer-encoding": "chunked"}, 1000, budget))
    assert budget.used == 50


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([_piece(b"x" * 10), {"type": "http.disconnect"}], BodyIncomplete),
        ([_piece(b"x" * 10), _piece(b"x" * 200)], BodyTooLarge),
    ],
)
def test_nothing_stays_reserved_when_a_body_fails(
    messages: list[Message], error: type[Exception]
) -> None:
    budget = BodyBudget(1000)
    for headers in ({"content-length": "100"}, {"transfer-encoding": "chunked"}):
        with pytest.raises(error):
            asyncio.run(read_body(_receive(*messages), headers, 100, budget))
        assert budget.used == 0


def test_nothing_stays_reserved_when_reading_is_cancelled() -> None:
    budget = BodyBudget(1000)

    async def cancelled() -> None:
        task = asyncio.create_task(
            read_body(_receive(_piece(b"x" * 10)), {"content-length": "100"}, 100, budget)
        )
        while budget.used == 0:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled())
    assert budget.used == 0


def test_the_budget_defaults_to_twice_the_body_limit_and_is_never_below_it() -> None:
    from pathlib import Path

    from funchost.config import BODY_BUDGET_SETTING, HostConfig
    from funchost.errors import ConfigError

    assert HostConfig(Path(".")).request_body_budget == 2 * 104_857_600
    limit = {"FUNCTIONS_REQUEST_BODY_SIZE_LIMIT": "1000"}
    assert HostConfig(Path("."), settings=limit).request_body_budget == 2000
    budget = {**limit, "FUNCHOST_REQUEST_BODY_BUDGET": "5000"}
    assert HostConfig(Path("."), settings=budget).request_body_budget == 5000
    for raw in ("999", "lots"):
        with pytest.raises(ConfigError, match="FUNCHOST_REQUEST_BODY_BUDGET"):
            assert HostConfig(
                Path("."), settings={**limit, BODY_BUDGET_SETTING: raw}
            ).request_body_budget
