"""XML in and out of the storage endpoint: escaping out, and a parser that refuses DTDs."""

from __future__ import annotations

import pytest

from funchost.endpoint.errors import StorageFailure
from funchost.endpoint.xml import child_text, document, element, metadata_element, parse


def test_values_and_attributes_are_escaped() -> None:
    built = document(element("A", [element("B", "x<&>]]>"), element("C", None, {"k": 'v"<'})]))
    assert built == (
        b'<?xml version="1.0" encoding="utf-8"?>'
        b"<A><B>x&lt;&amp;&gt;]]&gt;</B><C k='v\"&lt;' /></A>"
    )
    assert parse(built).find("B").text == "x<&>]]>"  # type: ignore[union-attr]


def test_metadata_is_one_element_per_name() -> None:
    assert metadata_element({"a": "1", "b": ""}) == "<Metadata><a>1</a><b></b></Metadata>"


def test_child_text_tells_an_empty_element_from_a_missing_one() -> None:
    root = parse(b"<QueueMessage><MessageText></MessageText></QueueMessage>")
    assert child_text(root, "MessageText") == ""
    assert child_text(root, "Other") is None


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><x>&b;</x>',
        b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
        b"<a><b></a>",
        b"",
        b"<a/><b/>",
        b"\xff\xfe<a/>",
    ],
)
def test_a_body_that_is_not_one_plain_xml_document_is_invalid_xml(body: bytes) -> None:
    with pytest.raises(StorageFailure) as caught:
        parse(body)
    assert (caught.value.status, caught.value.code) == (400, "InvalidXmlDocument")


def test_deep_nesting_is_parsed_without_recursion() -> None:
    depth = 100_000
    root = parse(b"<a>" * depth + b"</a>" * depth)
    assert root.tag == "a"
