"""Unpacking a published package: hostile input, checked entry by entry before a byte is
written.

Refused: absolute paths, drive letters, `..`, backslashes, symbolic links, device and other
special entries, more than `MAX_ENTRIES` entries, more than the given number of bytes unpacked (as
declared, and as actually read: a zip bomb can lie in its headers), and a file that is not a
zip. The caller unpacks into a new folder of its own and deletes it on any failure.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

MAX_ENTRIES = 50_000
_CHUNK = 1 << 20


class BadPackage(Exception):
    """A package that cannot be unpacked; the message names the problem in one line."""


def _checked_name(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The entry's relative path, None for a folder entry; `BadPackage` if it is unsafe."""
    name = info.filename
    if "\\" in name or "\0" in name:
        raise BadPackage(f"entry {name!r}: backslashes and NUL are not allowed in a path")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise BadPackage(f"entry {name!r}: absolute paths are not allowed")
    path = PurePosixPath(name)
    if ".." in path.parts:
        raise BadPackage(f"entry {name!r}: '..' is not allowed in a path")
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode:
        kind = stat.S_IFMT(mode)
        if stat.S_ISLNK(mode):
            raise BadPackage(f"entry {name!r}: symbolic links are not allowed")
        if kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise BadPackage(f"entry {name!r}: only files and folders are allowed")
    parts = [part for part in path.parts if part not in ("", ".")]
    if not parts or name.endswith("/"):
        return None
    return PurePosixPath(*parts)


def unpack(package: Path, into: Path, max_unpacked: int) -> int:
    """Unpack the zip `package` into the existing empty folder `into`, at most `max_unpacked`
    bytes; the number of files."""
    try:
        archive = zipfile.ZipFile(package)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise BadPackage(f"the package is not a valid zip file ({exc})") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise BadPackage(f"the package has {len(entries)} entries; at most {MAX_ENTRIES}")
        declared = 0
        checked: list[tuple[zipfile.ZipInfo, PurePosixPath | None]] = []
        for info in entries:
            checked.append((info, _checked_name(info)))
            declared += info.file_size
        if declared > max_unpacked:
            raise BadPackage(f"the package unpacks to {declared} bytes; at most {max_unpacked}")
        written = 0
        files = 0
        for info, rel in checked:
            if rel is None:
                continue
            target = into.joinpath(*rel.parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    raise BadPackage(f"entry {info.filename!r} is in the package twice")
                with archive.open(info) as source, open(target, "wb") as sink:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        if written > max_unpacked:
                            raise BadPackage(
                                f"the package unpacks to more than {max_unpacked} bytes"
                            )
                        sink.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise BadPackage(f"entry {info.filename!r} cannot be read ({exc})") from None
            mode = info.external_attr >> 16
            if info.create_system == 3 and mode & 0o111:
                target.chmod(0o755)
            files += 1
        return files
