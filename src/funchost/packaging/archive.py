"""Writing a package: a zip whose root is the app root.

Entries are written in the order given, with POSIX paths and no folder entries, as Unix entries
(as Core Tools marks them, so Azure applies their modes): 0755 for a file with an executable bit,
0644 for any other (Core Tools writes 0666 for every file but a custom handler). Each entry keeps
its file's modification time. The zip is written beside its final path and renamed into place,
so a failed pack never leaves half a package.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from funchost.packaging.files import AppFile

_UNIX = 3
_EARLIEST = time.mktime((1980, 1, 1, 0, 0, 0, 0, 0, -1))


@dataclass(frozen=True)
class PackageSummary:
    path: Path
    files: int
    size: int


def _entry(file: AppFile) -> zipfile.ZipInfo:
    status = file.source.stat()
    mtime = max(status.st_mtime, _EARLIEST)
    info = zipfile.ZipInfo(file.path, time.localtime(mtime)[:6])
    executable = status.st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
    info.create_system = _UNIX
    info.compress_type = zipfile.ZIP_DEFLATED
    info.file_size = status.st_size  # so that zipfile picks ZIP64 for a file over 2 GiB
    return info


def write_package(files: Iterable[AppFile], output: Path) -> PackageSummary:
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    count = 0
    try:
        with open(partial, "xb") as raw, zipfile.ZipFile(raw, "w") as package:
            for file in files:
                info = _entry(file)
                with open(file.source, "rb") as source, package.open(info, "w") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
                count += 1
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return PackageSummary(output, count, output.stat().st_size)
