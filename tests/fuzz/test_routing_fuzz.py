"""Route templates under arbitrary input: a template either compiles or raises
RouteTemplateError, and matching any path against a compiled route never raises and takes
time linear in the path's length (no catastrophic regex backtracking)."""

from __future__ import annotations

import contextlib

from hypothesis import example, given
from hypothesis import strategies as st

from funchost.http.routing import CompiledRoute, RouteTable, RouteTemplateError, compile_route
from tests.fuzz.budget import examples
from tests.fuzz.timing import assert_linear, best_time

# --- strategies --------------------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "id", "Name", "x1", "rest", "A", "ext"])
# Constraints that exist, with good and bad arguments, and some that don't. Regexes are the
# app author's own (a catastrophic one is theirs to avoid, as in ASP.NET), so only regexes
# that run in linear time are drawn here.
CONSTRAINTS = st.sampled_from(
    [
        ":int",
        ":long",
        ":bool",
        ":guid",
        ":alpha",
        ":decimal",
        ":double",
        ":float",
        ":datetime",
        ":required",
        ":file",
        ":nonfile",
        ":minlength(2)",
        ":maxlength(3)",
        ":length(1,4)",
        ":length(2)",
        ":min(1)",
        ":max(10)",
        ":range(1,5)",
        ":range(5,1)",
        ":regex(^a+$)",
        ":regex(^(a|b):c$)",
        ":regex(\\d{{2}})",
        ":regex((?<y>[0-9]+)\\z)",
        ":regex([)",
        ":regex()",
        ":int(3)",
        ":min()",
        ":min(x)",
        ":length(-1)",
        ":unknown",
        ":INT",
        ":int(",
        ":",
        "",
    ]
)


@st.composite
def parameters(draw: st.DrawFn) -> str:
    star = draw(st.sampled_from(["", "", "", "*", "**"]))
    name = draw(NAMES)
    constraints = "".join(draw(st.lists(CONSTRAINTS, max_size=2)))
    suffix = draw(st.sampled_from(["", "", "?", "=dflt", "=1", "=", "=a:b"]))
    return "{" + star + name + constraints + suffix + "}"


FRAGMENTS = st.one_of(
    parameters(),
    st.sampled_from(
        ["a", "api", "x", ".", "-", "_", "v", "{", "}", "{{", "}}", "?", "*", "=", ":", "(", ")"]
    ),
    st.text(max_size=3),
)


@st.composite
def templates(draw: st.DrawFn) -> str:
    segments = draw(st.lists(st.lists(FRAGMENTS, min_size=1, max_size=4), max_size=5))
    text = "/".join("".join(segment) for segment in segments)
    if draw(st.booleans()):
        text = "/" + text
    if draw(st.booleans()):
        text += "/"
    return text


ANY_TEMPLATE = st.one_of(templates(), st.text(max_size=40))

PATH_PIECES = st.one_of(
    st.sampled_from(
        ["/", "/", "a", "api", "x", "1", "42", "-7", ".", "-", "true", "abc", "%", "é", " ", "\n"]
    ),
    st.sampled_from(["2024-01-02", "0x1", "1e5", "nan", "d3b07384-d9a7-4c6b-8a3e-0123456789ab"]),
    st.text(max_size=4),
)
PATHS = st.lists(PATH_PIECES, max_size=12).map("".join)


def compiled(template: str) -> CompiledRoute | None:
    try:
        return compile_route(template)
    except RouteTemplateError:
        return None


# --- parsing -----------------------------------------------------------------------------


@examples(400)
@given(ANY_TEMPLATE)
@example("{a}-{b}-{c}")
@example("{*rest:regex(^(a|b):c$)}")
@example("{a:regex(^(a|b):c=d)=x}")
@example("{a=}")
@example("{a:int=\x00}")
@example("{:int}")
@example("{a}{b}")
def test_any_template_compiles_or_raises_route_template_error(template: str) -> None:
    try:
        route = compile_route(template)
    except RouteTemplateError as exc:
        message = str(exc)
        assert message.startswith("invalid route template '"), message
        assert "\n" not in message and "\r" not in message, message
        return
    assert isinstance(route.precedence, tuple)
    assert not route.template.startswith("/")


# --- matching ----------------------------------------------------------------------------


def _check_values(route: CompiledRoute, values: dict[str, str] | None) -> None:
    if values is None:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in values.items())
    assert all(k for k in values), values


