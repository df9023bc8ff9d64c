"""Which files of an app folder a package holds, walked as Core Tools walks them.

Core Tools (`FileSystemHelpers.GetLocalFiles`) never descends into folders named `.git` or
`.vscode`, leaves out files named `.funcignore`, `.gitignore`, `local.settings.json` and
`project.lock.json`, both at any depth and in any case, and asks `.funcignore` about every other
file (never about a folder, so a negation can bring back a file inside an excluded folder). A
file named `.git` or a folder named `local.settings.json` is packed. Beyond Core Tools, funchost
never packs `.venv`, `__pycache__` and `.funchost` folders (at any depth, `.funcignore`
negations notwithstanding) nor any other virtual environment (a folder holding `pyvenv.cfg`):
they are local machinery, never part of an app.

Each folder's files come before its subfolders, both in name order, so the order is the same on
every machine.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from funchost.packaging.funcignore import FuncIgnore

FUNCIGNORE = ".funcignore"
# Core Tools' names, compared ignoring case.
CORE_TOOLS_EXCLUDED_FOLDERS = frozenset({".git", ".vscode"})
CORE_TOOLS_EXCLUDED_FILES = frozenset(
    {".funcignore", ".gitignore", "local.settings.json", "project.lock.json"}
)
# funchost's own, compared exactly.
NEVER_PACKED_FOLDERS = frozenset({".venv", "__pycache__", ".funchost"})


@dataclass(frozen=True)
class AppFile:
    """One file of a package: its POSIX path from the app root, and where it is on disk."""

    path: str
    source: Path


@dataclass
class FileSelection:
    """What a package of one app folder holds, and what it leaves out (a folder ending in `/`)."""

    included: list[AppFile] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


class AppFiles:
    """The rules for one app folder: Core Tools', `.funcignore`'s, and funchost's own.

    `skip` names folders (POSIX paths from the app root) left out besides, as `--build local`
    leaves out the app's own `.python_packages`.
    """

    def __init__(self, app_dir: Path, *, skip: frozenset[str] = frozenset()) -> None:
        self.app_dir = app_dir
        self.skip = skip
        path = app_dir / FUNCIGNORE
        self.funcignore = FuncIgnore.read(path) if path.is_file() else None

    def _folder_left_out(self, rel: str, folder: Path) -> bool:
        name = PurePosixPath(rel).name
        return (
            name.lower() in CORE_TOOLS_EXCLUDED_FOLDERS
            or name in NEVER_PACKED_FOLDERS
            or rel in self.skip
            or (folder / "pyvenv.cfg").is_file()
        )

    def _file_left_out(self, rel: str) -> bool:
        if PurePosixPath(rel).name.lower() in CORE_TOOLS_EXCLUDED_FILES:
            return True
        return self.funcignore is not None and not self.funcignore.accepts(rel)

    def packs(self, rel: str) -> bool:
        """Whether a file at `rel` (a POSIX path from the app root) would be packed."""
        parts = PurePosixPath(rel).parts
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if self._folder_left_out(folder, self.app_dir.joinpath(*parts[:depth])):
                return False
        return not self._file_left_out(rel)

    def select(self) -> FileSelection:
        selection = FileSelection()
        self._walk(self.app_dir, "", frozenset({os.path.realpath(self.app_dir)}), selection)
        return selection

    def _walk(self, folder: Path, prefix: str, above: frozenset[str], into: FileSelection) -> None:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
        folders: list[os.DirEntry[str]] = []
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_dir():
                folders.append(entry)
            elif not entry.is_file() or self._file_left_out(rel):  # not a file: a dangling link
                into.ignored.append(rel)
            else:
                into.included.append(AppFile(rel, Path(entry.path)))
        for entry in folders:
            rel = prefix + entry.name
            real = os.path.realpath(entry.path)
            if real in above or self._folder_left_out(rel, Path(entry.path)):
                into.ignored.append(rel + "/")
            else:
                self._walk(Path(entry.path), rel + "/", above | {real}, into)
