"""Parsing host.json options, TimeSpans and retry policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from funchost.errors import ConfigError
from funchost.hostjson import parse_retry, read_host_options
from funchost.http.cors import CorsPolicy
from funchost.timespan import format_timespan, parse_timespan


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:05:00", 300), ("1.02:03:04", 93784), ("00:00:01.5", 1.5), ("-00:00:10", -10)],
)
def test_timespans(text: str, seconds: float) -> None:
    assert parse_timespan(text) == seconds


@pytest.mark.parametrize("text", ["5 minutes", "00:60:00", "1", "", "24:00:00", "00:00:99"])
def test_invalid_timespans(text: str) -> None:
    assert parse_timespan(text) is None


def test_format_timespan() -> None:
    assert format_timespan(5) == "00:00:05"
    assert format_timespan(3725) == "01:02:05"


def test_host_json_defaults(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    options = read_host_options(tmp_path)
    assert options.route_prefix == "api"
    assert options.function_timeout == 1800
    assert options.retry is None


def test_host_json_options_are_case_insensitive(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(
        '{"FunctionTimeout": "-1", "Extensions": {"HTTP": {"RoutePrefix": "/v1/"}},'
        ' "retry": {"strategy": "fixedDelay", "maxRetryCount": 2, "delayInterval": "00:00:03"}}'
    )
    options = read_host_options(tmp_path)
    assert options.route_prefix == "v1"
    assert options.function_timeout is None
    assert options.retry is not None
    assert (
        options.retry.strategy,
        options.retry.max_retry_count,
        options.retry.delay_interval,
    ) == (
        "fixedDelay",
        2,
        3,
    )


def test_v2_retry_decorator_settings() -> None:
    retry = parse_retry(
        {
            "strategy": "exponential_backoff",
            "max_retry_count": "3",
            "minimum_interval": "00:00:01",
            "maximum_interval": "00:00:10",
        },
        "function_app.py",
    )
    assert retry is not None
    assert (retry.strategy, retry.minimum_interval, retry.maximum_interval) == (
        "exponentialBackoff",
        1,
        10,
    )


def test_invalid_retry_strategy_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"^host.json: retry.strategy must be"):
        parse_retry({"strategy": "sometimes"}, "host.json")


def test_cors_with_credentials_echoes_the_origin() -> None:
    policy = CorsPolicy(["*"], credentials=True)
    assert policy.allows("https://x")
    assert (b"access-control-allow-origin", b"https://x") in policy.response_headers("https://x")


def test_cors_matches_origins_case_insensitively_without_trailing_slash() -> None:
    policy = CorsPolicy(["https://A.example/"], credentials=False)
    assert policy.allows("https://a.example")
    assert not policy.allows("https://b.example")
