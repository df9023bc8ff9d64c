"""Reading the JSON files users write (host.json, local.settings.json, function.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError


def read_json_object(path: Path, *, label: str | None = None) -> dict[str, Any]:
    """Parse `path` as a JSON object; any problem is one ConfigError line naming the file."""
    name = label or str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: the file is not UTF-8 text") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: expected a JSON object, found {type(value).__name__}")
    return value
