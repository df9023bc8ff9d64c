"""XML in and out of the storage endpoint.

Out: `element` builds Azure's response documents as text, escaping every value. In: `parse`
reads a request body (a block list, a queue message, service properties) with the standard
library's expat parser, refusing document type declarations outright, so neither entity
expansion nor external entities can cost memory or reach the file system; a body that is not
well-formed XML is Azure's `InvalidXmlDocument` (400).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from funchost.endpoint.errors import StorageFailure

DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

Content = str | Iterable[str] | None


def element(tag: str, content: Content = None, attributes: Mapping[str, str] | None = None) -> str:
    """`<tag attr="...">content</tag>`: a string content is text (escaped), an iterable holds
    elements already built; None makes an empty element."""
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in (attributes or {}).items())
    if content is None:
        return f"<{tag}{attrs} />"
    inner = escape(content) if isinstance(content, str) else "".join(content)
    return f"<{tag}{attrs}>{inner}</{tag}>"


def document(root: str) -> bytes:
    return (DECLARATION + root).encode("utf-8")


def metadata_element(metadata: Mapping[str, str]) -> str:
    return element("Metadata", [element(k, v) for k, v in metadata.items()])


def invalid_xml(reason: str, line: int = 0, position: int = 0) -> StorageFailure:
    return StorageFailure(
        400,
        "InvalidXmlDocument",
        "XML specified is not syntactically valid.",
        {"LineNumber": str(line), "LinePosition": str(position), "Reason": reason},
    )


def parse(body: bytes) -> ElementTree.Element:
    """The root element of a request body; `InvalidXmlDocument` if it is not one XML document
    without a document type declaration."""
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate()
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = lambda tag: builder.end(tag)
    parser.CharacterDataHandler = builder.data

    def refuse_doctype(*args: object) -> None:
        raise invalid_xml("Document type declarations are not allowed.")

    parser.StartDoctypeDeclHandler = refuse_doctype
    try:
        parser.Parse(body, True)
        return builder.close()
    except expat.ExpatError as exc:
        raise invalid_xml(expat.ErrorString(exc.code), exc.lineno, exc.offset) from None


def child_text(parent: ElementTree.Element, tag: str) -> str | None:
    """The text of `parent`'s first child `tag` ("" when empty), None if it has none."""
    found = parent.find(tag)
    if found is None:
        return None
    return found.text or ""
