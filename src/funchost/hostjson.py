"""host.json: the options funchost honours, parsed once into `HostOptions`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError
from funchost.indexing.spec import RetrySpec
from funchost.jsonfile import read_json_object
from funchost.timespan import parse_timespan

HOST_JSON = "host.json"
DEFAULT_FUNCTION_TIMEOUT = 30 * 60.0


@dataclass(frozen=True)
class HostOptions:
    route_prefix: str = "api"
    function_timeout: float | None = DEFAULT_FUNCTION_TIMEOUT  # None: no limit
    retry: RetrySpec | None = None
    log_level: str | None = None
    file_watching: bool = True
    extensions: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def _lower_keys(value: Any) -> Any:
    """host.json keys are case-insensitive in the real host."""
    if isinstance(value, dict):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    return value


def parse_retry(data: Any, where: str) -> RetrySpec | None:
    """A retry policy as function.json and host.json write it."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: retry must be a JSON object")
    d = _lower_keys(data)
    strategy = str(d.get("strategy", "")).replace("_", "").lower()
    if strategy not in ("fixeddelay", "exponentialbackoff"):
        raise ConfigError(
            f"{where}: retry.strategy must be 'fixedDelay' or 'exponentialBackoff', "
            f"found {d.get('strategy')!r}"
        )
    try:
        max_count = int(d.get("maxretrycount", d.get("max_retry_count", 0)))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: retry.maxRetryCount must be an integer") from None
    if max_count < -1:
        raise ConfigError(f"{where}: retry.maxRetryCount must be -1 (infinite) or more")

    def interval(key: str, alt: str) -> float:
        raw = d.get(key, d.get(alt))
        if raw is None:
            return 0.0
        seconds = parse_timespan(str(raw))
        if seconds is None or seconds < 0:
            raise ConfigError(f"{where}: retry.{key} {raw!r} is not a TimeSpan like '00:00:10'")
        return seconds

    if strategy == "fixeddelay":
        return RetrySpec(
            "fixedDelay", max_count, delay_interval=interval("delayinterval", "delay_interval")
        )
    return RetrySpec(
        "exponentialBackoff",
        max_count,
        minimum_interval=interval("minimuminterval", "minimum_interval"),
        maximum_interval=interval("maximuminterval", "maximum_interval"),
    )


def read_host_options(app_dir: Path) -> HostOptions:
    path = app_dir / HOST_JSON
    if not path.is_file():
        return HostOptions()
    raw = read_json_object(path, label=HOST_JSON)
    data = _lower_keys(raw)
    extensions = data.get("extensions") or {}
    if not isinstance(extensions, dict):
        raise ConfigError(f"{HOST_JSON}: extensions must be a JSON object")
    http = extensions.get("http") or {}
    prefix = http.get("routeprefix", "api") if isinstance(http, dict) else "api"
    if not isinstance(prefix, str):
        raise ConfigError(f"{HOST_JSON}: extensions.http.routePrefix must be a string")
    timeout: float | None = DEFAULT_FUNCTION_TIMEOUT
    if "functiontimeout" in data:
        text = str(data["functiontimeout"]).strip()
        if text in ("-1", "null", "None"):
            timeout = None
        else:
            seconds = parse_timespan(text)
            if seconds is None or seconds <= 0:
                raise ConfigError(
                    f"{HOST_JSON}: functionTimeout {text!r} is not a TimeSpan like '00:05:00' "
                    "(use -1 for no limit)"
                )
            timeout = seconds
    log_level = None
    logging_section = data.get("logging") or {}
    if isinstance(logging_section, dict):
        levels = logging_section.get("loglevel") or {}
        if isinstance(levels, dict):
            log_level = levels.get("function") or levels.get("default")
    return HostOptions(
        route_prefix=prefix.strip("/"),
        function_timeout=timeout,
        retry=parse_retry(data.get("retry"), HOST_JSON),
        log_level=log_level,
        file_watching=data.get("filewatchingenabled", True) is not False,
        extensions=extensions,
        raw=raw,
    )
