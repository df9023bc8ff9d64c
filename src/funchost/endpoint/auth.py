"""Who may call the storage endpoint: SharedKey signatures and shared access signatures.

A request is allowed by exactly one of, checked as Azure Storage checks them:
- `Authorization: SharedKey <account>:<signature>`, an HMAC-SHA256 under the account key of
  the request's canonical form: the verb, eleven standard headers, the `x-ms-` headers in
  Azure's collation, and the resource (the path as sent, then the query parameters);
- an account SAS in the query (`ss`, `srt`, `sp`, `se`, `sv`, `sig`, ...): the signature of its
  fields, its time window, protocol and IP range, and the service, resource type and
  permission the operation needs;
- a service SAS (`sr` for blobs, neither `ss` nor `sr` for queues): the same, signed over the
  container, blob or queue it names.
Anything else (anonymous requests, OAuth bearer tokens) is refused. The check never looks at a
request's `x-ms-version`: every version is accepted, and the SAS field set follows the SAS's
own `sv`.
"""

from __future__ import annotations

import base64
import functools
import hmac
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import unquote

from funchost.endpoint import errors
from funchost.storage.connections import DEV_ACCOUNT, DEV_KEY

DEVELOPMENT_KEY = DEV_KEY


@dataclass(frozen=True)
class Account:
    name: str
    key: bytes  # the decoded account key

    @classmethod
    def from_base64(cls, name: str, key: str) -> Account:
        return cls(name, base64.b64decode(key))


DEVELOPMENT_ACCOUNT = Account.from_base64(DEV_ACCOUNT, DEVELOPMENT_KEY)

Service = Literal["b", "q"]


@dataclass(frozen=True)
class Access:
    """What an operation needs of a shared access signature.

    `resource_type` is the account SAS's `srt` letter: `s` service, `c` container or queue, `o`
    blob or message. A SAS with any one of the listed permission letters may run the operation;
    an operation with no service-SAS letters cannot be run with a service SAS at all (creating
    or deleting a container, for instance).
    """

    service: Service
    resource_type: Literal["s", "c", "o"]
    account_permissions: str
    service_permissions: str = ""


@dataclass(frozen=True)
class SignedRequest:
    """The parts of a request that its authorization covers."""

    method: str
    raw_path: str  # as sent, still percent-encoded, without the query
    query: Sequence[tuple[str, str]]  # every parameter, percent-decoded, in order
    headers: Mapping[str, str]  # lower-case names
    scheme: str
    client_ip: str | None
    container: str | None  # the container or queue the request is for, decoded
    blob: str | None = None  # the blob, decoded


def sign(key: bytes, text: str) -> str:
    digest = hmac.digest(key, text.encode("utf-8"), "sha256")
    return base64.b64encode(digest).decode("ascii")


def authorize(request: SignedRequest, access: Access, account: Account, now: datetime) -> None:
    """Return if `request` may run an operation that needs `access`; `StorageFailure` (401 or
    403 with Azure's code) if not."""
    authorization = request.headers.get("authorization")
    if authorization is not None:
        _check_shared_key(request, authorization, account)
        return
    fields = _first_values(request.query)
    if "sig" not in fields:
        raise errors.no_authentication()
    if "ss" in fields:
        _check_account_sas(request, fields, access, account, now)
    else:
        _check_service_sas(request, fields, access, account, now)


# -- SharedKey

# The standard headers of the string to sign, in order.
SIGNED_HEADERS = (
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
)

# Azure orders the `x-ms-` headers by a collation of its own (the SDKs carry it as tables): on a
# first pass `-` and `'` are ignored, letters compare without case, and punctuation comes
# before digits and letters in this order; on a second pass only `'` and `-` count, `'` first.
_PRIMARY = "!#$%&*.^_`|~+0123456789abcdefghijklmnopqrstuvwxyz"
_PRIMARY_RANK = {c: i + 1 for i, c in enumerate(_PRIMARY)}
_SECONDARY_RANK = {"'": 1, "-": 2}


