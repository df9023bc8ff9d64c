"""Azure Storage's naming rules for queues, containers and blobs, checked before any call.

Queue and container names: 3 to 63 characters, lowercase letters, digits and dashes, starting
and ending with a letter or digit, no two dashes in a row. Blob names: 1 to 1,024 characters;
funchost also refuses names that would leave their container (an absolute path or a `..`
segment), since bindings build them from user data.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}")


class InvalidName(ValueError):
    pass


def _check(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidName(
            f"Invalid {kind} name: {name!r}. A {kind} name must be 3 to 63 characters of "
            "lowercase letters, digits and single dashes, starting and ending with a letter or "
            "digit."
        )
    return name


_QUEUE_CHARACTERS = re.compile(r"[A-Za-z0-9-]*")


def queue_name(name: str) -> str:
    """`name` if it is a valid queue name; else `InvalidName` with the WebJobs queue
    extension's message, its checks in its order (bindings lower-case the name first)."""
    if not name:
        raise InvalidName("A queue name can't be null or empty")
    if not 3 <= len(name) <= 63:
        raise InvalidName(f'A queue name must be from 3 to 63 characters long - "{name}"')
    if name[0] == "-" or name[-1] == "-":
        raise InvalidName(f'The dash (-) character may not be the first or last letter - "{name}"')
    if name != name.lower():
        raise InvalidName(f'Queue names must be all lower case - "{name}"')
    if not _QUEUE_CHARACTERS.fullmatch(name) or not name.isascii():
        raise InvalidName(
            f'A queue name can contain only letters, numbers, and dash(-) characters - "{name}"'
        )
    if "--" in name:
        raise InvalidName("A queue name cannot contain consecutive dash(-) characters.")
    return name


def container_name(name: str) -> str:
    return _check("container", name)


def blob_name(name: str) -> str:
    if not 1 <= len(name) <= 1024:
        raise InvalidName(
            f"Invalid blob name: {name[:80]!r}. A blob name has 1 to 1024 characters."
        )
    segments = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in segments:
        raise InvalidName(
            f"Invalid blob name: {name!r}. A blob path must stay inside its container "
            "(no leading '/' and no '..' segment)."
        )
    if any(ord(c) < 32 for c in name):
        raise InvalidName(f"Invalid blob name: {name!r}. Control characters are not allowed.")
    return name


def blob_path(path: str) -> tuple[str, str]:
    """`container/name/with/slashes` split and checked."""
    container, sep, name = path.partition("/")
    if not sep or not name:
        raise InvalidName(f"Invalid blob path: {path!r}. Expected 'container/blob-name'.")
    return container_name(container), blob_name(name)
