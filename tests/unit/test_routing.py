"""Route templates and the route table behave as the Azure Functions host's ASP.NET routing."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from funchost.http.routing import CompiledRoute, RouteTable, RouteTemplateError, compile_route


def values(template: str, path: str) -> dict[str, str] | None:
    return compile_route(template).match(path)


def accepts(constraint: str, value: str) -> bool:
    return values(f"x/{{v:{constraint}}}", f"/x/{value}") is not None


# --- literals, parameters and paths ------------------------------------------------------


def test_literal_route_matches_its_path_and_returns_no_values() -> None:
    assert values("api/items", "/api/items") == {}
    assert values("api/items", "/api/other") is None


def test_literals_match_case_insensitively() -> None:
    assert values("api/Items", "/API/iTEMS") == {}
    assert values("api/{id}/Reviews", "/API/7/REVIEWS") == {"id": "7"}


def test_parameter_values_keep_the_case_of_the_path() -> None:
    assert values("api/items/{id}", "/api/items/AbC") == {"id": "AbC"}


def test_parameter_names_keep_the_case_of_the_template() -> None:
    assert values("api/{ItemId}", "/api/1") == {"ItemId": "1"}


def test_parameter_matches_exactly_one_non_empty_segment() -> None:
    assert values("api/{id}", "/api/a/b") is None
    assert values("api/{id}/x", "/api//x") is None
    assert values("api/{id}", "/api") is None


def test_leading_and_trailing_slashes_are_ignored() -> None:
    assert values("/api/{id}", "/api/1/") == {"id": "1"}
    assert values("api/items/", "api/items") == {}
    assert compile_route("/api/items").template == "api/items"


def test_empty_template_matches_only_the_root() -> None:
    assert values("", "/") == {}
    assert values("", "/a") is None


def test_escaped_braces_are_literal() -> None:
    assert values("a{{b}}/{id}", "/a{b}/1") == {"id": "1"}


def test_path_with_newline_is_matched_as_a_value() -> None:
    assert values("x/{v}", "/x/a\nb") == {"v": "a\nb"}


# --- optional, default and catch-all -----------------------------------------------------


def test_optional_parameter_is_omitted_when_absent() -> None:
    assert values("api/items/{id?}", "/api/items") == {}
    assert values("api/items/{id?}", "/api/items/3") == {"id": "3"}


def test_consecutive_optional_segments_fill_from_the_left() -> None:
    assert values("a/{b?}/{c?}", "/a") == {}
    assert values("a/{b?}/{c?}", "/a/1") == {"b": "1"}
    assert values("a/{b?}/{c?}", "/a/1/2") == {"b": "1", "c": "2"}


def test_default_value_is_used_when_absent() -> None:
    assert values("api/{page=1}", "/api") == {"page": "1"}
    assert values("api/{page=1}", "/api/4") == {"page": "4"}


def test_defaults_may_cover_the_whole_path() -> None:
    assert values("{controller=Home}/{action=Index}", "/") == {
        "controller": "Home",
        "action": "Index",
    }


def test_default_may_contain_colon_and_constraint_comes_before_it() -> None:
    assert values("x/{v=a:b}", "/x") == {"v": "a:b"}
    assert values("x/{v:int=5}", "/x") == {"v": "5"}


def test_default_that_fails_its_constraint_never_matches_when_absent() -> None:
    assert values("x/{v:int=abc}", "/x") is None
    assert values("x/{v:int=abc}", "/x/7") == {"v": "7"}


def test_segment_with_default_before_a_literal_is_required() -> None:
    assert values("{a=1}/b", "/b") is None
    assert values("{a=1}/b", "/z/b") == {"a": "z"}


def test_catch_all_matches_the_rest_including_slashes() -> None:
    assert values("api/{*rest}", "/api/a/b/c") == {"rest": "a/b/c"}
    assert values("api/{**rest}", "/api/a/b") == {"rest": "a/b"}


def test_empty_catch_all_is_omitted() -> None:
    assert values("api/{*rest}", "/api") == {}
    assert values("api/{*rest}", "/api/") == {}


def test_catch_all_does_not_match_a_longer_literal() -> None:
    assert values("api/{*rest}", "/apix/1") is None


def test_catch_all_default_is_used_when_empty() -> None:
    assert values("files/{*path=index.html}", "/files") == {"path": "index.html"}


def test_empty_prefix_catch_all_matches_root() -> None:
    assert values("{*route}", "/") == {}


def test_empty_prefix_catch_all_matches_nested_path() -> None:
    assert values("{*route}", "/a/b/c") == {"route": "a/b/c"}


# --- complex segments --------------------------------------------------------------------


def test_complex_segment_splits_at_the_last_occurrence_of_the_literal() -> None:
    assert values("{name}.{ext}", "/archive.tar.gz") == {"name": "archive.tar", "ext": "gz"}


def test_complex_segment_with_constrained_parameter() -> None:
    assert values("files/{name}-{id:int}", "/files/my-file-12") == {"name": "my-file", "id": "12"}
    assert values("files/{name}-{id:int}", "/files/my-file-x") is None


def test_complex_segment_constraint_does_not_move_the_split() -> None:
    # The last "-" splits first; "1-2" then fails int rather than re-splitting at "1".
    assert values("{id:int}-{name}", "/1-2-x") is None
    assert values("{id:int}-{name}", "/12-x") == {"id": "12", "name": "x"}


def test_complex_segment_literals_match_case_insensitively() -> None:
    assert values("{name}.JSON", "/data.json") == {"name": "data"}


def test_complex_segment_requires_non_empty_parameters() -> None:
    assert values("{name}.{ext}", "/.gz") is None
    assert values("{name}.{ext}", "/a.") is None


def test_complex_segment_with_leading_and_trailing_literals() -> None:
    assert values("v{major}.x", "/v2.x") == {"major": "2"}
    assert values("v{major}.x", "/v2.y") is None
    assert values("v{major}.x", "/w2.x") is None


def test_complex_segment_leading_literal_repeated_in_value_does_not_match() -> None:
    # ASP.NET finds the leading literal by its last occurrence, so "v{n}" rejects "vv1".
    assert values("v{n}", "/vv1") is None
    assert values("v{n}", "/v1v") == {"n": "1v"}


def test_optional_extension_is_filled_when_present() -> None:
    assert values("{name}.{ext?}", "/a.b.c") == {"name": "a.b", "ext": "c"}


def test_optional_extension_is_omitted_when_absent() -> None:
    assert values("{name}.{ext?}", "/readme") == {"name": "readme"}


def test_optional_extension_rejects_a_trailing_dot() -> None:
    assert values("{name}.{ext?}", "/readme.") is None


def test_segment_of_only_dot_and_optional_extension_requires_the_extension() -> None:
    assert values("x/.{ext?}", "/x/.json") == {"ext": "json"}
    assert values("x/.{ext?}", "/x//") is None
    assert values("x/.{ext?}", "/x") is None


def test_complex_segment_cannot_be_left_out() -> None:
    assert values("a/{name}.{ext?}", "/a") is None


# --- constraints -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "42", "-7", "+7", "2147483647", "-2147483648", "007"])
def test_int_accepts_32_bit_integers(value: str) -> None:
    assert accepts("int", value)


@pytest.mark.parametrize("value", ["2147483648", "-2147483649", "1.5", "abc", "1e3", "1_0", "٣"])
def test_int_rejects_non_integers_and_out_of_range(value: str) -> None:
    assert not accepts("int", value)


def test_int_allows_surrounding_whitespace_as_dotnet_does() -> None:
    assert accepts("int", " 5 ")


def test_int_rejects_huge_digit_strings_without_error() -> None:
    assert not accepts("int", "9" * 5000)


@pytest.mark.parametrize("value", ["9223372036854775807", "-9223372036854775808", "2147483648"])
def test_long_accepts_64_bit_integers(value: str) -> None:
    assert accepts("long", value)


@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809", "1.0", "x"])
def test_long_rejects_non_integers_and_out_of_range(value: str) -> None:
    assert not accepts("long", value)


@pytest.mark.parametrize("value", ["true", "false", "TRUE", "False"])
def test_bool_accepts_true_and_false_in_any_case(value: str) -> None:
    assert accepts("bool", value)


@pytest.mark.parametrize("value", ["yes", "1", "0", "truee", "t"])
def test_bool_rejects_other_words(value: str) -> None:
    assert not accepts("bool", value)


@pytest.mark.parametrize(
    "value",
    [
        "2020-01-02",
        "2020-01-02T10:20:30",
        "2020-01-02T10:20:30Z",
        "2020-01-02T10:20:30.123+02:00",
        "2020-01-02 10:20",
        "01-02-2020",
        "2 Jan 2020",
        "10:30",
    ],
)
def test_datetime_accepts_common_date_formats(value: str) -> None:
    assert accepts("datetime", value)


@pytest.mark.parametrize("value", ["2020-02-30", "2020-13-01", "yesterday", "12345x", "25:00"])
def test_datetime_rejects_invalid_dates(value: str) -> None:
    assert not accepts("datetime", value)


def test_datetime_accepts_slashed_dates_in_a_catch_all() -> None:
    assert values("x/{*d:datetime}", "/x/01/02/2020") == {"d": "01/02/2020"}


@pytest.mark.parametrize("value", ["1", "-1.5", "1.", ".5", "1,000.25", "5-", "+3"])
def test_decimal_accepts_dotnet_number_syntax(value: str) -> None:
    assert accepts("decimal", value)


@pytest.mark.parametrize("value", ["1e5", "abc", "1.2.3", "--1", "+1-", "NaN", "1" * 30])
def test_decimal_rejects_exponents_garbage_and_overflow(value: str) -> None:
    assert not accepts("decimal", value)


@pytest.mark.parametrize("constraint", ["double", "float"])
@pytest.mark.parametrize("value", ["1", "-1.5", "1e10", "1.5E-3", "1,000.5", "Infinity", "NaN"])
def test_double_and_float_accept_dotnet_number_syntax(constraint: str, value: str) -> None:
    assert accepts(constraint, value)


@pytest.mark.parametrize("constraint", ["double", "float"])
@pytest.mark.parametrize("value", ["abc", "1e", "1.2.3", "inf", "0x10", "1_0"])
def test_double_and_float_reject_non_numbers(constraint: str, value: str) -> None:
    assert not accepts(constraint, value)


def test_float_overflow_is_accepted_as_infinity_like_dotnet() -> None:
    assert accepts("float", "1e400")


@pytest.mark.parametrize(
    "value",
    [
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "0F8FAD5BD9CB469FA16570867728950E",
        "{0f8fad5b-d9cb-469f-a165-70867728950e}",
        "(0f8fad5b-d9cb-469f-a165-70867728950e)",
        "{0x0f8fad5b,0xd9cb,0x469f,{0xa1,0x65,0x70,0x86,0x77,0x28,0x95,0x0e}}",
    ],
)
def test_guid_accepts_every_dotnet_format(value: str) -> None:
    assert accepts("guid", value)


@pytest.mark.parametrize(
    "value",
    [
        "0f8fad5b-d9cb-469f-a165-70867728950",
        "0f8fad5bd9cb469fa16570867728950",
        "0f8fad5b-d9cb-469f-a165-70867728950g",
        "{0f8fad5b-d9cb-469f-a165-70867728950e",
        "0f8fad5b-d9cb469f-a165-70867728950e",
    ],
)
def test_guid_rejects_malformed_values(value: str) -> None:
    assert not accepts("guid", value)


@pytest.mark.parametrize("value", ["abc", "ABC", "Zz"])
def test_alpha_accepts_ascii_letters(value: str) -> None:
    assert accepts("alpha", value)


@pytest.mark.parametrize("value", ["ab1", "é", "a-b", "\u212a"])
def test_alpha_rejects_anything_but_ascii_letters(value: str) -> None:
    assert not accepts("alpha", value)


def test_minlength_checks_the_minimum_length() -> None:
    assert accepts("minlength(3)", "abc")
    assert not accepts("minlength(3)", "ab")


def test_maxlength_checks_the_maximum_length() -> None:
    assert accepts("maxlength(3)", "abc")
    assert not accepts("maxlength(3)", "abcd")


def test_length_with_one_argument_requires_that_exact_length() -> None:
    assert accepts("length(3)", "abc")
    assert not accepts("length(3)", "ab")
    assert not accepts("length(3)", "abcd")


def test_length_with_two_arguments_is_an_inclusive_range() -> None:
    assert accepts("length(2, 3)", "ab")
    assert accepts("length(2,3)", "abc")
    assert not accepts("length(2,3)", "a")
    assert not accepts("length(2,3)", "abcd")


def test_lengths_count_utf16_code_units_like_dotnet() -> None:
    assert accepts("maxlength(2)", "😀")
    assert not accepts("maxlength(1)", "😀")


def test_min_checks_an_integer_lower_bound() -> None:
    assert accepts("min(5)", "5")
    assert not accepts("min(5)", "4")
    assert not accepts("min(5)", "abc")


def test_max_checks_an_integer_upper_bound() -> None:
    assert accepts("max(5)", "5")
    assert accepts("max(5)", "-100")
    assert not accepts("max(5)", "6")
    assert not accepts("max(5)", "5.0")


def test_range_is_inclusive_on_both_ends() -> None:
    assert accepts("range(1,3)", "1")
    assert accepts("range(1, 3)", "3")
    assert not accepts("range(1,3)", "0")
    assert not accepts("range(1,3)", "4")


def test_regex_is_case_insensitive() -> None:
    assert accepts("regex(^[a-z]+$)", "ABC")


def test_regex_with_anchors_requires_a_full_match() -> None:
    assert not accepts("regex(^[a-z]+$)", "abc1")


def test_regex_without_anchors_matches_a_substring_like_dotnet() -> None:
    assert accepts(r"regex(\d+)", "abc123")
    assert not accepts(r"regex(\d+)", "abc")


def test_regex_may_contain_colons_parentheses_and_escaped_braces() -> None:
    assert accepts(r"regex(^(a|b)-[a-z]:\d{{2}}$)", "a-x:12")
    assert not accepts(r"regex(^(a|b)-[a-z]:\d{{2}}$)", "a-x:123")


def test_regex_closing_paren_followed_by_colon_ends_the_constraint_like_aspnet() -> None:
    with pytest.raises(RouteTemplateError, match="constraint 'regex\\(\\^\\(a\\|b\\)'"):
        compile_route(r"x/{v:regex(^(a|b):\d+$)}")


def test_regex_accepts_dotnet_named_groups() -> None:
    assert accepts(r"regex(^(?<year>\d{{4}})$)", "2024")


def test_required_accepts_any_present_value() -> None:
    assert accepts("required", "x")
    assert values("x/{*v:required}", "/x") is None


def test_file_accepts_names_with_an_extension() -> None:
    assert values("x/{*p:file}", "/x/dir/a.txt") == {"p": "dir/a.txt"}
    assert values("x/{*p:file}", "/x/dir.d/readme") is None
    assert values("x/{*p:file}", "/x/a..") is None


def test_nonfile_accepts_names_without_an_extension_and_an_empty_catch_all() -> None:
    assert values("x/{*p:nonfile}", "/x/dir/readme") == {"p": "dir/readme"}
    assert values("x/{*p:nonfile}", "/x/a.txt") is None
    assert values("x/{*p:nonfile}", "/x") == {}


def test_empty_catch_all_fails_a_constraint() -> None:
    assert values("x/{*p:int}", "/x") is None
    assert values("x/{*p:int}", "/x/5") == {"p": "5"}


def test_absent_optional_skips_its_constraints() -> None:
    assert values("x/{id:int?}", "/x") == {}
    assert values("x/{id:int?}", "/x/a") is None


def test_chained_constraints_must_all_pass() -> None:
    assert accepts("int:min(1)", "1")
    assert not accepts("int:min(1)", "0")
    assert not accepts("int:min(1)", "99999999999")
    assert not accepts("alpha:maxlength(2)", "abc")


def test_constraint_names_are_case_insensitive() -> None:
    assert accepts("INT", "5")
    assert not accepts("Int", "x")


def test_empty_constraint_names_are_ignored() -> None:
    assert accepts("", "x")
    assert accepts(":int", "5")


def test_constraints_apply_inside_complex_segments() -> None:
    assert values("{name:alpha}.{ext:length(3)}", "/abc.txt") == {"name": "abc", "ext": "txt"}
    assert values("{name:alpha}.{ext:length(3)}", "/abc.json") is None


# --- template errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("items/{id", "invalid route template 'items/{id': unclosed '{'"),
        ("items/{id}}", "invalid route template 'items/{id}}': unclosed '{'"),
        ("items/id}", "invalid route template 'items/id}': unmatched '}'"),
        (
            "items/{a{b}",
            "invalid route template 'items/{a{b}': '{' inside a parameter must be escaped as '{{'",
        ),
        ("items/{}", "invalid route template 'items/{}': empty parameter name"),
        ("items/{?}", "invalid route template 'items/{?}': empty parameter name"),
        ("items/{*}", "invalid route template 'items/{*}': empty parameter name"),
        ("items/{:int}", "invalid route template 'items/{:int}': empty parameter name"),
        ("items/{a/b}", "invalid route template 'items/{a/b}': invalid parameter name 'a/b'"),
        ("items/{a*b}", "invalid route template 'items/{a*b}': invalid parameter name 'a*b'"),
        (
            "{id}/x/{ID}",
            "invalid route template '{id}/x/{ID}': duplicate parameter name 'ID'",
        ),
        (
            "{*rest}/x",
            "invalid route template '{*rest}/x': catch-all parameter 'rest' must be in the "
            "last segment",
        ),
        (
            "x/a{*rest}",
            "invalid route template 'x/a{*rest}': catch-all parameter 'rest' must be a whole "
            "segment, not part of 'a{*rest}'",
        ),
        (
            "x/{*rest?}",
            "invalid route template 'x/{*rest?}': catch-all parameter 'rest' cannot be optional",
        ),
        (
            "x/{id=1?}",
            "invalid route template 'x/{id=1?}': optional parameter 'id' cannot have a default "
            "value",
        ),
        (
            "x/{a}{b}",
            "invalid route template 'x/{a}{b}': parameters 'a' and 'b' in segment '{a}{b}' must "
            "be separated by a literal",
        ),
        (
            "x/{id?}/y",
            "invalid route template 'x/{id?}/y': optional parameter 'id' is followed by "
            "required segment 'y'",
        ),
        (
            "x/{a?}.{b}",
            "invalid route template 'x/{a?}.{b}': optional parameter 'a' must be at the end of "
            "segment '{a?}.{b}'",
        ),
        (
            "x/{a}-{b?}",
            "invalid route template 'x/{a}-{b?}': optional parameter 'b' in segment '{a}-{b?}' "
            "must be preceded by '.'",
        ),
        (
            "x//y",
            "invalid route template 'x//y': empty segment ('/' next to another '/' or at the "
            "start)",
        ),
        ("x/a?b", "invalid route template 'x/a?b': literal 'a?b' cannot contain '?'"),
        (
            "x/{id:foo}",
            "invalid route template 'x/{id:foo}': unknown constraint 'foo' on parameter 'id'",
        ),
        (
            "x/{id:min(1}",
            "invalid route template 'x/{id:min(1}': constraint 'min(1' on parameter 'id' is "
            "missing ')'",
        ),
        (
            "x/{id:int(3)}",
            "invalid route template 'x/{id:int(3)}': constraint 'int(3)' on parameter 'id' "
            "takes no arguments",
        ),
        (
            "x/{id:min(a)}",
            "invalid route template 'x/{id:min(a)}': constraint 'min(a)' on parameter 'id' "
            "needs 1 integer argument",
        ),
        (
            "x/{id:min}",
            "invalid route template 'x/{id:min}': constraint 'min' on parameter 'id' needs 1 "
            "integer argument",
        ),
        (
            "x/{id:range(1)}",
            "invalid route template 'x/{id:range(1)}': constraint 'range(1)' on parameter 'id' "
            "needs 2 integer arguments",
        ),
        (
            "x/{id:range(5,1)}",
            "invalid route template 'x/{id:range(5,1)}': constraint 'range(5,1)' on parameter "
            "'id' has its minimum above its maximum",
        ),
        (
            "x/{id:length(5,1)}",
            "invalid route template 'x/{id:length(5,1)}': constraint 'length(5,1)' on parameter "
            "'id' has its minimum above its maximum",
        ),
        (
            "x/{id:minlength(-1)}",
            "invalid route template 'x/{id:minlength(-1)}': constraint 'minlength(-1)' on "
            "parameter 'id' needs lengths that are not negative",
        ),
        (
            "x/{id:maxlength(99999999999)}",
            "invalid route template 'x/{id:maxlength(99999999999)}': constraint "
            "'maxlength(99999999999)' on parameter 'id' has an argument out of range",
        ),
        (
            "x/{id:regex}",
            "invalid route template 'x/{id:regex}': constraint 'regex' on parameter 'id' needs "
            "a regular expression",
        ),
        (
            "x/{id:regex(()}",
            "invalid route template 'x/{id:regex(()}': constraint 'regex(()' on parameter 'id' "
            "has an invalid regular expression: missing ), unterminated subpattern at position 0",
        ),
    ],
)
def test_invalid_template_error_names_template_and_problem(template: str, message: str) -> None:
    with pytest.raises(RouteTemplateError) as caught:
        compile_route(template)
    assert str(caught.value) == message


def test_template_error_is_a_value_error_carrying_template_and_problem() -> None:
    with pytest.raises(ValueError) as caught:
        compile_route("items/{id")
    assert isinstance(caught.value, RouteTemplateError)
    assert caught.value.template == "items/{id"
    assert caught.value.problem == "unclosed '{'"


def test_template_error_message_stays_on_one_line() -> None:
    with pytest.raises(RouteTemplateError) as caught:
        compile_route("a\n/{b")
    assert "\n" not in str(caught.value)


def test_route_table_add_raises_template_errors() -> None:
    table: RouteTable[str] = RouteTable()
    with pytest.raises(RouteTemplateError, match="unclosed"):
        table.add("api/{id", None, "f")


# --- route table -------------------------------------------------------------------------


def test_table_returns_target_and_values() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/items/{id:int}", ["GET"], "get_item")
    assert table.match("GET", "/api/items/5") == ("get_item", {"id": "5"})


def test_table_returns_none_when_nothing_matches() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/items", None, "items")
    assert table.match("GET", "/api/other") is None
    assert RouteTable[str]().match("GET", "/") is None


def test_literal_beats_parameter_regardless_of_order_added() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/items/{id}", None, "by_id")
    table.add("api/items/new", None, "new")
    assert table.match("GET", "/api/items/new") == ("new", {})
    assert table.match("GET", "/api/items/7") == ("by_id", {"id": "7"})


def test_literal_segment_beats_parameter_in_a_later_position() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/{a}/{b}", None, "params")
    table.add("api/{a}/edit", None, "edit")
    assert table.match("GET", "/api/1/edit") == ("edit", {"a": "1"})


def test_constrained_parameter_beats_unconstrained() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/items/{name}", None, "by_name")
    table.add("api/items/{id:int}", None, "by_id")
    assert table.match("GET", "/api/items/5") == ("by_id", {"id": "5"})
    assert table.match("GET", "/api/items/five") == ("by_name", {"name": "five"})


def test_complex_segment_beats_plain_parameter() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("files/{name}", None, "plain")
    table.add("files/{name}.{ext}", None, "complex")
    assert table.match("GET", "/files/a.txt") == ("complex", {"name": "a", "ext": "txt"})
    assert table.match("GET", "/files/a") == ("plain", {"name": "a"})


def test_catch_all_comes_last() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("{*route}", None, "fallback")
    table.add("api/{*rest}", None, "api_rest")
    table.add("api/{id}", None, "api_id")
    assert table.match("GET", "/api/1") == ("api_id", {"id": "1"})
    assert table.match("GET", "/api/1/2") == ("api_rest", {"rest": "1/2"})
    assert table.match("GET", "/other") == ("fallback", {"route": "other"})
    assert table.match("GET", "/") == ("fallback", {})


def test_constrained_catch_all_beats_unconstrained_catch_all() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("x/{*any}", None, "any")
    table.add("x/{*n:int}", None, "number")
    assert table.match("GET", "/x/5") == ("number", {"n": "5"})
    assert table.match("GET", "/x/a") == ("any", {"any": "a"})


def test_equally_specific_routes_match_in_order_added() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/{a}", None, "first")
    table.add("api/{b}", None, "second")
    table.add("same", None, "static_first")
    table.add("SAME", None, "static_second")
    assert table.match("GET", "/api/1") == ("first", {"a": "1"})
    assert table.match("GET", "/same") == ("static_first", {})


def test_failed_constraint_falls_through_to_the_next_route() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/{id:int}", None, "number")
    table.add("api/{slug}", None, "slug")
    assert table.match("GET", "/api/abc") == ("slug", {"slug": "abc"})


def test_method_mismatch_skips_the_route() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/items", ["POST"], "create")
    table.add("api/items/{id}", ["DELETE"], "delete")
    assert table.match("GET", "/api/items") is None
    assert table.match("GET", "/api/items/1") is None
    assert table.match("POST", "/api/items") == ("create", {})


def test_method_mismatch_keeps_looking_at_less_specific_routes() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/items/new", ["POST"], "create")
    table.add("api/items/{id}", ["GET"], "read")
    table.add("api/{*rest}", None, "fallback")
    assert table.match("GET", "/api/items/new") == ("read", {"id": "new"})
    assert table.match("PUT", "/api/items/new") == ("fallback", {"rest": "items/new"})


def test_same_path_can_route_methods_to_different_targets() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/items", ["GET"], "list")
    table.add("api/items", ["POST"], "create")
    assert table.match("GET", "/api/items") == ("list", {})
    assert table.match("POST", "/api/items") == ("create", {})


def test_methods_are_compared_case_insensitively() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("a", ["get", "Post"], "f")
    table.add("b/{x}", ("put",), "g")
    assert table.match("GET", "/a") == ("f", {})
    assert table.match("post", "/a") == ("f", {})
    assert table.match("PUT", "/b/1") == ("g", {"x": "1"})


@pytest.mark.parametrize("methods", [None, [], iter(())])
def test_no_methods_means_every_method(methods: Iterable[str] | None) -> None:
    table: RouteTable[str] = RouteTable()
    table.add("a", methods, "f")
    assert table.match("PATCH", "/a") == ("f", {})
    assert table.match("WHATEVER", "/a") == ("f", {})


def test_a_single_method_string_is_not_split_into_letters() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("a", "get", "f")
    assert table.match("GET", "/a") == ("f", {})
    assert table.match("G", "/a") is None


def test_table_ignores_trailing_slash_and_literal_case() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("api/Items", None, "items")
    assert table.match("GET", "/API/items/") == ("items", {})


def test_table_returns_a_fresh_values_dict_per_match() -> None:
    table: RouteTable[str] = RouteTable()
    table.add("a", None, "f")
    first = table.match("GET", "/a")
    assert first is not None
    first[1]["x"] = "mutated"
    assert table.match("GET", "/a") == ("f", {})


def test_compile_route_returns_a_reusable_compiled_route() -> None:
    route = compile_route("api/{id}")
    assert isinstance(route, CompiledRoute)
    assert route.template == "api/{id}"
    assert route.match("/api/1") == {"id": "1"}
    assert route.match("/api/2") == {"id": "2"}