@functools.lru_cache(maxsize=1024)  # clients send the same few names with every request
def header_order(name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The sort key of a header name in Azure's collation."""
    lowered = name.lower()
    return (
        tuple(_PRIMARY_RANK[c] for c in lowered if c in _PRIMARY_RANK),
        tuple(_SECONDARY_RANK[c] for c in lowered if c in _SECONDARY_RANK),
    )


def shared_key_string(request: SignedRequest, account: str) -> str:
    """The string a SharedKey signature signs (Blob and Queue services, version 2009-09-19 on)."""
    headers = request.headers
    lines = [request.method.upper()]
    for name in SIGNED_HEADERS:
        value = headers.get(name, "")
        if name == "content-length" and value == "0":
            value = ""
        lines.append(value)
    ms = sorted((n for n in headers if n.startswith("x-ms-")), key=header_order)
    canonical_headers = "".join(f"{n}:{headers[n]}\n" for n in ms)
    return "\n".join(lines) + "\n" + canonical_headers + canonical_resource(request, account)


def canonical_resource(request: SignedRequest, account: str) -> str:
    """`/<account><path as sent>`, then each query parameter as `\\n<name>:<values>`, names
    lower-cased and sorted, the values of a repeated name sorted and joined by commas."""
    grouped: dict[str, list[str]] = {}
    for name, value in request.query:
        grouped.setdefault(name.lower(), []).append(value)
    params = "".join(f"\n{n}:{','.join(sorted(grouped[n]))}" for n in sorted(grouped))
    return f"/{account}{request.raw_path}{params}"


def _check_shared_key(request: SignedRequest, authorization: str, account: Account) -> None:
    scheme, _, credentials = authorization.partition(" ")
    if scheme != "SharedKey":
        # SharedKeyLite and bearer tokens are not taken.
        raise errors.authentication_failed(
            f"The authentication scheme '{scheme}' is not supported by funchost's storage "
            "endpoint: use SharedKey or a shared access signature."
        )
    name, _, signature = credentials.strip().rpartition(":")
    if name != account.name:
        raise errors.authentication_failed(
            f"The account '{name}' in the Authorization header is not this endpoint's "
            f"account '{account.name}'."
        )
    text = shared_key_string(request, account.name)
    if not hmac.compare_digest(sign(account.key, text), signature):
        raise errors.authentication_failed(
            f"The MAC signature found in the HTTP request '{signature}' is not the same as any "
            f"computed signature. Server used following string to sign: '{text}'."
        )


# -- shared access signatures


def _first_values(query: Sequence[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in query:
        fields.setdefault(name, value)
    return fields


def _at_least(version: str, since: str) -> bool:
    # SAS versions are dates written YYYY-MM-DD: they compare as strings.
    return version >= since


def _check_signature(fields: Mapping[str, str], text: str, account: Account) -> None:
    if not hmac.compare_digest(sign(account.key, text), fields["sig"]):
        raise errors.authentication_failed(
            f"Signature did not match. String to sign used was {text}"
        )


def _parse_time(value: str) -> datetime:
    """A SAS time: `YYYY-MM-DD`, or with `THH:MM[:SS[.fff]]Z`."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise errors.authentication_failed("Signature fields not well formed.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _http_date(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


def _check_window(fields: Mapping[str, str], now: datetime) -> None:
    start = _parse_time(fields["st"]) if fields.get("st") else None
    expiry = _parse_time(fields["se"])
    if now >= expiry or (start is not None and now < start):
        raise errors.authentication_failed(
            f"Signature not valid in the specified time frame: Start [{_http_date(start)}] - "
            f"Expiry [{_http_date(expiry)}] - Current [{_http_date(now)}]"
        )


def _check_protocol_and_ip(request: SignedRequest, fields: Mapping[str, str]) -> None:
    protocols = [p.strip() for p in fields.get("spr", "https,http").split(",")]
    if request.scheme not in protocols:
        raise errors.protocol_mismatch()
    allowed = fields.get("sip")
    if allowed and (request.client_ip is None or not _ip_in_range(request.client_ip, allowed)):
        raise errors.source_ip_mismatch()


def _ip_in_range(ip: str, allowed: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
        low, _, high = allowed.partition("-")
        first = ipaddress.ip_address(low.strip())
        last = ipaddress.ip_address(high.strip()) if high else first
    except ValueError:
        return False
    if address.version != first.version or first.version != last.version:
        return False
    return first <= address <= last  # type: ignore[operator]


def _require(fields: Mapping[str, str], *names: str) -> None:
    for name in names:
        if not fields.get(name):
            raise errors.authentication_failed(f"{name} is mandatory. Cannot be empty")


def _check_account_sas(
    request: SignedRequest,
    fields: Mapping[str, str],
    access: Access,
    account: Account,
    now: datetime,
) -> None:
    _require(fields, "sv", "ss", "srt", "sp", "se")
    version = fields["sv"]
    parts = [
        account.name,
        fields["sp"],
        fields["ss"],
        fields["srt"],
        fields.get("st", ""),
        fields["se"],
        fields.get("sip", ""),
        fields.get("spr", ""),
        version,
    ]
    if _at_least(version, "2020-12-06"):
        parts.append(fields.get("ses", ""))
    _check_signature(fields, "\n".join(parts) + "\n", account)
    _check_window(fields, now)
    _check_protocol_and_ip(request, fields)
    if access.service not in fields["ss"]:
        raise errors.service_mismatch()
    if access.resource_type not in fields["srt"]:
        raise errors.resource_type_mismatch()
    if not set(fields["sp"]) & set(access.account_permissions):
        raise errors.permission_mismatch()


def _check_service_sas(
    request: SignedRequest,
    fields: Mapping[str, str],
    access: Access,
    account: Account,
    now: datetime,
) -> None:
    _require(fields, "sv", "se")
    version = fields["sv"]
    if fields.get("si"):
        raise errors.authentication_failed(
            "Stored access policies (si) are not supported by funchost's storage endpoint: "
            "sign the permissions and expiry into the SAS itself."
        )
    if access.service == "b":
        resource = fields.get("sr", "")
        if resource not in ("b", "c") or request.container is None:
            raise errors.authentication_failed(
                f"The signed resource '{resource}' is not supported by funchost's storage "
                "endpoint: use sr=b (a blob) or sr=c (a container)."
            )
        path = f"/blob/{account.name}/{request.container}"
        if resource == "b":
            path += f"/{request.blob or ''}"
        parts = [
            fields.get("sp", ""),
            fields.get("st", ""),
            fields["se"],
            path,
            fields.get("si", ""),
            fields.get("sip", ""),
            fields.get("spr", ""),
            version,
        ]
        if _at_least(version, "2018-11-09"):
            parts += [resource, ""]  # then the snapshot time, for sr=bs only
            if _at_least(version, "2020-12-06"):
                parts.append(fields.get("ses", ""))
        parts += [fields.get(n, "") for n in ("rscc", "rscd", "rsce", "rscl", "rsct")]
    else:
        if request.container is None:
            raise errors.authentication_failed(
                "A queue service SAS can only be used on the queue it was signed for."
            )
        parts = [
            fields.get("sp", ""),
            fields.get("st", ""),
            fields["se"],
            f"/queue/{account.name}/{request.container}",
            fields.get("si", ""),
            fields.get("sip", ""),
            fields.get("spr", ""),
            version,
        ]
    _check_signature(fields, "\n".join(parts), account)
    _check_window(fields, now)
    _check_protocol_and_ip(request, fields)
    if not access.service_permissions or not set(fields.get("sp", "")) & set(
        access.service_permissions
    ):
        raise errors.permission_mismatch()


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    """The parameters of a raw query string, percent-decoded (`+` stays a plus, as Azure
    reads it)."""
    pairs: list[tuple[str, str]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs
