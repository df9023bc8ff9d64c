"""host.json log levels by category, and print() output through the console handler."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from funchost.invocation.logs import ConsoleHandler, ConsoleOutput, LogLevels, parse_level


def levels(rules: dict[str, object], **options: bool) -> LogLevels:
    chosen = LogLevels()
    chosen.configure(rules, **options)
    return chosen


def test_the_longest_matching_prefix_wins_in_any_case() -> None:
    chosen = levels({"Function": "Warning", "function.a": "Debug", "FUNCTION.A.User": "None"})
    assert chosen.threshold("Function.A.User") == logging.CRITICAL + 1
    assert chosen.threshold("Function.A") == logging.DEBUG
    assert chosen.threshold("Function.AB") == logging.DEBUG  # a prefix, not a dotted segment
    assert chosen.threshold("Function.B.User") == logging.WARNING
    assert not chosen.function_lines("B") and chosen.function_lines("A")


def test_default_applies_where_no_category_matches() -> None:
    chosen = levels({"default": "Error", "Host.Startup": "Information"})
    assert chosen.threshold("Host.Startup") == logging.INFO
    assert chosen.threshold("Host.General") == logging.ERROR
    assert chosen.threshold("root") == logging.ERROR


def test_defaults_without_rules_follow_core_tools_under_start_and_the_host_under_serve() -> None:
    start, verbose, serve = (
        levels({}, development=True),
        levels({}, development=True, verbose=True),
        levels({}),
    )
    assert start.threshold("Host.General") == logging.WARNING
    assert start.threshold("Function.A.User") == logging.INFO
    assert start.threshold("Host.Function.Console") == logging.INFO
    assert verbose.threshold("Host.General") == logging.INFO
    assert verbose.threshold("Function.A.User") == logging.DEBUG
    assert serve.threshold("Host.General") == logging.INFO


def test_levels_are_names_in_any_case_or_numbers() -> None:
    assert parse_level("warning", "x") == parse_level("3", "x") == logging.WARNING
    assert parse_level("Trace", "x") == parse_level(0, "x") == logging.DEBUG
    with pytest.raises(ValueError, match="Configuration value 'Verbose' for category 'F'"):
        parse_level("Verbose", "F")


def test_print_output_is_passed_on_a_line_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "out.log"
    with open(path, "w") as stream:
        handler = ConsoleHandler(stream)
        out = ConsoleOutput(handler, stream)
        print("a", end="", file=out)
        assert path.read_text() == ""
        print("b", file=out)
        out.write("c\nd")
        assert path.read_text() == "ab\nc\n"
        out.flush()
        assert path.read_text() == "ab\nc\nd"


def test_print_output_keeps_the_stream_interface(tmp_path: Path) -> None:
    with open(tmp_path / "out.log", "w") as stream:
        out = ConsoleOutput(ConsoleHandler(stream), stream)
        out.reconfigure(errors="replace")
        assert out.errors == "replace" and out.name == stream.name
        assert out.fileno() == stream.fileno() and not out.isatty()
        with pytest.raises(TypeError):
            out.write(b"bytes")  # type: ignore[arg-type]
