"""Reading the JSON files users write (host.json, local.settings.json, function.json).

The Functions host and Core Tools read these files with JSON.NET, which skips `//` and `/* */`
comments and allows a trailing comma in arrays and objects. `strip_json_extensions` turns such
text into strict JSON of the same length, line by line (comments and trailing commas become
spaces), so `json` still reports a malformed file's own line and column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError

_WHITESPACE = frozenset(" \t\r\n")
# A comma before `]` or `}` is trailing only when a value precedes it: `[,]` stays an error.
_NOT_A_VALUE_END = frozenset("[{,:")


def strip_json_extensions(text: str) -> str:
    """`text` with comments and trailing commas blanked out; everything else, strings
    included, left as it is. One pass, linear in the length of `text`.

    Raises json.JSONDecodeError for a block comment that never ends.
    """
    out = list(text)
    n = len(text)
    i = 0
    last = ""  # the last character outside strings and comments that is not whitespace
    pending = -1  # where a comma stands that is trailing if `]` or `}` comes next
    while i < n:
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            last, pending = '"', -1
            continue
        if c == "/" and i + 1 < n and text[i + 1] in "/*":
            if text[i + 1] == "/":
                end = i
                while end < n and text[end] not in "\r\n":
                    end += 1
            else:
                close = text.find("*/", i + 2)
                if close < 0:
                    raise json.JSONDecodeError("Unterminated comment", text, i)
                end = close + 2
            for k in range(i, end):
                if text[k] not in "\r\n":
                    out[k] = " "
            i = end
            continue
        if c not in _WHITESPACE:
            if c in "]}" and pending >= 0:
                out[pending] = " "
            pending = i if c == "," and last not in _NOT_A_VALUE_END and last else -1
            last = c
        i += 1
    return "".join(out)


def read_json_object(path: Path, *, label: str | None = None) -> dict[str, Any]:
    """Parse `path` as a JSON object (comments and trailing commas allowed, as the real host
    reads it); any problem is one ConfigError line naming the file."""
    name = label or str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: the file is not UTF-8 text") from None
    try:
        value = json.loads(strip_json_extensions(text))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a JSON object, found {type(value).__name__}")
    return value
