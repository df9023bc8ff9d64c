"""Reading users' JSON files as the real host does: comments and trailing commas allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funchost.errors import ConfigError
from funchost.jsonfile import read_json_object, strip_json_extensions


def _parse(text: str) -> object:
    return json.loads(strip_json_extensions(text))


def test_line_and_block_comments_are_skipped() -> None:
    text = '// leading\n{ /* a */ "a": 1, // one\n "b": /* two\n lines */ [2] } /* end */'
    assert _parse(text) == {"a": 1, "b": [2]}


def test_comment_markers_inside_strings_stay_intact() -> None:
    text = '{"url": "http://x/*y*/", "c": "// not a comment", "d": "/* */"}'
    assert _parse(text) == {"url": "http://x/*y*/", "c": "// not a comment", "d": "/* */"}


def test_escaped_quotes_do_not_end_a_string() -> None:
    text = r'{"a": "say \"hi\" // still text", "b": "\\", /* c */ "e": "\\\" /* x */"}'
    assert _parse(text) == {"a": 'say "hi" // still text', "b": "\\", "e": '\\" /* x */'}


def test_trailing_commas_in_arrays_and_nested_objects_are_allowed() -> None:
    text = '{"a": [1, 2, ], "b": {"c": {"d": true,},}, "e": [[],{},"x",],}'
    assert _parse(text) == {"a": [1, 2], "b": {"c": {"d": True}}, "e": [[], {}, "x"]}


def test_trailing_comma_followed_by_comment_is_allowed() -> None:
    assert _parse('{"a": 1, // last\n /* more */ }') == {"a": 1}


def test_crlf_line_endings_with_comments() -> None:
    text = '{\r\n  // c\r\n  "a": 1, /* x\r\n y */\r\n  "b": [2,],\r\n}\r\n'
    assert _parse(text) == {"a": 1, "b": [2]}


@pytest.mark.parametrize(
    "text",
    ["[,]", "{,}", '{"a": 1,,}', "[1,,]", '{"a": ,}', '{"a": 1},', "[1] // c\n,"],
)
def test_commas_that_are_not_trailing_stay_errors(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        _parse(text)


def test_text_keeps_its_length_and_lines() -> None:
    text = '{"a": 1, /* x\ny */ "b": [2,], // z\n}'
    stripped = strip_json_extensions(text)
    assert len(stripped) == len(text)
    assert stripped.splitlines() == ['{"a": 1,     ', '     "b": [2 ]      ', "}"]


def test_unterminated_block_comment_is_an_error_at_its_start() -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        strip_json_extensions('{"a": 1\n  /* never closed\n}')
    assert (info.value.lineno, info.value.colno) == (2, 3)


def test_lone_slash_is_left_for_the_parser() -> None:
    with pytest.raises(json.JSONDecodeError):
        _parse('{"a": 1 / 2}')


def test_long_input_is_linear(tmp_path: Path) -> None:
    # Many unclosed-looking markers inside one string: one pass, no rescanning.
    text = '{"a": "' + "/*//" * 200_000 + '"}'
    assert _parse(text) == {"a": "/*//" * 200_000}


def test_errors_after_comments_name_the_right_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    path.write_text('{\r\n  // a comment\r\n  /* and\r\n  another */ "x": ,\r\n}', newline="")
    with pytest.raises(ConfigError) as info:
        read_json_object(path, label="host.json")
    assert str(info.value).startswith("host.json: invalid JSON at line 4, column 19:")


def test_unterminated_comment_is_one_error_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "function.json"
    path.write_text('{"bindings": []}\n/* oops')
    with pytest.raises(ConfigError, match=r"^function.json: invalid JSON at line 2, column 1: "):
        read_json_object(path, label="function.json")


def test_read_json_object_accepts_comments_and_trailing_commas(tmp_path: Path) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text('{\n  "Values": {\n    "A": "1", // the A\n  },\n}\n')
    assert read_json_object(path) == {"Values": {"A": "1"}}
