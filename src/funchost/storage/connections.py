"""Which storage a binding's `connection` names: the embedded store, or an Azure Storage account.

The setting is found as the host finds it: `AzureWebJobs<name>` first, then `<name>`, each in
`ConnectionStrings` (local.settings.json) before the app settings; a binding without
`connection` uses `AzureWebJobsStorage`. An empty or absent setting means the embedded store.
Identity-based settings (`<name>__serviceUri` and friends) are refused with a clear error.

A connection string's key never leaves this module's `ConnectionString.value`: descriptions and
errors name the setting, the account and the endpoints only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from funchost.errors import ConfigError

DEFAULT_CONNECTION = "AzureWebJobsStorage"
PREFIX = "AzureWebJobs"
IDENTITY_SUFFIXES = ("__serviceUri", "__queueServiceUri", "__blobServiceUri", "__accountName")
DEV_ACCOUNT = "devstoreaccount1"
# The development account's key: the same everywhere, published with the storage emulator.
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class ConnectionSettingError(ConfigError):
    """A connection setting that cannot be used (the message names the setting)."""


@dataclass(frozen=True)
class ConnectionString:
    setting: str
    value: str = field(repr=False)
    account: str
    blob_endpoint: str
    queue_endpoint: str

    @property
    def development_host(self) -> str | None:
        """The loopback host of the development account when this connection is it (the
        `devstoreaccount1` account on ports 10000 and 10001, as `UseDevelopmentStorage=true`
        names it), else None."""
        blob, queue = urlsplit(self.blob_endpoint), urlsplit(self.queue_endpoint)
        if (
            self.account != DEV_ACCOUNT
            or blob.port != 10000
            or queue.port != 10001
            or blob.hostname != queue.hostname
            or not _is_loopback(blob.hostname)
        ):
            return None
        return blob.hostname

    @property
    def description(self) -> str:
        return (
            f"Azure Storage account '{self.account}' from {self.setting} "
            f"(queues {self.queue_endpoint}, blobs {self.blob_endpoint})"
        )


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _pairs(setting: str, value: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in value.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, val = part.partition("=")
        if not sep or not key.strip():
            # The part may hold a key: name the setting, never show the value.
            raise ConnectionSettingError(
                f"The connection string in setting '{setting}' is not valid: expected "
                "'Name=value' pairs separated by ';'."
            )
        pairs[key.strip().lower()] = val.strip()
    return pairs


def parse_connection_string(setting: str, value: str) -> ConnectionString:
    pairs = _pairs(setting, value)
    if pairs.get("usedevelopmentstorage", "").lower() == "true":
        proxy = pairs.get("developmentstorageproxyuri", "http://127.0.0.1").rstrip("/")
        blob, queue = f"{proxy}:10000/{DEV_ACCOUNT}", f"{proxy}:10001/{DEV_ACCOUNT}"
        # Spelled out, since the SDKs read UseDevelopmentStorage without its proxy URI.
        spelled = (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={blob};QueueEndpoint={queue};"
        )
        return ConnectionString(setting, spelled, DEV_ACCOUNT, blob, queue)
    account = pairs.get("accountname", "")
    has_credential = bool(pairs.get("accountkey") or pairs.get("sharedaccesssignature"))
    explicit = pairs.get("blobendpoint") or pairs.get("queueendpoint")
    if not (account or explicit) or not has_credential:
        raise ConnectionSettingError(
            f"The connection string in setting '{setting}' is not valid: it needs AccountName "
            "and AccountKey (or SharedAccessSignature), or UseDevelopmentStorage=true. Leave "
            f"{setting} empty to use funchost's embedded store."
        )
    protocol = pairs.get("defaultendpointsprotocol", "https")
    suffix = pairs.get("endpointsuffix", "core.windows.net")
    blob = pairs.get("blobendpoint") or f"{protocol}://{account}.blob.{suffix}"
    queue = pairs.get("queueendpoint") or f"{protocol}://{account}.queue.{suffix}"
    return ConnectionString(setting, value, account or "(from endpoints)", blob, queue)


def resolve_connection(
    name: str | None,
    settings: Mapping[str, str],
    connection_strings: Mapping[str, str] | None = None,
) -> ConnectionString | None:
    """The Azure account that connection `name` names, or None for the embedded store."""
    name = name or DEFAULT_CONNECTION
    strings = connection_strings or {}
    candidates = [name] if name.startswith(PREFIX) else [PREFIX + name, name]
    for candidate in candidates:
        for source in (strings, settings):
            value = source.get(candidate)
            if value is not None and value.strip():
                return parse_connection_string(candidate, value.strip())
            if value is not None:
                return None  # set, and empty: the embedded store
    for candidate in candidates:
        for suffix in IDENTITY_SUFFIXES:
            if settings.get(candidate + suffix):
                raise ConnectionSettingError(
                    f"Connection '{name}' uses identity-based settings ({candidate}{suffix}), "
                    "which funchost does not support yet. Use a connection string in "
                    f"{candidate}, or leave it empty for the embedded store."
                )
    return None
