"""App settings: local.settings.json (development only) merged under the process environment.

The real host exposes app settings as environment variables; funchost does the same, so user
code that reads `os.environ` sees what it would see in Azure. Settings are read once, here, into
a plain mapping that the rest of funchost receives through `HostConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError
from funchost.jsonfile import read_json_object

LOCAL_SETTINGS_FILE = "local.settings.json"


@dataclass(frozen=True)
class LocalSettings:
    """What local.settings.json holds."""

    values: dict[str, str] = field(default_factory=dict)
    connection_strings: dict[str, str] = field(default_factory=dict)
    local_http_port: int | None = None
    cors: tuple[str, ...] = ()
    cors_credentials: bool = False


def as_setting_value(file: str, where: str, value: Any) -> str:
    """A setting's JSON value as an environment variable's text (`true`/`false`, null as empty)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if value is None:
        return ""
    raise ConfigError(f"{file}: {where} must be a string, found {type(value).__name__}")


def read_local_settings(app_dir: Path) -> LocalSettings:
    path = app_dir / LOCAL_SETTINGS_FILE
    if not path.is_file():
        return LocalSettings()
    data = read_json_object(path, label=LOCAL_SETTINGS_FILE)
    raw_values = data.get("Values") or {}
    if not isinstance(raw_values, dict):
        raise ConfigError(f"{LOCAL_SETTINGS_FILE}: Values must be a JSON object")
    values = {
        str(k): as_setting_value(LOCAL_SETTINGS_FILE, f"Values.{k}", v)
        for k, v in raw_values.items()
    }
    raw_cs = data.get("ConnectionStrings") or {}
    if not isinstance(raw_cs, dict):
        raise ConfigError(f"{LOCAL_SETTINGS_FILE}: ConnectionStrings must be a JSON object")
    connection_strings: dict[str, str] = {}
    for k, v in raw_cs.items():
        # Core Tools accepts {"name": "conn"} and {"name": {"ConnectionString": "conn"}}.
        if isinstance(v, dict):
            v = v.get("ConnectionString", "")
        connection_strings[str(k)] = as_setting_value(
            LOCAL_SETTINGS_FILE, f"ConnectionStrings.{k}", v
        )
    if data.get("IsEncrypted") is True:
        values, connection_strings = _decrypted(app_dir, values, connection_strings)
    host = data.get("Host") or {}
    if not isinstance(host, dict):
        raise ConfigError(f"{LOCAL_SETTINGS_FILE}: Host must be a JSON object")
    port = host.get("LocalHttpPort")
    if port is not None:
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{LOCAL_SETTINGS_FILE}: Host.LocalHttpPort must be a port number, found {port!r}"
            ) from None
        if not 0 <= port <= 65535:
            raise ConfigError(f"{LOCAL_SETTINGS_FILE}: Host.LocalHttpPort {port} is out of range")
    cors_raw = host.get("CORS") or ""
    if not isinstance(cors_raw, str):
        raise ConfigError(f"{LOCAL_SETTINGS_FILE}: Host.CORS must be a comma-separated string")
    return LocalSettings(
        values=values,
        connection_strings=connection_strings,
        local_http_port=port,
        cors=split_origins(cors_raw),
        cors_credentials=bool(host.get("CORSCredentials", False)),
    )


def _decrypted(
    app_dir: Path, values: dict[str, str], connection_strings: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The values of a file `funchost settings encrypt` encrypted, in plain text."""
    from funchost.settings_crypto import SettingsCipher, decrypt_settings

    sealed = {f"Values.{k}": v for k, v in values.items()}
    sealed.update({f"ConnectionStrings.{k}": v for k, v in connection_strings.items()})
    plain = decrypt_settings(LOCAL_SETTINGS_FILE, sealed, SettingsCipher.for_app(app_dir))
    return (
        {k: plain[f"Values.{k}"] for k in values},
        {k: plain[f"ConnectionStrings.{k}"] for k in connection_strings},
    )


def split_origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip() for o in text.split(",") if o.strip())


def apply_settings(values: Mapping[str, str], environ: MutableMapping[str, str]) -> None:
    """Put settings into the environment; variables that are already set win (as Core Tools)."""
    for key, value in values.items():
        environ.setdefault(key, value)


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}
