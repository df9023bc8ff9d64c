"""local.settings.json edited in place under arbitrary changes: any sequence of adds and deletes,
with any names and values, on files of several layouts (comments, trailing commas, one line,
tabs, CRLF, empty sections), leaves text that parses to exactly the expected settings, in the
expected order, without falling back to rewriting the file, and keeps every comment of a
setting that was not deleted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from funchost.jsonfile import strip_json_extensions
from funchost.settings_file import SettingsDocument
from tests.fuzz.budget import examples

LAYOUTS = [
    (
        "{\n"
        "  // for this machine only\n"
        '  "IsEncrypted": false,\n'
        '  "Values": {\n'
        '    "FUNCTIONS_WORKER_RUNTIME": "python", // the worker\n'
        '    "A": "1",\n'
        "  },\n"
        '  "Host": {"LocalHttpPort": 7072},\n'
        "}\n"
    ),
    '{ "IsEncrypted": false, "Values": { "FUNCTIONS_WORKER_RUNTIME": "python" } }',
    '{\r\n\t"Values": {\r\n\t\t"A": "1",\r\n\t\t"B": 2\r\n\t},\r\n\t"ConnectionStrings": {}\r\n}\r\n',
    "{}",
    '{\n  "Values": {},\n  "ConnectionStrings": {"Db": {"ConnectionString": "x"}}\n}\n',
    '{"Values": {\n  /* a block\n     comment */\n  "A": "1" /* after */\n}}',
]

NAMES = st.one_of(
    st.sampled_from(["A", "B", "Db", "FUNCTIONS_WORKER_RUNTIME"]), st.text(max_size=6)
)
VALUES = st.text(max_size=12)
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "delete"]),
        st.sampled_from(["Values", "ConnectionStrings"]),
        NAMES,
        VALUES,
    ),
    max_size=8,
)


@examples(300)
@given(layout=st.sampled_from(LAYOUTS), operations=OPERATIONS)
def test_edits_stay_in_place_and_lose_nothing(
    tmp_path_factory: Any, layout: str, operations: list[tuple[str, str, str, str]]
) -> None:
    path = Path(tmp_path_factory.mktemp("settings")) / "local.settings.json"
    path.write_bytes(layout.encode())
    document = SettingsDocument.read(path, "local.settings.json")
    expected: dict[str, Any] = json.loads(strip_json_extensions(layout))
    for action, section, name, value in operations:
        if action == "add":
            if not isinstance(expected.get(section), dict):
                expected[section] = {}
            expected[section][name] = value
            document.set((section, name), value)
        elif isinstance(expected.get(section), dict) and name in expected[section]:
            del expected[section][name]
            assert document.delete((section, name))
        else:
            assert not document.delete((section, name))
    assert not document.rewritten
    text = document.text()
    assert json.dumps(json.loads(strip_json_extensions(text))) == json.dumps(expected)
    if "// for this machine only" in layout:
        assert "// for this machine only" in text
    if "\r\n" in layout:
        assert "\n" not in text.replace("\r\n", "")


def test_a_change_that_cannot_be_made_in_place_rewrites_the_file_without_losing_values(
    tmp_path: Path, monkeypatch: Any
) -> None:
    path = tmp_path / "local.settings.json"
    path.write_text(LAYOUTS[0])
    document = SettingsDocument.read(path, "local.settings.json")
    # An edit the text cannot take (as for a layout the editor does not know).
    monkeypatch.setattr(SettingsDocument, "_set_edits", lambda *args: [(0, 1, "[")])
    document.set(("Values", "NEW"), "v")
    assert document.rewritten and document.had_comments
    document.write()
    assert json.loads(path.read_text()) == {
        "IsEncrypted": False,
        "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "A": "1", "NEW": "v"},
        "Host": {"LocalHttpPort": 7072},
    }
