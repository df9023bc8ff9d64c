"""`.funcignore` patterns, read as Core Tools' GitIgnoreParser reads them (its quirks included)."""

from __future__ import annotations

import pytest

from funchost.packaging.funcignore import FuncIgnore

CASES = [
    # (patterns, path, packed)
    ("node_modules", "node_modules/a.js", False),
    ("node_modules", "node_modules", False),
    ("node_modules", "src/node_modules/a.js", True),  # anchored at the root
    ("/dist", "dist/x", False),  # a leading slash changes nothing
    ("test", "test.py", False),  # a prefix that ends at a word boundary
    ("test", "tests/a.py", True),
    ("*.log", "a.log", False),
    ("*.log", "logs/a.log", True),  # `*` never crosses a slash
    ("*.py", "a.py.bak", False),
    ("*.py", "a.pyc", True),
    ("cache/**/x", "cache/a/b/x", False),
    ("cache/**/x", "cache/x", True),  # `**` needs at least one character
    ("**/bin/", "src/bin/app.dll", False),
    ("**/bin/", "bin/app.dll", True),
    ("out/", "out/.keep", True),  # nothing ends a word between `/` and `.`
    ("*~", "notes~", True),
    ("a?c", "abc", True),  # `?` is literal
    ("a?c", "a?c", False),
    ("[ab]", "a", True),  # so are brackets
    ("Docs", "docs/x", True),  # case-sensitive
    ("tests\n!tests/data", "tests/data/x.json", True),
    ("!tests/data\ntests", "tests/data/x.json", True),  # wherever the negation stands
    ("tests\n!tests/data", "tests/test_x.py", False),
    ("#tests", "tests/x", True),  # a comment
    ("  tests  \r", "tests/x", False),  # trimmed
    ("", "anything", True),
    ("!keep", "other", True),  # negations alone exclude nothing
]


@pytest.mark.parametrize(("patterns", "path", "packed"), CASES)
def test_core_tools_rules(patterns: str, path: str, packed: bool) -> None:
    assert FuncIgnore(patterns).accepts(path) is packed
