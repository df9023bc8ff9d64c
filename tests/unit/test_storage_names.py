from __future__ import annotations

import pytest

from funchost.storage.names import InvalidName, blob_name, blob_path, container_name, queue_name


@pytest.mark.parametrize("name", ["abc", "orders-2024", "a" * 63, "0-1"])
def test_valid_queue_and_container_names(name: str) -> None:
    assert queue_name(name) == name
    assert container_name(name) == name


@pytest.mark.parametrize(
    "name", ["ab", "a" * 64, "Orders", "-abc", "abc-", "a--b", "a_b", "a.b", "", "ab c"]
)
def test_invalid_queue_names_are_refused_with_the_rules(name: str) -> None:
    with pytest.raises(InvalidName, match=r"Invalid queue name: .* 3 to 63 characters"):
        queue_name(name)


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
