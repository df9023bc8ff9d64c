"""The versions published to an app, in its state folder (never in the app folder).

`<state>/versions/<n>/` holds version n unpacked; `<state>/versions/current.json` names the
current one and the ones before it, newest last. Version 0 is the app folder given to `serve`:
it is never deleted, and rolling back from version 1 returns to it. Numbers are never reused.
The pointer file is written beside its path and renamed into place, so a reader sees the old
pointer or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

VERSIONS = "versions"
POINTER = "current.json"
LOCK = ".lock"
DEFAULT_KEEP = 5


class NoPreviousVersion(Exception):
    """A rollback with nothing before the current version."""


@dataclass
class VersionState:
    """What the pointer file holds: the versions made current in turn (the current one last)
    and the next number to give."""

    history: list[int] = field(default_factory=lambda: [0])
    next: int = 1

    @property
    def current(self) -> int:
        return self.history[-1]


class VersionStore:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / VERSIONS
        self.pointer = self.root / POINTER

    def folder(self, number: int) -> Path:
        return self.root / str(number)

    def read(self) -> VersionState:
        try:
            raw = json.loads(self.pointer.read_text(encoding="utf-8"))
            history = [int(n) for n in raw["history"]]
            state = VersionState(history or [0], int(raw["next"]))
        except (OSError, ValueError, KeyError, TypeError):
            return VersionState()
        # A version whose folder is gone (deleted by hand) cannot be served or returned to.
        state.history = [n for n in state.history if n == 0 or self.folder(n).is_dir()] or [0]
        return state

    def current_code(self) -> Path | None:
        """The current version's folder; None for version 0, the app folder."""
        current = self.read().current
        return self.folder(current) if current else None

    def write(self, state: VersionState) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / f".{POINTER}.{os.getpid()}.partial"
        partial.write_text(json.dumps({"history": state.history, "next": state.next}) + "\n")
        os.replace(partial, self.pointer)

    def staging(self) -> Path:
        """A new empty folder to unpack into, beside the versions (renamed into place by
        `add`); removed by `discard` when the version is refused."""
        self.root.mkdir(parents=True, exist_ok=True)
        number = 0
        while True:
            path = self.root / f".incoming-{os.getpid()}-{number}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                number += 1

    def next_number(self) -> int:
        state = self.read()
        taken = [int(p.name) for p in self.root.glob("*") if p.name.isdigit()]
        return max([state.next, *(n + 1 for n in taken)])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Held while the versions change: the workers of `serve --workers N` share them."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def publish(self, staged: Path, keep: int) -> VersionState:
        """Move a checked folder into place as a new version, make it current, and delete the
        versions `keep` lets go."""
        with self._locked():
            number = self.next_number()
            os.replace(staged, self.folder(number))
            state = self.read()
            state.history.append(number)
            state.next = number + 1
            self._prune(state, keep)
            self.write(state)
            return state

    def roll_back(self) -> VersionState:
        """Make the version before the current one current again; `NoPreviousVersion` at
        version 0."""
        with self._locked():
            state = self.read()
            if len(state.history) < 2:
                raise NoPreviousVersion(
                    f"version {state.current} is the first version: "
                    "there is nothing to roll back to"
                )
            state.history.pop()
            self.write(state)
            return state

    def _prune(self, state: VersionState, keep: int) -> None:
        """Keep the last `keep` published versions, and the current and previous ones always."""
        folders = sorted(int(p.name) for p in self.root.glob("*") if p.name.isdigit())
        kept = set(folders[-keep:]) if keep > 0 else set()
        kept.update(state.history[-2:])
        history = [n for n in state.history if n == 0 or n in kept]
        # A version made current twice in a row is one step back, not two.
        state.history = [n for i, n in enumerate(history) if i == 0 or n != history[i - 1]]
        for number in folders:
            if number not in kept:
                shutil.rmtree(self.folder(number), ignore_errors=True)

    def remove_leftovers(self) -> None:
        """Delete what a process that died while publishing left (`.<kind>-<pid>-...`)."""
        for path in self.root.glob(".*-*"):
            pid = path.name.split("-")[1]
            if pid.isdigit() and not _running(int(pid)):
                if path.is_dir():
                    self.discard(path)
                else:
                    path.unlink(missing_ok=True)

    def discard(self, staged: Path) -> None:
        with contextlib.suppress(OSError):
            shutil.rmtree(staged)

    def published(self) -> list[int]:
        return sorted(int(p.name) for p in self.root.glob("*") if p.name.isdigit())


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
