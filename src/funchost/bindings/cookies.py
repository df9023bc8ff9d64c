"""Response cookies: a function's `Set-Cookie` headers as Azure turns them into the response's.

In Azure a cookie takes two steps. The `azure.functions` converter parses every `Set-Cookie`
header a function set with `http.cookies.SimpleCookie` (a value it cannot parse, such as an
unknown flag, gives no cookie at all) and the worker makes each cookie an `RpcHttpCookie`: its
expires through `dateutil`, its max-age through `float`, failing the invocation on a value that
does not convert. The host then writes each cookie as a `Set-Cookie` header of its own in
ASP.NET Core's `SetCookieHeaderValue` form: `name=value` (the value percent-encoded as
`Uri.EscapeDataString` does), then `expires`, `max-age`, `domain`, `path`, `secure`, `samesite`
and `httponly`, lower-case, in that order. Every cookie is read (the worker's step) before any
is written (the host's step), so the worker's errors come first, as in Azure. The host's own
errors (a cookie name that is not an HTTP token, a max-age it cannot hold) fail the invocation
here too, where Azure fails the response after the invocation: both answer 500.
"""

from __future__ import annotations

import datetime
import logging
import re
from collections.abc import Iterable
from email.utils import format_datetime
from http.cookies import Morsel, SimpleCookie
from typing import Any
from urllib.parse import quote

SET_COOKIE = b"set-cookie"

# The range of a protobuf Timestamp, which carries expires from the worker to the host.
_TIMESTAMP_MIN = -62135596800  # 0001-01-01T00:00:00Z
_TIMESTAMP_MAX = 253402300799  # 9999-12-31T23:59:59Z
_TICKS_PER_SECOND = 10_000_000  # a .NET TimeSpan counts 100 ns ticks in a signed 64-bit integer
_TICKS_LIMIT = 2**63  # a double beyond a 64-bit integer's range overflows the TimeSpan
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SAME_SITE = {"lax": "lax", "strict": "strict", "none": "none"}
# Kestrel refuses a response header with a control character or a non-ASCII one.
_HEADER_TEXT = re.compile(r"[\t\x20-\x7e]*")


class _Cookie:
    """One cookie as the worker hands it to the host (an `RpcHttpCookie`)."""

    __slots__ = (
        "domain",
        "expires",
        "http_only",
        "max_age",
        "name",
        "path",
        "same_site",
        "secure",
        "value",
    )

    def __init__(self, name: str, morsel: Morsel[Any]) -> None:
        self.name = name
        self.value: str = morsel.value
        self.domain: str = morsel["domain"]
        self.path: str = morsel["path"]
        self.expires = _expires_seconds(morsel["expires"])
        self.secure = bool(morsel["secure"])
        self.http_only = bool(morsel["httponly"])
        same_site = morsel["samesite"]
        self.same_site = _SAME_SITE.get(same_site.lower()) if isinstance(same_site, str) else None
        self.max_age = _max_age(morsel["max-age"])

    def header(self) -> tuple[bytes, bytes]:
        """The cookie's `Set-Cookie` header as the host writes it."""
        if not _TOKEN.fullmatch(self.name):
            raise ValueError(f"Invalid cookie name: {self.name} (Parameter 'value')")
        parts = [f"{self.name}={quote(self.value, safe='')}"]
        if self.expires is not None:
            if not _TIMESTAMP_MIN <= self.expires <= _TIMESTAMP_MAX:
                raise ValueError(
                    f"Timestamp contains invalid values: Seconds={self.expires}; Nanos=0"
                )
            moment = datetime.datetime.fromtimestamp(self.expires, datetime.UTC)
            parts.append(f"expires={format_datetime(moment, usegmt=True)}")
        if self.max_age is not None:
            parts.append(f"max-age={_max_age_seconds(self.max_age)}")
        parts.append(f"domain={self.domain}")
        parts.append(f"path={self.path}")
        if self.secure:
            parts.append("secure")
        if self.same_site is not None:
            parts.append(f"samesite={self.same_site}")
        if self.http_only:
            parts.append("httponly")
        text = "; ".join(parts)
        if not _HEADER_TEXT.fullmatch(text):
            bad = next(c for c in text if not _HEADER_TEXT.fullmatch(c))
            raise ValueError(f"Invalid non-ASCII or control character in header: 0x{ord(bad):04X}")
        return SET_COOKIE, text.encode("ascii")


def _expires_seconds(expires: str) -> int | None:
    """Expires as whole seconds since the epoch, or None when the cookie sets none."""
    if not expires:
        return None
    from dateutil import parser  # only responses that set an expiring cookie need it

    try:
        moment = parser.parse(expires)
    except parser.ParserError:
        logging.error(
            "Can not parse value %s of expires in the cookie due to invalid format.", expires
        )
        raise
    except OverflowError:
        logging.error(
            "Can not parse value %s of expires in the cookie because the parsed date "
            "exceeds the largest valid C integer on your system.",
            expires,
        )
        raise
    try:
        # A time without a zone is local time, as `datetime.timestamp` (and the worker) reads it.
        return int(moment.timestamp())
    except Exception:
        raise TypeError(
            f"A 'datetime' or 'int' type was expected instead of a '{type(moment)}' "
            f"type. Cannot parse value {moment} of 'cookie.expires'."
        ) from None


def _max_age(max_age: str) -> float | None:
    if not max_age:
        return None
    try:
        return float(max_age)
    except Exception:
        raise TypeError(f"Cannot parse value {max_age} of 'cookie.maxAge' to float.") from None


def _max_age_seconds(max_age: float) -> int:
    """Max-age as the host writes it: a TimeSpan of whole ticks, then its whole seconds."""
    if max_age != max_age:
        raise ValueError("TimeSpan does not accept floating point Not-a-Number values.")
    ticks = max_age * _TICKS_PER_SECOND
    if not -_TICKS_LIMIT <= ticks <= _TICKS_LIMIT:
        raise OverflowError("TimeSpan overflowed because the duration is too long.")
    seconds = int(int(ticks) / _TICKS_PER_SECOND)
    if seconds < 0:
        raise ValueError(
            "The value to be formatted must be non-negative. (Parameter 'value')\n"
            f"Actual value was {seconds}."
        )
    return seconds


def cookie_headers(cookies: Iterable[SimpleCookie]) -> list[tuple[bytes, bytes]]:
    """The `Set-Cookie` headers of the cookies the library's converter parsed, in order."""
    read = [_Cookie(name, morsel) for cookie in cookies for name, morsel in cookie.items()]
    return [cookie.header() for cookie in read]


def set_cookie_headers(values: Iterable[str]) -> list[tuple[bytes, bytes]]:
    """The `Set-Cookie` headers Azure sends for the `Set-Cookie` header values a function set."""
    return cookie_headers(SimpleCookie(value) for value in values)
