"""HTTP route templates and the route table.

This module owns the Azure Functions route template language (ASP.NET Core route template
syntax: literals, ``{param}``, ``{param?}``, ``{param=default}``, ``{*catchall}`` and inline
constraints such as ``{id:int:min(1)}``), compiling a template into a fast matcher, and the
table that picks which target a request reaches when several routes could match.

Templates arrive with the host's ``routePrefix`` already joined ("api/items/{id:int}").
Paths arrive as ASGI ``scope["path"]``: percent-decoded and starting with "/".
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar

__all__ = ["CompiledRoute", "RouteTable", "RouteTemplateError", "compile_route"]

T = TypeVar("T")


class RouteTemplateError(ValueError):
    """A route template cannot be used; the one-line message names it and what is wrong."""

    def __init__(self, template: str, problem: str) -> None:
        super().__init__(f"invalid route template {_q(template)}: {problem}")
        self.template = template
        self.problem = problem


class _Problem(Exception):
    """A template fault found deep in parsing, before the template itself is at hand."""


def _q(text: str) -> str:
    # Error messages must stay on one line even if a template carries control characters.
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return f"'{text}'"


# --- constraints -------------------------------------------------------------------------

# .NET number parsing (NumberStyles.AllowLeading/TrailingWhite) only skips these characters,
# which is narrower than Python's str.strip() and int().
_WS_CHARS = "\t\n\x0b\x0c\r "
_WS = r"[\t-\r ]*"
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
# System.Decimal holds a 96-bit integer mantissa.
_DECIMAL_LIMIT = Decimal(2**96)


def _ci(word: str) -> str:
    # Constraint patterns run with case-insensitivity switched off: Python's IGNORECASE also
    # folds characters such as U+212A KELVIN SIGN onto ASCII letters, which .NET does not.
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


_INTEGER_PATTERN = rf"{_WS}[+-]?[0-9]+{_WS}"
# Group separators are accepted anywhere after the first digit, as .NET's AllowThousands does.
_NUMBER = r"(?:[0-9][0-9,]*(?:\.[0-9]*)?|\.[0-9]+)"
_DECIMAL_PATTERN = rf"{_WS}(?:[+-]?{_NUMBER}|{_NUMBER}[+-]?){_WS}"
_FLOAT_PATTERN = rf"{_WS}[+-]?(?:{_NUMBER}(?:[eE][+-]?[0-9]+)?|{_ci('infinity')}|{_ci('nan')}){_WS}"
_BOOL_PATTERN = rf"{_WS}(?:{_ci('true')}|{_ci('false')}){_WS}"
_HEX = "[0-9A-Fa-f]"
_GUID_D = f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"
_GUID_X = (
    rf"\{{0[xX]{_HEX}{{1,8}},0[xX]{_HEX}{{1,4}},0[xX]{_HEX}{{1,4}},"
    rf"\{{0[xX]{_HEX}{{1,2}}(?:,0[xX]{_HEX}{{1,2}}){{7}}\}}\}}"
)
# Guid.TryParse formats N, D, B, P and X.
_GUID_PATTERN = rf"{_WS}(?:{_HEX}{{32}}|{_GUID_D}|\{{{_GUID_D}\}}|\({_GUID_D}\)|{_GUID_X}){_WS}"
_ALPHA_PATTERN = "[A-Za-z]+"

_INTEGER_RE = re.compile(_INTEGER_PATTERN)
_DECIMAL_RE = re.compile(_DECIMAL_PATTERN)
_FLOAT_RE = re.compile(_FLOAT_PATTERN)
_BOOL_RE = re.compile(_BOOL_PATTERN)
_GUID_RE = re.compile(_GUID_PATTERN)

# DateTime.TryParse with the invariant culture is far more lenient than any one Python
# parser; ISO 8601 plus these cover what people put in URLs.
_DATETIME_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d %Y",
    "%B %d %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%a, %d %b %Y %H:%M:%S GMT",
    "%H:%M",
    "%H:%M:%S",
)


@dataclass(frozen=True, slots=True)
class _Constraint:
    """One inline constraint, ready to test a route value.

    ``check`` decides on its own. When the parameter is a whole segment, ``pattern`` (which
    never matches "/") is put in the route's regex instead, and only ``post`` then remains to
    run in Python; ``post`` None means the pattern alone decides.
    """

    text: str
    check: Callable[[str], bool]
    pattern: str | None = None
    post: Callable[[str], bool] | None = None
    # ASP.NET constraints see a missing value as a failure, except nonfile.
    on_missing: bool = False


def _integer_between(text: str, low: int, high: int) -> _Constraint:
    def post(value: str) -> bool:
        try:
            return low <= int(value) <= high
        except ValueError:  # beyond sys.int_max_str_digits: out of any .NET range anyway
            return False

    def check(value: str) -> bool:
        return _INTEGER_RE.fullmatch(value) is not None and post(value)

    return _Constraint(text, check, _INTEGER_PATTERN, post)


def _decimal_in_range(value: str) -> bool:
    number = value.strip(_WS_CHARS).replace(",", "")
    if number[-1] in "+-":
        number = number[-1] + number[:-1]
    try:
        return abs(Decimal(number)) < _DECIMAL_LIMIT
    except InvalidOperation:
        return False


def _is_decimal(value: str) -> bool:
    return _DECIMAL_RE.fullmatch(value) is not None and _decimal_in_range(value)


def _is_float(value: str) -> bool:
    # .NET Core 3.0+ parses overflow as +/-Infinity instead of failing, so syntax decides.
    return _FLOAT_RE.fullmatch(value) is not None


def _is_datetime(value: str) -> bool:
    text = value.strip(_WS_CHARS)
    if not text:
        return False
    candidates = [text]
    if text[-1] in "zZ":  # fromisoformat only learned "Z" in Python 3.11
        candidates.append(text[:-1] + "+00:00")
    for candidate in candidates:
        try:
            datetime.fromisoformat(candidate)
            return True
        except ValueError:
            pass
    for fmt in _DATETIME_FORMATS:
        try:
            datetime.strptime(text, fmt)
            return True
        except ValueError:
            pass
    return False


def _utf16_length(value: str) -> int:
    # .NET string lengths count UTF-16 code units, so characters outside the BMP count twice.
    if value.isascii():
        return len(value)
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


def _is_file_name(value: str) -> bool:
    # Same rule as ASP.NET's FileNameRouteConstraint: the last path segment has a dot
    # followed by something other than dots.
    name = value[value.rfind("/") + 1 :]
    dot = name.find(".")
    return dot != -1 and name[dot + 1 :].strip(".") != ""


def _dotnet_regex(expression: str) -> str:
    # The few .NET spellings Python rejects: (?<name>...) groups and the \z anchor.
    out: list[str] = []
    i = 0
    while i < len(expression):
        char = expression[i]
        if char == "\\" and i + 1 < len(expression):
            following = expression[i + 1]
            out.append("\\Z" if following == "z" else char + following)
            i += 2
        elif expression.startswith("(?<", i) and expression[i + 3 : i + 4] not in ("=", "!", ""):
            out.append("(?P<")
            i += 3
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _integer_args(args: str | None, count: int, bounds: tuple[int, int]) -> list[int]:
    words = [] if args is None else [word.strip() for word in args.split(",")]
    noun = "argument" if count == 1 else "arguments"
    if len(words) != count or not all(_INTEGER_RE.fullmatch(word) for word in words):
        raise _Problem(f"needs {count} integer {noun}")
    numbers = [int(word) for word in words]
    if not all(bounds[0] <= number <= bounds[1] for number in numbers):
        raise _Problem("has an argument out of range")
    return numbers


def _no_args(make: Callable[[str], _Constraint]) -> Callable[[str, str | None], _Constraint]:
    def factory(text: str, args: str | None) -> _Constraint:
        if args is not None:
            raise _Problem("takes no arguments")
        return make(text)

    return factory


def _length_constraint(text: str, args: str | None, kind: str) -> _Constraint:
    if kind == "length" and args is not None and "," in args:
        low, high = _integer_args(args, 2, _INT32)
    else:
        (bound,) = _integer_args(args, 1, _INT32)
        if kind == "minlength":
            low, high = bound, _INT32[1]
        elif kind == "maxlength":
            low, high = 0, bound
        else:
            low = high = bound
    if low < 0 or high < 0:
        raise _Problem("needs lengths that are not negative")
    if low > high:
        raise _Problem("has its minimum above its maximum")
    return _Constraint(text, lambda value: low <= _utf16_length(value) <= high)


def _min_constraint(text: str, args: str | None) -> _Constraint:
    (low,) = _integer_args(args, 1, _INT64)
    return _integer_between(text, low, _INT64[1])


def _max_constraint(text: str, args: str | None) -> _Constraint:
    (high,) = _integer_args(args, 1, _INT64)
    return _integer_between(text, _INT64[0], high)


def _range_constraint(text: str, args: str | None) -> _Constraint:
    low, high = _integer_args(args, 2, _INT64)
    if low > high:
        raise _Problem("has its minimum above its maximum")
    return _integer_between(text, low, high)


def _regex_constraint(text: str, args: str | None) -> _Constraint:
    if not args:
        raise _Problem("needs a regular expression")
    try:
        compiled = re.compile(_dotnet_regex(args), re.IGNORECASE)
    except re.error as exc:
        raise _Problem(f"has an invalid regular expression: {exc}") from None
    # Unanchored on purpose: ASP.NET's RegexRouteConstraint calls Regex.IsMatch without
    # adding ^...$, so templates that want a full match spell out the anchors.
    return _Constraint(text, lambda value: compiled.search(value) is not None)


_CONSTRAINTS: dict[str, Callable[[str, str | None], _Constraint]] = {
    "int": _no_args(lambda text: _integer_between(text, *_INT32)),
    "long": _no_args(lambda text: _integer_between(text, *_INT64)),
    "bool": _no_args(
        lambda text: _Constraint(text, lambda v: _BOOL_RE.fullmatch(v) is not None, _BOOL_PATTERN)
    ),
    "datetime": _no_args(lambda text: _Constraint(text, _is_datetime)),
    "decimal": _no_args(
        lambda text: _Constraint(text, _is_decimal, _DECIMAL_PATTERN, _decimal_in_range)
    ),
    "double": _no_args(lambda text: _Constraint(text, _is_float, _FLOAT_PATTERN)),
    "float": _no_args(lambda text: _Constraint(text, _is_float, _FLOAT_PATTERN)),
    "guid": _no_args(
        lambda text: _Constraint(text, lambda v: _GUID_RE.fullmatch(v) is not None, _GUID_PATTERN)
    ),
    "alpha": _no_args(
        lambda text: _Constraint(text, lambda v: v.isascii() and v.isalpha(), _ALPHA_PATTERN)
    ),
    "required": _no_args(lambda text: _Constraint(text, bool, "[^/]+")),
    "file": _no_args(lambda text: _Constraint(text, _is_file_name)),
    "nonfile": _no_args(
        lambda text: _Constraint(text, lambda v: not _is_file_name(v), on_missing=True)
    ),
    "minlength": lambda text, args: _length_constraint(text, args, "minlength"),
    "maxlength": lambda text, args: _length_constraint(text, args, "maxlength"),
    "length": lambda text, args: _length_constraint(text, args, "length"),
    "min": _min_constraint,
    "max": _max_constraint,
    "range": _range_constraint,
    "regex": _regex_constraint,
}


def _resolve_constraint(text: str, parameter: str) -> _Constraint:
    # Same split as ASP.NET's DefaultInlineConstraintResolver: name, then "(args)" only if
    # the text ends with ")"; constraint names are case-insensitive.
    paren = text.find("(")
    if paren >= 0 and text.endswith(")"):
        key, args = text[:paren], text[paren + 1 : -1]
    else:
        key, args = text, None
    where = f"on parameter {_q(parameter)}"
    factory = _CONSTRAINTS.get(key.lower())
    if factory is None:
        if paren >= 0 and args is None:
            raise _Problem(f"constraint {_q(text)} {where} is missing ')'")
        raise _Problem(f"unknown constraint {_q(key)} {where}")
    try:
        return factory(text, args)
    except _Problem as exc:
        raise _Problem(f"constraint {_q(text)} {where} {exc}") from None


# --- template parsing --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Literal:
    text: str


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    optional: bool
    catch_all: bool
    default: str | None
    constraints: tuple[_Constraint, ...]


_Part = _Literal | _Param


@dataclass(frozen=True, slots=True)
class _Segment:
    raw: str
    parts: tuple[_Part, ...]

    @property
    def simple_param(self) -> _Param | None:
        part = self.parts[0]
        return part if len(self.parts) == 1 and isinstance(part, _Param) else None

    @property
    def omittable(self) -> bool:
        # Only a whole-segment parameter can be left out of a path; a complex segment can't.
        param = self.simple_param
        return param is not None and (
            param.optional or param.catch_all or param.default is not None
        )


_INVALID_NAME_CHARS = frozenset("/{}?*")


def _split_constraints(inner: str, index: int, last: int) -> tuple[list[str], int]:
    """ASP.NET's constraint scanner: returns the constraint texts and where it stopped.

    A ":" or "=" inside parentheses belongs to the argument as long as a ")" follows, and a
    ")" only closes the argument list when ":", "=" or the end comes next, so regexes like
    ``regex(^(a|b):c$)`` survive.
    """
    texts: list[str] = []
    state = "start"
    start = index
    while True:
        char = inner[index] if index <= last else None
        if state == "start":
            if char is None:
                break
            if char == ":":
                state, start = "name", index + 1
            elif char == "(":
                state = "paren"
            elif char == "=":
                return texts, index
        elif state == "paren":
            if char is None:
                texts.append(inner[start:index])
                break
            if char == ")":
                following = inner[index + 1] if index + 1 <= last else None
                if following is None:
                    texts.append(inner[start : index + 1])
                    break
                if following == ":":
                    texts.append(inner[start : index + 1])
                    state, start = "start", index + 1
                elif following == "=":
                    texts.append(inner[start : index + 1])
                    return texts, index + 1
            elif char in ":=":
                close = inner.find(")", index + 1, last + 1)
                if close == -1:
                    texts.append(inner[start:index])
                    if char == "=":
                        return texts, index
                    state, start = "name", index + 1
                else:
                    index = close - 1
        else:  # reading a constraint name
            if char is None or char in ":=":
                if index > start:
                    texts.append(inner[start:index])
                if char is None:
                    break
                if char == "=":
                    return texts, index
                start = index + 1
            elif char == "(":
                state = "paren"
        index += 1
    return texts, last + 1


def _parse_parameter(inner: str, seen: set[str]) -> _Param:
    """Parse the text between "{" and "}" (escaped braces already decoded)."""
    start = 0
    catch_all = False
    if inner.startswith("**"):  # "**" differs from "*" only when generating URLs
        catch_all, start = True, 2
    elif inner.startswith("*"):
        catch_all, start = True, 1
    end = len(inner)
    optional = end > start and inner[end - 1] == "?"
    if optional:
        end -= 1

    stop = start
    while stop < end and inner[stop] not in ":=":
        stop += 1
    name = inner[start:stop]
    if not name:
        raise _Problem("empty parameter name")
    texts, stop = _split_constraints(inner, stop, end - 1)
    default = inner[stop + 1 : end] if stop < end and inner[stop] == "=" else None

    if catch_all and optional:
        raise _Problem(f"catch-all parameter {_q(name)} cannot be optional")
    if optional and default is not None:
        raise _Problem(f"optional parameter {_q(name)} cannot have a default value")
    if _INVALID_NAME_CHARS.intersection(name):
        raise _Problem(f"invalid parameter name {_q(name)}")
    # Route values are looked up case-insensitively, so "{id}" and "{ID}" would collide.
    if name.lower() in seen:
        raise _Problem(f"duplicate parameter name {_q(name)}")
    seen.add(name.lower())
    constraints = tuple(_resolve_constraint(text, name) for text in texts)
    return _Param(name, optional, catch_all, default, constraints)


def _check_segment(segment: _Segment) -> None:
    parts = segment.parts
    if len(parts) == 1:
        return
    for index, part in enumerate(parts):
        if not isinstance(part, _Param):
            continue
        if part.catch_all:
            raise _Problem(
                f"catch-all parameter {_q(part.name)} must be a whole segment, "
                f"not part of {_q(segment.raw)}"
            )
        previous = parts[index - 1] if index else None
        if isinstance(previous, _Param):
            raise _Problem(
                f"parameters {_q(previous.name)} and {_q(part.name)} in segment "
                f"{_q(segment.raw)} must be separated by a literal"
            )
        if part.optional:
            if index != len(parts) - 1:
                raise _Problem(
                    f"optional parameter {_q(part.name)} must be at the end of segment "
                    f"{_q(segment.raw)}"
                )
            if not isinstance(previous, _Literal) or previous.text != ".":
                raise _Problem(
                    f"optional parameter {_q(part.name)} in segment {_q(segment.raw)} "
                    "must be preceded by '.'"
                )


def _parse_template(text: str) -> list[_Segment]:
    segments: list[_Segment] = []
    seen: set[str] = set()
    parts: list[_Part] = []
    literal: list[str] = []
    segment_start = 0
    i = 0
    n = len(text)

    def flush_literal() -> None:
        if literal:
            value = "".join(literal)
            literal.clear()
            if "?" in value:
                raise _Problem(f"literal {_q(value)} cannot contain '?'")
            parts.append(_Literal(value))

    while n:
        if i == n or text[i] == "/":
            flush_literal()
            if not parts:
                raise _Problem("empty segment ('/' next to another '/' or at the start)")
            segment = _Segment(text[segment_start:i], tuple(parts))
            _check_segment(segment)
            segments.append(segment)
            parts = []
            i += 1
            segment_start = i
            if i >= n:  # one trailing "/" is allowed, as in ASP.NET
                break
            continue
        char = text[i]
        if char == "{" or char == "}":
            if text.startswith(char * 2, i):  # "{{" and "}}" are literal braces
                literal.append(char)
                i += 2
                continue
            if char == "}":
                raise _Problem("unmatched '}'")
            flush_literal()
            j = i + 1
            while True:
                if j >= n:
                    raise _Problem("unclosed '{'")
                if text[j] == "{":
                    if text.startswith("{{", j):
                        j += 2
                        continue
                    raise _Problem("'{' inside a parameter must be escaped as '{{'")
                if text[j] == "}":
                    if text.startswith("}}", j):
                        j += 2
                        continue
                    break
                j += 1
            inner = text[i + 1 : j].replace("}}", "}").replace("{{", "{")
            parts.append(_parse_parameter(inner, seen))
            i = j + 1
            continue
        literal.append(char)
        i += 1

    for segment in segments[:-1]:
        for part in segment.parts:
            if isinstance(part, _Param) and part.catch_all:
                raise _Problem(f"catch-all parameter {_q(part.name)} must be in the last segment")
    tail = _omittable_tail(segments)
    for index, segment in enumerate(segments[:tail]):
        param = segment.simple_param
        if param is not None and param.optional:
            required = next(s for s in segments[index + 1 :] if not s.omittable)
            raise _Problem(
                f"optional parameter {_q(param.name)} is followed by required segment "
                f"{_q(required.raw)}"
            )
    return segments


def _omittable_tail(segments: list[_Segment]) -> int:
    """Index of the first segment of the trailing run that a path may leave out."""
    tail = len(segments)
    while tail and segments[tail - 1].omittable:
        tail -= 1
    return tail


# --- compiled routes ---------------------------------------------------------------------

# (parameter name, Python checks for a present value, whether a missing value is acceptable)
_Check = tuple[str, tuple[Callable[[str], bool], ...], bool]


class CompiledRoute:
    """One route template, compiled to match request paths; build it with ``compile_route``.

    ``template`` is the template without its leading or trailing "/". ``precedence`` has one
    digit per segment (1 literal, 2 constrained parameter or complex segment, 3 parameter,
    4 constrained catch-all, 5 catch-all); the table tries lower tuples first.

    One regex splits a path into the template's segments; no part of it can match a "/", so
    it never backtracks across segments. A complex segment ("{name}.{ext}") is captured
    whole and split by ``_match_complex`` as ASP.NET does, right to left without
    backtracking: a regex with several parameters in one segment would try every split
    point against every other, cubic time in the segment's length for three parameters.
    """

    __slots__ = (
        "_checks",
        "_complex",
        "_defaults",
        "_fullmatch",
        "_names",
        "_plain",
        "_static_key",
        "precedence",
        "template",
    )

    template: str
    precedence: tuple[int, ...]

    def __init__(self, template: str, segments: list[_Segment]) -> None:
        self.template = template
        self.precedence = tuple(_precedence_digit(segment) for segment in segments)
        params = [p for s in segments for p in s.parts if isinstance(p, _Param)]
        self._static_key: str | None = None
        self._fullmatch: Callable[[str], re.Match[str] | None] | None = None
        self._names: tuple[str, ...] = ()
        self._checks: tuple[_Check, ...] = ()
        self._defaults = tuple((p.name, p.default) for p in params if p.default is not None)
        self._complex: tuple[tuple[int, _Segment], ...] = ()
        if not params:
            self._static_key = "/".join(
                part.text for s in segments for part in s.parts if isinstance(part, _Literal)
            ).lower()
        else:
            names: list[str] = []
            complex_segments: list[tuple[int, _Segment]] = []
            pieces = [_segment_regex(segment, names, complex_segments) for segment in segments]
            tail = _omittable_tail(segments)
            pattern = "/".join(pieces[:tail])
            optional_part = ""
            # Each omittable segment nests inside the previous one: "a/{b?}/{c?}" matches
            # "a", "a/x" and "a/x/y" but never fills c without b.
            for index in range(len(pieces) - 1, tail - 1, -1):
                separator = "/" if index else ""
                optional_part = f"(?:{separator}{pieces[index]}{optional_part})?"
            regex = re.compile(pattern + optional_part, re.IGNORECASE | re.DOTALL)
            self._fullmatch = regex.fullmatch
            self._names = tuple(names)
            self._checks = tuple(_build_checks(segments))
            self._complex = tuple(complex_segments)
        self._plain = not (self._checks or self._defaults or self._complex)

    def __repr__(self) -> str:
        return f"CompiledRoute({self.template!r})"

    def match(self, path: str) -> dict[str, str] | None:
        """Route values by parameter name if ``path`` matches, else None.

        ``path`` may carry a leading and a trailing "/"; both are ignored.
        """
        if path.startswith("/"):
            path = path[1:]
        if path.endswith("/"):
            path = path[:-1]
        return self._match(path)

    def _match(self, path: str) -> dict[str, str] | None:
        # ``path`` has already lost its leading and trailing "/".
        fullmatch = self._fullmatch
        if fullmatch is None:
            return {} if path.lower() == self._static_key else None
        found = fullmatch(path)
        if found is None:
            return None
        # Empty groups are absent optionals or an empty catch-all: both are left out.
        groups = found.groups()
        values = {name: value for name, value in zip(self._names, groups, strict=True) if value}
        if self._plain:
            return values
        if self._complex:
            del values[_WHOLE_SEGMENT]
            for index, segment in self._complex:
                parts = _match_complex(segment.parts, groups[index])
                if parts is None:
                    return None
                values.update(parts)
        for name, checks, missing_ok in self._checks:
            value = values.get(name)
            if value is None:
                if not missing_ok:
                    return None
            else:
                for check in checks:
                    if not check(value):
                        return None
        for name, default in self._defaults:
            values.setdefault(name, default)
        return values


def _precedence_digit(segment: _Segment) -> int:
    # ASP.NET's RoutePrecedence.ComputeInbound: lower sorts first.
    if len(segment.parts) > 1:
        return 2
    part = segment.parts[0]
    if isinstance(part, _Literal):
        return 1
    return (5 if part.catch_all else 3) - (1 if part.constraints else 0)


def _body_constraint(param: _Param, whole_segment: bool) -> _Constraint | None:
    # Only a whole-segment parameter may carry a constraint's pattern in the regex: inside a
    # complex segment a narrower pattern would change where the literals split the text.
    if not whole_segment or param.catch_all:
        return None
    return next((c for c in param.constraints if c.pattern is not None), None)


# The regex group name of a complex segment captured whole (parameter names are never empty).
_WHOLE_SEGMENT = ""


def _segment_regex(
    segment: _Segment, names: list[str], complex_segments: list[tuple[int, _Segment]]
) -> str:
    if len(segment.parts) > 1:
        complex_segments.append((len(names), segment))
        names.append(_WHOLE_SEGMENT)
        return "([^/]+)"
    part = segment.parts[0]
    if isinstance(part, _Literal):
        return re.escape(part.text)
    names.append(part.name)
    body = _body_constraint(part, True)
    if part.catch_all:
        return "(.*)"
    if body is not None:
        return f"((?-i:{body.pattern}))"
    return "([^/]+)"


def _fold(text: str) -> str:
    # Case-insensitive comparison, one character for one so that indexes stay valid
    # (str.lower() turns U+0130 into two characters).
    folded = text.lower()
    if len(folded) == len(text):
        return folded
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def _match_complex(parts: tuple[_Part, ...], text: str) -> dict[str, str] | None:
    """The values of a complex segment's parameters, or None: ASP.NET's
    RoutePatternMatcher.MatchComplexSegment, in time linear in the length of `text`.

    An optional last parameter after "." ("{name}.{ext?}") is tried with its extension
    first; without it, the segment must not end in the "." (ASP.NET rejects "file." rather
    than giving name="file.").
    """
    last = len(parts) - 1
    folded = _fold(text)
    values = _match_parts(parts, last, text, folded)
    final = parts[last]
    if values is not None or not (isinstance(final, _Param) and final.optional):
        return values
    if text.endswith("."):
        return None
    return _match_parts(parts, last - 2, text, folded)


def _match_parts(
    parts: tuple[_Part, ...], index: int, text: str, folded: str
) -> dict[str, str] | None:
    # From the right: each literal is found at its last occurrence that leaves at least one
    # character for a parameter to its right, and is never looked for again; a parameter
    # takes the text between the literals on either side of it.
    values: dict[str, str] = {}
    end = len(text)  # everything right of `end` is matched
    pending: _Param | None = None  # a parameter waiting for the literal left of it
    right_literal: _Literal | None = None
    while index >= 0:
        part = parts[index]
        new_end = end
        if isinstance(part, _Param):
            pending = part
        else:
            right_literal = part
            limit = end - 1 if pending is not None else end
            if limit == 0:
                return None
            found = folded.rfind(_fold(part.text), 0, limit)
            if found == -1:
                return None
            # A literal at the very end of the template must end the segment ("{a}.x" does
            # not match "b.xy").
            if index == len(parts) - 1 and found + len(part.text) != len(text):
                return None
            new_end = found
        if pending is not None and (
            (right_literal is not None and isinstance(part, _Literal)) or index == 0
        ):
            # A parameter here is the leftmost part: it takes everything left of `end`.
            start = 0 if isinstance(part, _Param) else new_end + len(part.text)
            value = text[start:end]
            if not value:  # "{a}{b}" cannot be split, and a parameter is never empty
                return None
            values[pending.name] = value
            pending = None
            right_literal = None
        end = new_end
        index -= 1
    # A leading literal must sit at the very start ("v{n}" does not match "vv1").
    return values if end == 0 or isinstance(parts[0], _Param) else None


def _build_checks(segments: list[_Segment]) -> list[_Check]:
    checks: list[_Check] = []
    for segment in segments:
        for param in segment.parts:
            if not isinstance(param, _Param):
                continue
            body = _body_constraint(param, len(segment.parts) == 1)
            funcs: list[Callable[[str], bool]] = []
            for constraint in param.constraints:
                if constraint is not body:
                    funcs.append(constraint.check)
                elif constraint.post is not None:
                    funcs.append(constraint.post)
            if param.optional:
                missing_ok = True  # ASP.NET skips constraints on an absent optional
            elif param.default is not None:
                # Constraints apply to the default too; decide once rather than per request.
                missing_ok = all(c.check(param.default) for c in param.constraints)
            elif param.catch_all:
                missing_ok = all(c.on_missing for c in param.constraints)
            else:
                missing_ok = True  # a required parameter is never missing from a match
            if funcs or not missing_ok:
                checks.append((param.name, tuple(funcs), missing_ok))
    return checks


def compile_route(template: str) -> CompiledRoute:
    """Compile a full route template (routePrefix already joined); raises RouteTemplateError."""
    text = template[1:] if template.startswith("/") else template
    try:
        segments = _parse_template(text)
    except _Problem as exc:
        raise RouteTemplateError(template, str(exc)) from None
    return CompiledRoute(text[:-1] if text.endswith("/") else text, segments)


# --- route table -------------------------------------------------------------------------


class _Entry(Generic[T]):
    __slots__ = ("methods", "order", "route", "target")

    def __init__(
        self, route: CompiledRoute, methods: frozenset[str] | None, target: T, order: int
    ) -> None:
        self.route = route
        self.methods = methods
        self.target = target
        self.order = order


def _entry_key(entry: _Entry[T]) -> tuple[tuple[int, ...], int]:
    return entry.route.precedence, entry.order


class RouteTable(Generic[T]):
    """Routes to targets; ``match`` returns the most specific route that fits a request.

    Routes without parameters are found by one dict lookup. The others are tried in
    ASP.NET precedence order (segment by segment: literal, then constrained parameter or
    complex segment, then plain parameter, then catch-all), ties in the order added.
    """

    __slots__ = ("_count", "_dynamic", "_exact", "_static")

    def __init__(self) -> None:
        self._static: dict[str, list[tuple[frozenset[str] | None, T]]] = {}
        # The same lists by the request path a client most often sends for them ("/" + key):
        # found without normalizing the path first.
        self._exact: dict[str, list[tuple[frozenset[str] | None, T]]] = {}
        self._dynamic: list[_Entry[T]] = []
        self._count = 0

    def add(self, template: str, methods: Iterable[str] | None, target: T) -> None:
        """Add a route; ``methods`` None or empty means every method. Raises RouteTemplateError."""
        route = compile_route(template)
        if isinstance(methods, str):  # a lone "get" would otherwise iterate as letters
            methods = (methods,)
        allowed = frozenset(m.upper() for m in methods or ()) or None
        if route._static_key is not None:
            # A literal route outranks every parametrised route matching the same path, so
            # it can be answered before looking at them.
            candidates = self._static.setdefault(route._static_key, [])
            candidates.append((allowed, target))
            self._exact["/" + route._static_key] = candidates
        else:
            entry = _Entry(route, allowed, target, self._count)
            bisect.insort(self._dynamic, entry, key=_entry_key)
        self._count += 1

    def match(self, method: str, path: str) -> tuple[T, dict[str, str]] | None:
        """The target and route values for a request, or None (the caller answers 404)."""
        candidates = self._exact.get(path)
        if candidates is not None:
            for allowed, target in candidates:
                if allowed is None or method in allowed or method.upper() in allowed:
                    return target, {}
        if path.startswith("/"):
            path = path[1:]
        if path.endswith("/"):
            path = path[:-1]
        method = method.upper()
        candidates = self._static.get(path.lower())
        if candidates is not None:
            for allowed, target in candidates:
                if allowed is None or method in allowed:
                    return target, {}
        for entry in self._dynamic:
            allowed = entry.methods
            if allowed is not None and method not in allowed:
                continue
            values = entry.route._match(path)
            if values is not None:
                return entry.target, values
        return None
