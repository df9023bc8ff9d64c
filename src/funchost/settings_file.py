"""local.settings.json edited in place, for `funchost settings`.

A change touches only the text it must: a new setting is added after the last one of its
section, with that section's indentation; a changed value is replaced where it stands; a
deleted setting takes its line with it (and a `//` comment at the end of that line). Key order,
the other sections and members (`Host`, `ConnectionStrings`, anything else), indentation, line
endings, comments and trailing commas are kept. The text is located on the output of
`strip_json_extensions`, which keeps every position of the original text.

Every change is checked by parsing the new text and comparing it with the expected data; if
they differ (a layout the in-place edit does not handle), the file is written again from its
data instead, without its comments, so no value is ever lost, and the caller is told.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError
from funchost.jsonfile import read_json_object, strip_json_extensions

_WHITESPACE = re.compile(r"[ \t\r\n]*")
_INDENT = re.compile(r"[ \t]*")
_DECODER = json.JSONDecoder()
_BOM = "\ufeff"


@dataclass(frozen=True)
class _Member:
    """One `"key": value` of an object: where its key starts and its value starts and ends,
    and, when the value is an object, its members and where it ends."""

    key: str
    key_start: int
    value_start: int
    value_end: int
    members: tuple[_Member, ...] | None


def _skip(text: str, i: int) -> int:
    match = _WHITESPACE.match(text, i)
    assert match is not None
    return match.end()


def _parse_object(text: str, i: int) -> tuple[tuple[_Member, ...], int]:
    """The members of the object at ``text[i] == '{'`` (strict JSON) and the index after it."""
    i = _skip(text, i + 1)
    members: list[_Member] = []
    if text[i] == "}":
        return (), i + 1
    while True:
        key_start = i
        key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
        i = _skip(text, _skip(text, i) + 1)  # past ':'
        value_start = i
        children: tuple[_Member, ...] | None = None
        if text[i] == "{":
            children, i = _parse_object(text, i)
        else:
            _, i = _DECODER.raw_decode(text, i)
        members.append(_Member(key, key_start, value_start, i, children))
        i = _skip(text, i)
        if text[i] == "}":
            return tuple(members), i + 1
        i = _skip(text, i + 1)  # past ','


def _find(members: tuple[_Member, ...], key: str) -> _Member | None:
    found = None
    for member in members:  # the last of duplicate keys is the one JSON readers keep
        if member.key == key:
            found = member
    return found


def _line_start(text: str, i: int) -> int:
    return text.rfind("\n", 0, i) + 1


def _indent_at(text: str, i: int) -> str:
    match = _INDENT.match(text, _line_start(text, i))
    assert match is not None
    return match.group()


def _starts_line(text: str, i: int) -> bool:
    return text[_line_start(text, i) : i].strip(" \t") == ""


class SettingsDocument:
    """The text and data of one local.settings.json, changed by path (``("Values", "A")``)."""

    def __init__(self, path: Path, text: str, data: dict[str, Any], *, bom: bool) -> None:
        self.path = path
        self.data = data
        self._text: str | None = text
        self._bom = bom
        self.had_comments = strip_json_extensions(text) != text
        self.newline = "\r\n" if "\r\n" in text else "\n"
        self.unit = "  "
        stripped = strip_json_extensions(text)
        root, _ = _parse_object(stripped, _skip(stripped, 0))
        if root and _starts_line(text, root[0].key_start):
            self.unit = _indent_at(text, root[0].key_start) or "  "

    @classmethod
    def read(cls, path: Path, label: str) -> SettingsDocument:
        data = read_json_object(path, label=label)  # one ConfigError line naming the file
        raw = path.read_bytes().decode("utf-8")  # as it is: `\r\n` line ends stay
        bom = raw.startswith(_BOM)
        return cls(path, raw.removeprefix(_BOM), data, bom=bom)

    @classmethod
    def create(cls, path: Path, data: dict[str, Any]) -> SettingsDocument:
        return cls(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", data, bom=False)

    @property
    def rewritten(self) -> bool:
        """True when a change could not be made in place and the file is written from its data."""
        return self._text is None

    def get(self, *path: str) -> Any:
        node: Any = self.data
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    def set(self, path: tuple[str, ...], value: Any) -> None:
        """Set the member at ``path``, creating the objects on the way as needed."""
        expected = copy.deepcopy(self.data)
        node = expected
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = value
        self._apply(expected, lambda text, stripped: self._set_edits(text, stripped, path, value))

    def delete(self, path: tuple[str, ...]) -> bool:
        """Remove the member at ``path`` (every copy of a duplicated key); False if absent."""
        parent = self.get(*path[:-1]) if len(path) > 1 else self.data
        if not isinstance(parent, dict) or path[-1] not in parent:
            return False
        expected = copy.deepcopy(self.data)
        node = expected
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        self._apply(expected, lambda text, stripped: self._delete_edits(text, stripped, path))
        return True

    def text(self) -> str:
        if self._text is None:
            body = json.dumps(self.data, indent=self.unit, ensure_ascii=False)
            return body.replace("\n", self.newline) + self.newline
        return self._text

    def write(self) -> None:
        """Replace the file atomically, keeping its permissions (0600 for a new file)."""
        target = self.path.resolve()
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o600
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read file: {exc.strerror or exc}") from None
        content = (_BOM if self._bom else "") + self.text()
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write file: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write(content)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write file: {exc.strerror or exc}") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    # Text edits: lists of (start, end, replacement) on the original text.

    def _apply(self, expected: dict[str, Any], edits: Any) -> None:
        if self._text is not None:
            text = self._text
            try:
                # Edits at one position are listed in the order their text must follow.
                listed = list(enumerate(edits(text, strip_json_extensions(text))))
                for _, (start, end, replacement) in sorted(
                    listed, key=lambda e: (e[1][0], e[0]), reverse=True
                ):
                    text = text[:start] + replacement + text[end:]
                in_place = _same(_parse(text), expected)
            except Exception:  # any layout the edit does not handle: write the data instead
                in_place = False
            self._text = text if in_place else None
        self.data = expected

    def _render(self, value: Any, indent: str, *, inline: bool) -> str:
        if inline or not isinstance(value, dict) or not value:
            return json.dumps(value, ensure_ascii=False)
        body = json.dumps(value, indent=self.unit, ensure_ascii=False)
        return body.replace("\n", self.newline + indent)

    def _member(self, key: str, value: Any, indent: str, *, inline: bool) -> str:
        rendered = self._render(value, indent, inline=inline)
        return f"{json.dumps(key, ensure_ascii=False)}: {rendered}"

    def _set_edits(
        self, text: str, stripped: str, path: tuple[str, ...], value: Any
    ) -> list[tuple[int, int, str]]:
        start = _skip(stripped, 0)
        members, end = _parse_object(stripped, start)
        for depth, key in enumerate(path):
            member = _find(members, key)
            rest = path[depth + 1 :]
            nested: Any = value
            for inner in reversed(rest):
                nested = {inner: nested}
            if member is None:
                return self._insert_edits(text, stripped, start, end, members, key, nested)
            if member.members is None or not rest:
                inline = "\n" not in text[member.key_start : member.value_end]
                indent = _indent_at(text, member.key_start)
                replacement = self._render(nested, indent, inline=inline)
                return [(member.value_start, member.value_end, replacement)]
            start, end = member.value_start, member.value_end
            members = member.members
        raise AssertionError("empty path")

    def _insert_edits(
        self,
        text: str,
        stripped: str,
        start: int,
        end: int,
        members: tuple[_Member, ...],
        key: str,
        value: Any,
    ) -> list[tuple[int, int, str]]:
        """Add ``"key": value`` at the end of the object at ``text[start:end]``."""
        nl = self.newline
        if not members:
            outer = _indent_at(text, start)
            inner = outer + self.unit
            member = (
                f"{json.dumps(key, ensure_ascii=False)}: {self._render(value, inner, inline=False)}"
            )
            if text[start + 1 : end - 1].strip() == "":
                return [(start + 1, end - 1, f"{nl}{inner}{member}{nl}{outer}")]
            return [(start + 1, start + 1, f"{nl}{inner}{member}")]
        last = members[-1]
        trailing = _trailing_comma(text, stripped, last.value_end)
        if "\n" not in text[last.value_end : end]:  # `}` on the last member's line: stay inline
            member = (
                f"{json.dumps(key, ensure_ascii=False)}: {self._render(value, '', inline=True)}"
            )
            if trailing is not None:
                return [(trailing + 1, trailing + 1, f" {member},")]
            return [(last.value_end, last.value_end, f", {member}")]
        if _starts_line(text, last.key_start):
            indent = _indent_at(text, last.key_start)
        else:
            indent = _indent_at(text, start) + self.unit
        member = (
            f"{json.dumps(key, ensure_ascii=False)}: {self._render(value, indent, inline=False)}"
        )
        after = trailing + 1 if trailing is not None else last.value_end
        at = _end_of_line_comment(text, stripped, after)
        added = f"{nl}{indent}{member}{',' if trailing is not None else ''}"
        edits = [] if trailing is not None else [(last.value_end, last.value_end, ",")]
        edits.append((at, at, added))
        return edits

    def _delete_edits(
        self, text: str, stripped: str, path: tuple[str, ...]
    ) -> list[tuple[int, int, str]]:
        start = _skip(stripped, 0)
        members, end = _parse_object(stripped, start)
        for key in path[:-1]:
            member = _find(members, key)
            assert member is not None and member.members is not None
            start, end, members = member.value_start, member.value_end, member.members
        edits: list[tuple[int, int, str]] = []
        kept = [m for m in members if m.key != path[-1]]
        for index, member in enumerate(members):
            if member.key != path[-1]:
                continue
            separator = _skip(stripped, member.value_end)
            if stripped[separator] == ",":  # a member follows: its comma goes with this one
                edits.append(_line_span(text, stripped, member.key_start, separator + 1))
                continue
            trailing = _trailing_comma(text, stripped, member.value_end)
            cut = trailing + 1 if trailing is not None else member.value_end
            earlier = [m for m in members[:index] if m.key != path[-1]]
            if earlier and trailing is None:  # the one before is now the last: drop its comma
                comma = _skip(stripped, earlier[-1].value_end)
                if not _starts_line(text, member.key_start):  # on one line: `, "key": value`
                    edits.append((comma, cut, ""))
                    continue
                edits.append((comma, comma + 1, ""))
            edits.append(_line_span(text, stripped, member.key_start, cut))
        if not kept and _no_comments(text[start + 1 : end - 1], stripped[start + 1 : end - 1]):
            return [(start + 1, end - 1, "")]  # an object left empty becomes `{}`
        return edits


def _trailing_comma(text: str, stripped: str, i: int) -> int | None:
    """Where a blanked trailing comma stands after the value that ends at ``i``, if any."""
    j = i
    while j < len(stripped) and stripped[j] in " \t\r\n":
        if text[j] == ",":
            return j
        j += 1
    return None


def _no_comments(text: str, stripped: str) -> bool:
    """True when the only text that stripping blanked is trailing commas."""
    return all(t == s or t == "," for t, s in zip(text, stripped, strict=True))


def _end_of_line_comment(text: str, stripped: str, i: int) -> int:
    """Where to add a line after position ``i``: past the spaces and a `//` comment that end
    its line, or ``i`` itself when something else follows on the line."""
    j = i
    while j < len(text) and text[j] in " \t":
        j += 1
    if text.startswith("//", j) and stripped[j] == " ":
        while j < len(text) and text[j] not in "\r\n":
            j += 1
    if j == len(text) or text[j] in "\r\n":
        return j
    return i


def _line_span(text: str, stripped: str, start: int, end: int) -> tuple[int, int, str]:
    """The edit that removes ``text[start:end]``, with its line when nothing else is on it."""
    if not _starts_line(text, start):
        return (start, end, "")
    j = end
    while j < len(text) and text[j] in " \t":
        j += 1
    if text.startswith("//", j) and stripped[j] == " ":
        while j < len(text) and text[j] not in "\r\n":
            j += 1
    if j < len(text) and text[j] not in "\r\n":
        return (start, end, "")
    if text.startswith("\r\n", j):
        j += 2
    elif j < len(text):
        j += 1
    return (_line_start(text, start), j, "")


def _parse(text: str) -> Any:
    return json.loads(strip_json_extensions(text))


def _same(a: Any, b: Any) -> bool:
    # The order of keys counts: the file must keep it.
    return json.dumps(a) == json.dumps(b)
