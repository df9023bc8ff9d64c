from __future__ import annotations

import pytest

from funchost.storage.names import InvalidName, blob_name, blob_path, container_name, queue_name


@pytest.mark.parametrize("name", ["abc", "orders-2024", "a" * 63, "0-1"])
def test_valid_queue_and_container_names(name: str) -> None:
    assert queue_name(name) == name
    assert container_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "A queue name can't be null or empty"),
        ("ab", 'A queue name must be from 3 to 63 characters long - "ab"'),
        ("a" * 64, f'A queue name must be from 3 to 63 characters long - "{"a" * 64}"'),
        ("-abc", 'The dash (-) character may not be the first or last letter - "-abc"'),
        ("abc-", 'The dash (-) character may not be the first or last letter - "abc-"'),
        ("Orders", 'Queue names must be all lower case - "Orders"'),
        ("a_b", 'A queue name can contain only letters, numbers, and dash(-) characters - "a_b"'),
        ("a.b", 'A queue name can contain only letters, numbers, and dash(-) characters - "a.b"'),
        ("ab c", 'only letters, numbers, and dash(-) characters - "ab c"'),
        ("été", "only letters, numbers, and dash(-) characters"),
        ("a--b", "A queue name cannot contain consecutive dash(-) characters."),
    ],
)
def test_invalid_queue_names_get_the_queue_extensions_messages(name: str, message: str) -> None:
    # The WebJobs queue extension's checks, in its order and with its words.
    with pytest.raises(InvalidName) as caught:
        queue_name(name)
    assert message in str(caught.value)


@pytest.mark.parametrize("name", ["../secret", "a/../../b", "/etc/passwd", "a\\..\\b", "\\x"])
def test_blob_names_that_escape_the_container_are_refused(name: str) -> None:
    with pytest.raises(InvalidName, match="must stay inside its container"):
        blob_name(name)


def test_blob_names_allow_folders_dots_and_unicode() -> None:
    for name in ["a.txt", "2024/01/report.v2.csv", "données/été.json", "..a", "a..b/c"]:
        assert blob_name(name) == name
    with pytest.raises(InvalidName, match="1 to 1024"):
        blob_name("x" * 1025)


def test_blob_path_splits_container_and_name() -> None:
    assert blob_path("samples/in/a.txt") == ("samples", "in/a.txt")
    with pytest.raises(InvalidName, match="Expected 'container/blob-name'"):
        blob_path("samples")
    with pytest.raises(InvalidName, match="Invalid container name"):
        blob_path("Samples/a.txt")
