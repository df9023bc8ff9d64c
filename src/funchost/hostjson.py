"""host.json: the options funchost honours, parsed once into `HostOptions`."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError
from funchost.http.limits import HttpLimits, parse_http_limits
from funchost.indexing.spec import RetrySpec
from funchost.invocation.logs import parse_level
from funchost.jsonfile import read_json_object
from funchost.timespan import parse_timespan

HOST_JSON = "host.json"
DEFAULT_FUNCTION_TIMEOUT = 30 * 60.0


@dataclass(frozen=True)
class QueueOptions:
    """host.json `extensions.queues`, with the host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8 * (os.cpu_count() or 1)
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"  # "base64" | "none"


@dataclass(frozen=True)
class HostOptions:
    route_prefix: str = "api"
    function_timeout: float | None = DEFAULT_FUNCTION_TIMEOUT  # None: no limit
    retry: RetrySpec | None = None
    # logging.logLevel: host log level by category prefix ("default", "Function.<Name>", ...).
    log_levels: dict[str, str] = field(default_factory=dict)
    file_watching: bool = True
    queues: QueueOptions = field(default_factory=QueueOptions)
    http_limits: HttpLimits = field(default_factory=HttpLimits)
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


def _int_option(section: dict[str, Any], key: str, name: str, low: int, high: int) -> int | None:
    if key not in section:
        return None
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(
            f"{HOST_JSON}: extensions.queues.{name} must be a whole number from {low} to {high}, "
            f"found {value!r}"
        )
    return value


def _timespan_option(section: dict[str, Any], key: str, name: str, low: float) -> float | None:
    if key not in section:
        return None
    seconds = parse_timespan(str(section[key]))
    if seconds is None or seconds < low:
        raise ConfigError(
            f"{HOST_JSON}: extensions.queues.{name} {section[key]!r} is not a TimeSpan like "
            f"'00:00:02' of at least {low:g} s"
        )
    return seconds


def parse_queue_options(section: Any) -> QueueOptions:
    if section is None:
        return QueueOptions()
    if not isinstance(section, dict):
        raise ConfigError(f"{HOST_JSON}: extensions.queues must be a JSON object")
    batch = _int_option(section, "batchsize", "batchSize", 1, 32) or 16
    threshold = _int_option(section, "newbatchthreshold", "newBatchThreshold", 0, 10_000)
    if threshold is None:
        threshold = (batch // 2) * (os.cpu_count() or 1)
    encoding = str(section.get("messageencoding", "base64")).lower()
    if encoding not in ("base64", "none"):
        raise ConfigError(
            f"{HOST_JSON}: extensions.queues.messageEncoding must be 'base64' or 'none', "
            f"found {section.get('messageencoding')!r}"
        )
    return QueueOptions(
        batch_size=batch,
        new_batch_threshold=threshold,
        max_polling_interval=_timespan_option(
            section, "maxpollinginterval", "maxPollingInterval", 0.1
        )
        or 60.0,
        visibility_timeout=_timespan_option(section, "visibilitytimeout", "visibilityTimeout", 0)
        or 0.0,
        max_dequeue_count=_int_option(section, "maxdequeuecount", "maxDequeueCount", 1, 10_000)
        or 5,
        message_encoding=encoding,
    )


def parse_log_levels(raw: dict[str, Any]) -> dict[str, str]:
    """`logging.logLevel`, its categories as written; a level the host rejects is an error."""
    section = _get(raw, "logging")
    levels = _get(section, "logLevel") if isinstance(section, dict) else None
    if not isinstance(levels, dict):
        return {}
    rules = {str(category): value for category, value in levels.items() if value is not None}
    for category, value in rules.items():  # (a null level adds no rule, as in the host)
        try:
            parse_level(value, category)
        except ValueError as exc:
            raise ConfigError(f"{HOST_JSON}: logging.logLevel: {exc}") from None
    return {category: str(value) for category, value in rules.items()}


def _get(section: dict[str, Any], key: str) -> Any:
    """`section[key]` with the key in any case, as the host reads host.json."""
    return next((v for k, v in section.items() if str(k).lower() == key.lower()), None)


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
    if not isinstance(http, dict):
        raise ConfigError(f"{HOST_JSON}: extensions.http must be a JSON object")
    prefix = http.get("routeprefix", "api")
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
    return HostOptions(
        route_prefix=prefix.strip("/"),
        function_timeout=timeout,
        retry=parse_retry(data.get("retry"), HOST_JSON),
        log_levels=parse_log_levels(raw),
        file_watching=data.get("filewatchingenabled", True) is not False,
        queues=parse_queue_options(extensions.get("queues")),
        http_limits=parse_http_limits(http.get("limits")),
        extensions=extensions,
        raw=raw,
    )
