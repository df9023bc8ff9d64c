"""MkDocs hook: heading anchors as GitHub makes them, so that one link works on GitHub and on the
built site (`production.md#several-processes---workers-n` for "Several processes:
`--workers N`")."""

from __future__ import annotations

import re
from typing import Any

_DROPPED = re.compile(r"[^\w\- ]", re.UNICODE)


def github_slug(value: str, separator: str) -> str:
    """GitHub's anchor of a heading's text: lower case, punctuation other than `-` and `_`
    dropped, each space a hyphen (runs are kept)."""
    return _DROPPED.sub("", value.strip().lower()).replace(" ", "-")


def on_config(config: Any) -> Any:
    config.mdx_configs.setdefault("toc", {})["slugify"] = github_slug
    return config