@examples(400)
@given(templates(), PATHS)
@example("{a}-{b}", "-" * 50 + "/x")
@example("{name}.{ext?}", "/readme.")
@example("v{n}", "/vv1")
@example("x/.{ext?}", "/x//")
def test_matching_any_path_never_raises(template: str, path: str) -> None:
    route = compiled(template)
    if route is None:
        return
    _check_values(route, route.match(path))
    _check_values(route, route.match("/" + path))


@examples(100)
@given(st.lists(templates(), max_size=6), st.sampled_from(["GET", "post", "HEAD", ""]), PATHS)
def test_route_table_match_never_raises(templates_: list[str], method: str, path: str) -> None:
    table: RouteTable[int] = RouteTable()
    for index, template in enumerate(templates_):
        try:
            table.add(template, ["GET", "POST"] if index % 2 else None, index)
        except RouteTemplateError:
            continue
    found = table.match(method, path)
    if found is not None:
        target, values = found
        assert 0 <= target < len(templates_)
        assert all(isinstance(v, str) for v in values.values())


# --- linear time -------------------------------------------------------------------------

# Route shapes where a backtracking matcher goes quadratic or worse: several parameters in
# one segment (each split point tried against each other), optional extensions, runs of
# optional segments, catch-alls after complex segments, constraints with repetition.
ADVERSARIAL_TEMPLATES = st.sampled_from(
    [
        "{a}-{b}",
        "{a}-{b}-{c}",
        "{a}.{b}.{c}.{ext}",
        "{a}-{b}.{ext?}",
        "{a}.{ext?}",
        "x{a}y{b}z",
        "v{a}",
        "api/{a}-{b}-{c}/{*rest}",
        "{a}/{b?}/{c?}/{d?}/{e?}",
        "{a=x}/{b=y}/{c=z}",
        "{a:int}-{b:alpha}-{c}",
        "{a:decimal}",
        "{a:double}",
        "{a:datetime}",
        "{a:guid}",
        "{a:length(1,9000)}-{b}",
        "{*rest:regex(^(a|b)+$)}",
        "{a:regex(^[a-]+$)}-{b}",
    ]
)
UNITS = st.sampled_from(["-", ".", "a-", "a.", "-a", "1", "1,", " ", "xy", "a", "-.", "/"])
ENDS = st.sampled_from(["", "/", "/x", "x", ".", "-", "/x/y", "!"])


# The request line's limit: no path a client can send is longer.
REQUEST_LINE_LIMIT = 8 * 1024


@examples(60)
@given(ADVERSARIAL_TEMPLATES, UNITS, ENDS, ENDS)
@example("{a}-{b}-{c}", "-", "", "/x")
@example("{a}-{b}", "-", "", "/x")
@example("{a}.{b}.{c}.{ext}", ".", "", "!")
def test_matching_takes_time_linear_in_the_path(
    template: str, unit: str, start: str, end: str
) -> None:
    route = compile_route(template)

    def path(length: int) -> str:
        return "/" + start + unit * (length // len(unit)) + end

    short, long = path(128), path(2048)
    assert_linear(
        lambda: route.match(short), lambda: route.match(long), 16, 0.002, (template, unit)
    )
    # And the longest path a request can carry costs well under a millisecond per route when
    # linear; 50 ms leaves room for a loaded machine but not for a quadratic matcher.
    longest = path(REQUEST_LINE_LIMIT - 32)
    t_longest = best_time(lambda: route.match(longest))
    assert t_longest < 0.05, (template, unit, start, end, t_longest)


@examples(40)
@given(UNITS, st.integers(min_value=1, max_value=6))
def test_parsing_templates_takes_time_linear_in_their_length(unit: str, kind: int) -> None:
    def template(length: int) -> str:
        body = unit * (length // len(unit))
        shapes = {
            1: body,
            2: "{a:regex(" + body + ")}",
            3: "{a:regex(" + body.replace(")", "") + "",
            4: "{a=" + body + "}",
            5: "x/" + "{{" * (length // 2),
            6: "{a:" + ":".join(["int"] * (length // 4)) + "}",
        }
        return shapes[kind]

    def parse(text: str) -> None:
        with contextlib.suppress(RouteTemplateError):
            compile_route(text)

    short, long = template(512), template(8192)
    assert_linear(lambda: parse(short), lambda: parse(long), 16, 0.005, (unit, kind))
