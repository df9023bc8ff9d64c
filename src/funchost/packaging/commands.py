"""`funchost pack` on the command line.

Core Tools' spellings: `[FOLDER]`, `-o/--output` (a folder, where the zip is named after the app
folder, as in Core Tools, or a path ending in `.zip`), `--no-build`, and `publish`'s
`--list-included-files`/`--list-ignored-files`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError

_PYTHON_VERSION = re.compile(r"3\.(0|[1-9][0-9]?)")
_PLATFORM_TAG = re.compile(r"[A-Za-z0-9_.]+")


def _python_version(text: str) -> str:
    if not _PYTHON_VERSION.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(
            f"invalid Python version {text!r} (expected X.Y, such as 3.11)"
        )
    return text.strip()


def _platform(text: str) -> str:
    if not _PLATFORM_TAG.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(
            f"invalid platform tag {text!r} (such as manylinux2014_x86_64)"
        )
    return text.strip()


def add_commands(commands: Any) -> None:
    """`funchost pack` on the command line's subcommands."""
    pack = commands.add_parser(
        "pack",
        help="make a zip package of the app, ready for run-from-package (like 'func pack')",
        description="Make a zip of the app folder, with .funcignore applied as Core Tools does.",
    )
    pack.add_argument(
        "app_dir", nargs="?", default=".", metavar="APP_DIR", help="the app folder (default: .)"
    )
    pack.add_argument(
        "-o",
        "--output",
        default=None,
        metavar="FILE.zip",
        help="the zip to write, or a folder for <app>.zip (default: <app>.zip in the current "
        "folder, or beside the app folder when the current folder is in it)",
    )
    builds = pack.add_mutually_exclusive_group()
    builds.add_argument(
        "--build",
        choices=("none", "local"),
        default="none",
        help="none: pack the folder as it is, .python_packages included (default); "
        "local: install requirements.txt into the package's .python_packages",
    )
    builds.add_argument(
        "--no-build", action="store_const", const="none", dest="build", help="--build none"
    )
    pack.add_argument(
        "--python-version",
        type=_python_version,
        default=None,
        metavar="X.Y",
        help="--build local: the Python the app runs on in Azure (default: this Python)",
    )
    pack.add_argument(
        "--platform",
        type=_platform,
        action="append",
        default=None,
        metavar="TAG",
        help="--build local: a wheel platform tag, repeatable (default for a cross-build: "
        "Azure's manylinux x86_64 tags)",
    )
    lists = pack.add_mutually_exclusive_group()
    lists.add_argument(
        "--list-included-files",
        action="store_true",
        help="print the files the package would hold, one per line, and exit",
    )
    lists.add_argument(
        "--list-ignored-files",
        action="store_true",
        help="print the files and folders left out, one per line, and exit",
    )
    pack.set_defaults(pack_parser=pack)


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _output(argument: str | None, app_dir: Path) -> Path:
    from funchost.packaging.pack import default_output

    if argument is None:
        return default_output(app_dir, Path.cwd())
    path = Path(argument)
    if path.is_dir() or argument.endswith(("/", os.sep)) or path.suffix.lower() != ".zip":
        return path / f"{app_dir.name or 'app'}.zip"  # a folder, as Core Tools takes -o
    return path


def _missing_packages_note(app_dir: Path) -> str | None:
    if (app_dir / ".python_packages").is_dir():
        return None
    try:
        lines = (app_dir / "requirements.txt").read_text(errors="replace").splitlines()
    except OSError:
        return None
    from funchost.packaging.build import provided_by_host

    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not provided_by_host(line):
            return (
                "requirements.txt lists packages but the app has no .python_packages: "
                "use --build local, or a publish that builds remotely"
            )
    return None


def run(args: argparse.Namespace) -> int:
    from funchost.packaging.build import BuildTarget
    from funchost.packaging.pack import app_files, check_app_dir, pack_app

    parser: argparse.ArgumentParser = args.pack_parser
    if args.build != "local" and (args.python_version or args.platform):
        option = "--python-version" if args.python_version else "--platform"
        parser.error(f"argument {option}: only with --build local")
    app_dir = check_app_dir(Path(args.app_dir))
    try:
        if args.list_included_files or args.list_ignored_files:
            selection = app_files(app_dir, args.build).select()
            if args.list_included_files:
                lines = [file.path for file in selection.included]
            else:
                lines = selection.ignored
            sys.stdout.write("".join(f"{line}\n" for line in lines))
            return 0
        output = _output(args.output, app_dir)
        target = BuildTarget(args.python_version, tuple(args.platform or ()))
        summary = pack_app(app_dir, output, build=args.build, target=target)
    except BrokenPipeError:
        raise  # the reader of a listing left (funchost.cli stops quietly)
    except OSError as exc:  # an unreadable file, no permission, a full disk
        raise ConfigError(f"{exc.strerror or exc}: {exc.filename}") from None
    if args.build == "none":
        note = _missing_packages_note(app_dir)
        if note is not None:
            print(f"funchost: note: {note}", file=sys.stderr)
    print(
        f"Created package {_display(summary.path)} ({summary.files} files, {_size(summary.size)})"
    )
    return 0
