"""The limits funchost's HTTP server holds every client to, with Kestrel's defaults.

Each limit bounds what one client can take from the host: memory (the size of a request head),
connections held open by sending slowly (the head's deadline, the minimum request-body rate) or
by not reading (the minimum response rate). host.json sets them under
`extensions.http.limits` (see `parse_http_limits`); docs/production.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from funchost.errors import ConfigError
from funchost.timespan import parse_timespan


@dataclass(frozen=True)
class HttpLimits:
    # The request line (method, target, version): longer gets 414.
    max_request_line_size: int = 8 * 1024
    # The header fields of one request (or the trailers of a chunked one): larger gets 431.
    max_request_headers_total_size: int = 32 * 1024
    max_request_header_count: int = 100
    # The whole head must arrive within this many seconds of its first byte (408).
    request_headers_timeout: float = 30.0
    # An idle keep-alive connection is closed after this many seconds.
    keep_alive_timeout: float = 130.0
    # A request body arriving slower than this (bytes/s, averaged since the body began, once
    # the grace period has passed) gets 408; 0 turns the rule off.
    min_request_body_data_rate: float = 240.0
    min_request_body_data_rate_grace_period: float = 5.0
    # A client that takes less than this (bytes/s) of a waiting response for the grace period
    # is disconnected and the response dropped; 0 turns the rule off.
    min_response_data_rate: float = 240.0
    min_response_data_rate_grace_period: float = 5.0


# host.json names (case-insensitive, as host.json is) → field, kind, smallest value.
_OPTIONS: dict[str, tuple[str, str, float]] = {
    "maxrequestlinesize": ("max_request_line_size", "int", 256),
    "maxrequestheaderstotalsize": ("max_request_headers_total_size", "int", 1024),
    "maxrequestheadercount": ("max_request_header_count", "int", 1),
    "requestheaderstimeout": ("request_headers_timeout", "timespan", 1),
    "keepalivetimeout": ("keep_alive_timeout", "timespan", 1),
    "minrequestbodydatarate": ("min_request_body_data_rate", "rate", 0),
    "minrequestbodydatarategraceperiod": ("min_request_body_data_rate_grace_period", "timespan", 1),
    "minresponsedatarate": ("min_response_data_rate", "rate", 0),
    "minresponsedatarategraceperiod": ("min_response_data_rate_grace_period", "timespan", 1),
}
_SPELLING = {
    name.lower(): name
    for name in (
        "maxRequestLineSize",
        "maxRequestHeadersTotalSize",
        "maxRequestHeaderCount",
        "requestHeadersTimeout",
        "keepAliveTimeout",
        "minRequestBodyDataRate",
        "minRequestBodyDataRateGracePeriod",
        "minResponseDataRate",
        "minResponseDataRateGracePeriod",
    )
}
assert set(_SPELLING) == set(_OPTIONS)
assert {f for f, _, _ in _OPTIONS.values()} == {f.name for f in fields(HttpLimits)}


def parse_http_limits(section: Any) -> HttpLimits:
    """`extensions.http.limits` of host.json (keys already lower-cased) as `HttpLimits`;
    a `ConfigError` naming the setting for a bad value."""
    if section is None:
        return HttpLimits()
    where = "host.json: extensions.http.limits"
    if not isinstance(section, dict):
        raise ConfigError(f"{where} must be a JSON object")
    values: dict[str, float | int] = {}
    for key, value in section.items():
        option = _OPTIONS.get(key)
        if option is None:
            known = ", ".join(sorted(_SPELLING.values()))
            raise ConfigError(f"{where}: unknown limit {key!r} (known: {known})")
        field, kind, low = option
        name = f"host.json: extensions.http.limits.{_SPELLING[key]}"
        if kind == "timespan":
            seconds = parse_timespan(str(value))
            if seconds is None or seconds < low:
                raise ConfigError(
                    f"{name} {value!r} is not a TimeSpan like '00:00:30' of at least {low:g} s"
                )
            values[field] = seconds
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
            noun = "a whole number" if kind == "int" else "a number of bytes per second"
            raise ConfigError(f"{name} must be {noun} of at least {low:g}, found {value!r}")
        elif kind == "int" and not isinstance(value, int):
            raise ConfigError(f"{name} must be a whole number, found {value!r}")
        else:
            values[field] = value
    return HttpLimits(**values)  # type: ignore[arg-type]
