"""Request paths as ASP.NET Core decodes them: percent-escapes decoded as UTF-8, `%2F` kept
(a decoded slash would change which route matches), bytes that are not UTF-8 kept as their
escapes. funchost's server and the ASGI adapter (for scopes made by other servers) both use it.
"""

from __future__ import annotations

import codecs
import re

_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")


def _keep_escaped(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    return "".join(f"%{b:02X}" for b in bad), error.end


codecs.register_error("funchost-percent", _keep_escaped)


def _unescape(match: re.Match[bytes]) -> bytes:
    byte = int(match.group(1), 16)
    return match.group(0) if byte == 0x2F else bytes((byte,))


def decode_path(raw_path: bytes) -> str:
    """The path of a request target, percent-decoded as UTF-8 (`/caf%C3%A9` is `/café`)."""
    return _PERCENT.sub(_unescape, raw_path).decode("utf-8", "funchost-percent")
