"""`.funcignore` as Core Tools reads it, quirks included.

Core Tools (`GitIgnoreParser`, a port of the npm package gitignore-parser) is not git: every
pattern is anchored at the app root and matches a prefix of a file's path that ends at a word
boundary, and a negated pattern wins over every other pattern wherever it stands. So:

- `test` excludes `test/a.py`, `test.py` and `test-data/x`, but neither `tests/a.py` nor
  `sub/test/a.py`; `*.pyc` excludes `a.pyc` at the root only (`*` never crosses `/`);
- `**` is "one or more characters", so `a/**/b` misses `a/b`;
- a pattern that ends in a character that is not a letter, digit or `_` only matches where a
  word character follows it: `docs/` misses `docs/.nojekyll`, and `*~` excludes nothing that
  ends in `~`;
- `?`, `[`, `]` and the other regular-expression characters are literal;
- `!pattern` re-includes files even inside an excluded folder, before or after the pattern it
  undoes; matching is case-sensitive; only files are matched, never folders.

A package must hold exactly what `func azure functionapp publish` would upload, so funchost keeps
these rules instead of git's.
"""

from __future__ import annotations

import re
from pathlib import Path

# The characters Core Tools escapes before it turns `**` and `*` into expressions.
_SPECIAL = re.compile(r"[\-\[\]/{}()+?.\\^$|]")


def _expression(pattern: str) -> str:
    escaped = _SPECIAL.sub(lambda m: "\\" + m.group(0), pattern)
    return escaped.replace("**", "(.+)").replace("*", "([^/]+)")


def _alternatives(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    joined = ")|(".join(_expression(p) for p in patterns)
    # ASCII: `\b` is ECMAScript's, between [A-Za-z0-9_] and anything else.
    return re.compile(f"^(({joined}))\\b", re.ASCII)


class FuncIgnore:
    """The patterns of one `.funcignore`, asked about files by POSIX paths from the app root."""

    def __init__(self, text: str) -> None:
        excluded: list[str] = []
        negated: list[str] = []
        for raw in text.split("\n"):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            target = excluded
            if line.startswith("!"):
                target = negated
                line = line[1:]
            target.append(line.removeprefix("/"))
        self.excluded = tuple(excluded)
        self.negated = tuple(negated)
        self._excluded = _alternatives(excluded)
        self._negated = _alternatives(negated)

    @classmethod
    def read(cls, path: Path) -> FuncIgnore:
        """The file as .NET reads it: UTF-8, a byte order mark dropped."""
        return cls(path.read_bytes().decode("utf-8-sig", errors="replace"))

    def accepts(self, path: str) -> bool:
        """Whether the file at `path` (`a/b.py`, from the app root) is packed."""
        if self._negated is not None and self._negated.match(path):
            return True
        return self._excluded is None or not self._excluded.match(path)
