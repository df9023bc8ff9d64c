"""`funchost --version`: funchost's version, and the azure-functions and Python it runs with."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from funchost import __version__


def version_text() -> str:
    # Imported here: every funchost command builds the parser, few ask for the version.
    import platform
    from importlib import metadata

    try:
        library = metadata.version("azure-functions")
    except metadata.PackageNotFoundError:
        library = "not installed"
    python = platform.python_version()
    return f"funchost {__version__}\nazure-functions {library}\nPython {python} ({sys.executable})"


class VersionAction(argparse.Action):
    """Like argparse's "version" action, with the text built only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show the versions of funchost, azure-functions and Python")
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(version_text())
        parser.exit()
