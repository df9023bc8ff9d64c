"""Function keys ("secrets") stored the way the real Azure Functions host stores them.

The layout is that of the host's file secret storage (``AzureWebJobsSecretStorageType=files``),
so a secrets folder can be shared with, or copied from, Core Tools or the real host:

- ``host.json``: ``{"masterKey": {...}, "functionKeys": [...], "systemKeys": [...]}``
- ``<function name, lower-cased>.json``: ``{"keys": [...]}``

where every key is ``{"name": ..., "value": ..., "encrypted": false}``. Encrypted keys (written
by a host that had an Azure data-protection key) cannot be read and are reported as an error.

Missing keys are generated from a CSPRNG in the real host's shape (URL-safe base64 ending in
``==``). Files are written atomically, mode 0600, in a folder that funchost creates with mode
0700. Key files are read once and cached; :meth:`KeyStore.authorize`, called for every HTTP
request, only compares the presented key against precomputed candidates. Key values are never
logged and never appear in error messages.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import shlex
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from funchost.errors import ConfigError

__all__ = [
    "FunctionKey",
    "KeyStore",
    "KeyStoreError",
    "default_secrets_dir",
    "describe_keys",
    "generate_key_value",
]

logger = logging.getLogger(__name__)

HOST_SECRETS_FILE = "host.json"
MASTER_KEY_NAME = "master"
DEFAULT_KEY_NAME = "default"

# Scopes accepted by KeyStore.set_key besides function names.
SCOPE_MASTER = "master"
SCOPE_HOST = "host"

_KEY_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")
_KEY_VALUE_RE = re.compile(r"[A-Za-z0-9_\-=]{16,}")
# The real host's function name rule (Utility.FunctionNameValidationRegex, case-insensitive).
_FUNCTION_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{0,127}")

_FILE_MODE = 0o600
_DIR_MODE = 0o700


class KeyStoreError(ConfigError):
    """A key file or key request is invalid; the message is one line and never holds a value."""


@dataclass(frozen=True)
class FunctionKey:
    """One named key. ``repr`` hides the value so that keys cannot leak into logs."""

    name: str
    value: str

    def __repr__(self) -> str:
        return f"FunctionKey(name={self.name!r}, value=<hidden>)"


@dataclass(frozen=True)
class _HostSecrets:
    master: str
    keys: tuple[FunctionKey, ...]


def generate_key_value() -> str:
    """A new key in the real host's style: 40 random bytes as URL-safe base64 (56 chars, ``==``)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(40)).decode("ascii")


def default_secrets_dir(app_dir: Path) -> Path:
    """The per-user secrets folder for the app at ``app_dir``; never inside the app folder.

    ``<user data dir>/funchost/secrets/<app folder name>-<first 12 hex of sha256(app path)>``,
    so two apps with the same folder name get different folders.
    """
    resolved = app_dir.resolve()
    digest = hashlib.sha256(os.fsencode(str(resolved))).hexdigest()[:12]
    folder = (
        platformdirs.user_data_path("funchost") / "secrets" / f"{resolved.name or 'app'}-{digest}"
    )
    if folder.is_relative_to(resolved):
        raise KeyStoreError(
            f"the default secrets folder {folder} would be inside the app folder {resolved}; "
            "set FUNCTIONS_SECRETS_PATH to a folder outside the app"
        )
    return folder


def _one_line(text: str, limit: int = 80) -> str:
    """``repr`` of user input, shortened, for error messages (keeps them on one line)."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def _check_key_name(name: str) -> None:
    if not isinstance(name, str) or not _KEY_NAME_RE.fullmatch(name):
        raise KeyStoreError(
            f"invalid key name {_one_line(str(name))}: use 1-128 letters, digits, '-', '_' or '.'"
        )


def _check_key_value(value: str) -> None:
    # The value itself is never echoed.
    if not isinstance(value, str) or len(value) < 16:
        raise KeyStoreError("invalid key value: it must be at least 16 characters long")
    if not _KEY_VALUE_RE.fullmatch(value):
        raise KeyStoreError(
            "invalid key value: use only letters, digits, '-', '_' and '=' (URL-safe base64)"
        )


def _check_function_name(name: str) -> str:
    """Validate a function name and return its file stem (lower-cased)."""
    if not isinstance(name, str) or not _FUNCTION_NAME_RE.fullmatch(name):
        raise KeyStoreError(
            f"invalid function name {_one_line(str(name))}: it must start with a letter and "
            "contain only letters, digits, '-' and '_' (at most 128 characters)"
        )
    stem = name.lower()
    if stem == SCOPE_HOST:
        raise KeyStoreError(
            "a function named 'host' cannot have keys: its key file would be the host key file "
            f"{HOST_SECRETS_FILE}"
        )
    return stem


def _key_entry(key: FunctionKey) -> dict[str, Any]:
    return {"name": key.name, "value": key.value, "encrypted": False}


def _new_host_document() -> dict[str, Any]:
    return {
        "masterKey": _key_entry(FunctionKey(MASTER_KEY_NAME, generate_key_value())),
        "functionKeys": [_key_entry(FunctionKey(DEFAULT_KEY_NAME, generate_key_value()))],
        "systemKeys": [],
    }


def _new_function_document() -> dict[str, Any]:
    return {"keys": [_key_entry(FunctionKey(DEFAULT_KEY_NAME, generate_key_value()))]}


def _parse_key(path: Path, where: str, entry: Any) -> FunctionKey:
    if not isinstance(entry, dict):
        raise KeyStoreError(f"{path}: {where} must be a JSON object")
    if entry.get("encrypted", False):
        raise KeyStoreError(
            f"{path}: {where} is encrypted; encrypted keys are not supported (funchost cannot "
            "decrypt them without the Azure key): replace the file with plain-text keys or "
            "delete it so that new keys are generated"
        )
    name = entry.get("name")
    value = entry.get("value")
    if not isinstance(name, str) or not name:
        raise KeyStoreError(f'{path}: {where} has no "name" string')
    if not isinstance(value, str) or not value:
        raise KeyStoreError(f'{path}: {where} has no "value" string')
    return FunctionKey(name, value)


def _parse_key_list(path: Path, field: str, data: dict[str, Any]) -> tuple[FunctionKey, ...]:
    raw = data.get(field)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise KeyStoreError(f'{path}: "{field}" must be a JSON array')
    return tuple(_parse_key(path, f"{field}[{i}]", entry) for i, entry in enumerate(raw))


def _parse_host(path: Path, data: dict[str, Any]) -> _HostSecrets:
    if "masterKey" not in data:
        raise KeyStoreError(f'{path}: "masterKey" is missing')
    master = _parse_key(path, "masterKey", data["masterKey"])
    keys = _parse_key_list(path, "functionKeys", data)
    _parse_key_list(path, "systemKeys", data)  # unused, but must not be encrypted or malformed
    return _HostSecrets(master.value, keys)


def _parse_function(path: Path, data: dict[str, Any]) -> tuple[FunctionKey, ...]:
    return _parse_key_list(path, "keys", data)


def _read_document(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyStoreError(f"{path}: cannot read key file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise KeyStoreError(f"{path}: the key file is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyStoreError(
            f"{path}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if not isinstance(data, dict):
        raise KeyStoreError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700; existing folders are left as is."""
    if path.is_dir():
        return
    if path.parent != path:
        _make_private_dir(path.parent)
    try:
        path.mkdir(mode=_DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise KeyStoreError(f"{path}: exists and is not a folder") from None
        return
    except OSError as exc:
        raise KeyStoreError(f"{path}: cannot create folder: {exc.strerror or exc}") from None
    with contextlib.suppress(OSError):
        path.chmod(_DIR_MODE)  # mkdir's mode is reduced by the umask


def _warn_if_writable_by_others(folder: Path) -> None:
    """Log one warning if users other than the owner may write ``folder``: they could add or
    replace key files, and so call any function. The folder's mode is the user's to set."""
    if os.name != "posix":
        return
    try:
        mode = folder.stat().st_mode
    except OSError:
        return
    if not mode & 0o022:
        return
    who = {0o020: "group-writable", 0o002: "world-writable"}.get(
        mode & 0o022, "group- and world-writable"
    )
    logger.warning(
        "The secrets folder %s is %s: other users can add or replace its keys. Run `chmod 700 %s`.",
        folder,
        who,
        shlex.quote(str(folder)),
    )


def _write_document(path: Path, data: dict[str, Any], *, create_only: bool) -> bool:
    """Atomically write ``data`` to ``path`` with mode 0600.

    With ``create_only``, an existing file (say, one another process just created) is kept and
    False is returned. Returns True when ``path`` now holds ``data``.
    """
    _make_private_dir(path.parent)
    text = json.dumps(data, indent=2) + "\n"
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), _FILE_MODE
        )
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, _FILE_MODE)  # os.open's mode is reduced by the umask
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if create_only:
            try:
                os.link(tmp, path)  # fails if the file appeared meanwhile: never clobber it
            except FileExistsError:
                return False
            except OSError:
                if path.exists():
                    return False
                os.replace(tmp, path)  # hard links unsupported here
        else:
            os.replace(tmp, path)
    except OSError as exc:
        raise KeyStoreError(f"{path}: cannot write key file: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return True


class KeyStore:
    """The keys in one secrets folder, read once and cached.

    Safe to share between threads. Changes made to the files by another process (`funchost keys
    set`, another worker, an editor) are picked up by :meth:`authorize` within a second: it
    compares the folder's listing and file times at most once a second and, when they changed,
    reads the keys again. A file that no longer parses is reported and the keys read before it
    stay in force, so a typo does not lock every caller out.
    """

    refresh_interval = 1.0

    def __init__(self, secrets_dir: Path) -> None:
        self.secrets_dir = Path(secrets_dir)
        self._lock = threading.RLock()
        self._host_loaded = False
        self._host: _HostSecrets | None = None
        # lower-cased function name -> keys; None when the file does not exist.
        self._functions: dict[str, tuple[FunctionKey, ...] | None] = {}
        # Hot path caches for authorize(), rebuilt lazily after any change.
        self._admin: tuple[bytes, ...] | None = None
        self._candidates: dict[str | None, tuple[bytes, ...]] = {}
        self._checked_at = time.monotonic()
        self._signature = self._folder_signature()

    # -- files -------------------------------------------------------------------------------

    @property
    def host_file(self) -> Path:
        return self.secrets_dir / HOST_SECRETS_FILE

    def function_file(self, function_name: str) -> Path:
        return self.secrets_dir / f"{_check_function_name(function_name)}.json"

    def _load_host(self) -> _HostSecrets | None:
        with self._lock:
            if not self._host_loaded:
                self._host = self._read_host()
                self._host_loaded = True
            return self._host

    def _load_function(self, stem: str) -> tuple[FunctionKey, ...] | None:
        with self._lock:
            if stem not in self._functions:
                self._functions[stem] = self._read_function(stem)
            return self._functions[stem]

    def _folder_signature(self) -> tuple[tuple[str, int, int], ...]:
        try:
            entries = [
                (e.name, e.stat().st_mtime_ns, e.stat().st_size)
                for e in os.scandir(self.secrets_dir)
                if e.name.endswith(".json")
            ]
        except OSError:
            return ()
        return tuple(sorted(entries))

    def _refresh(self) -> None:
        """Read the keys again if the files changed since the last look (at most once a second)."""
        now = time.monotonic()
        if now - self._checked_at < self.refresh_interval:
            return
        self._checked_at = now
        signature = self._folder_signature()
        if signature == self._signature:
            return
        with self._lock:
            try:
                host, functions = self._read_files(list(self._functions))
            except KeyStoreError as exc:
                logger.error("%s; the keys read before stay in force", exc)
            else:
                self._host_loaded, self._host, self._functions = True, host, functions
                self._invalidate()
            self._signature = signature

    def _read_files(
        self, stems: list[str]
    ) -> tuple[_HostSecrets | None, dict[str, tuple[FunctionKey, ...] | None]]:
        return self._read_host(), {stem: self._read_function(stem) for stem in stems}

    def _read_host(self) -> _HostSecrets | None:
        data = _read_document(self.host_file)
        return None if data is None else _parse_host(self.host_file, data)

    def _read_function(self, stem: str) -> tuple[FunctionKey, ...] | None:
        path = self.secrets_dir / f"{stem}.json"
        data = _read_document(path)
        return None if data is None else _parse_function(path, data)

    def _invalidate(self) -> None:
        with self._lock:
            self._admin = None
            self._candidates = {}

    # -- public API --------------------------------------------------------------------------

    def ensure(self, function_names: Iterable[str]) -> None:
        """Create ``host.json`` and one file per function when missing; validate existing files.

        New files get a generated master key and ``default`` host key, or a generated
        ``default`` function key. Existing files are read (so problems surface now) and kept.
        A folder that others may write is reported (once: this runs when a host starts).
        """
        names = list(function_names)
        stems = [_check_function_name(name) for name in names]
        with self._lock:
            _make_private_dir(self.secrets_dir)
            _warn_if_writable_by_others(self.secrets_dir)
            path = self.host_file
            if not path.exists():
                data = _new_host_document()
                if _write_document(path, data, create_only=True):
                    logger.info("created host keys in %s", path)
                    self._host = _parse_host(path, data)
                    self._host_loaded = True
                else:
                    self._host_loaded = False  # created by someone else: read theirs
            elif self._host_loaded and self._host is None:
                self._host_loaded = False
            self._load_host()
            for stem in dict.fromkeys(stems):
                path = self.secrets_dir / f"{stem}.json"
                if not path.exists():
                    data = _new_function_document()
                    if _write_document(path, data, create_only=True):
                        logger.info("created function keys in %s", path)
                        self._functions[stem] = _parse_function(path, data)
                        continue
                    self._functions.pop(stem, None)
                elif self._functions.get(stem, ()) is None:
                    self._functions.pop(stem)
                self._load_function(stem)
            self._invalidate()
            # Precompute what authorize() compares against.
            self._admin_candidates()
            self._function_candidates(None)
            for name in names:
                self._function_candidates(name)

    def master_key(self) -> str:
        host = self._load_host()
        if host is None:
            raise KeyStoreError(f"{self.host_file}: no master key: the file does not exist")
        return host.master

    def host_keys(self) -> list[FunctionKey]:
        """The host's function keys (``functionKeys`` of host.json); the master key is apart."""
        host = self._load_host()
        return [] if host is None else list(host.keys)

    def function_keys(self, function_name: str) -> list[FunctionKey]:
        return list(self._load_function(_check_function_name(function_name)) or ())

    def set_key(self, scope: str, name: str, value: str | None = None) -> str:
        """Add or replace key ``name`` in ``scope`` and return its value.

        ``scope`` is ``"master"`` (``name`` must be ``"master"``), ``"host"`` (a host function
        key) or a function name. ``value`` None generates a new key. The file is re-read,
        changed, written atomically, and the cache updated; nothing is written when the key
        already has this value.
        """
        _check_key_name(name)
        if value is None:
            value = generate_key_value()
        else:
            _check_key_value(value)
        if scope == SCOPE_MASTER:
            if name != MASTER_KEY_NAME:
                raise KeyStoreError(
                    f"the master key is always named 'master', not {_one_line(name)}"
                )
            self._set_host_key(value, master=True, name=name)
        elif scope == SCOPE_HOST:
            self._set_host_key(value, master=False, name=name)
        else:
            self._set_function_key(_check_function_name(scope), name, value)
        return value

    def delete_key(self, scope: str, name: str) -> bool:
        """Remove key ``name`` from ``"host"`` or a function's keys; False when it was absent.
        The master key cannot be deleted, only replaced."""
        if scope == SCOPE_MASTER:
            raise KeyStoreError("the master key cannot be deleted; set a new value instead")
        with self._lock:
            if scope == SCOPE_HOST:
                path, field = self.host_file, "functionKeys"
            else:
                stem = _check_function_name(scope)
                path, field = self.secrets_dir / f"{stem}.json", "keys"
            data = _read_document(path)
            if data is None:
                return False
            entries = list(data.get(field) or [])
            kept = [e for e in entries if not (isinstance(e, dict) and e.get("name") == name)]
            if len(kept) == len(entries):
                return False
            data[field] = kept
            _write_document(path, data, create_only=False)
            logger.info("deleted key %r from %s", name, path)
            if scope == SCOPE_HOST:
                self._host, self._host_loaded = _parse_host(path, data), True
            else:
                self._functions[stem] = _parse_function(path, data)
            self._invalidate()
            return True

    def _set_host_key(self, value: str, *, master: bool, name: str) -> None:
        with self._lock:
            path = self.host_file
            data = _read_document(path)
            if data is None:
                data = _new_host_document()
            else:
                _parse_host(path, data)  # refuse to rewrite encrypted or malformed files
            if master:
                changed = data["masterKey"].get("value") != value
                if changed:
                    data["masterKey"] = _key_entry(FunctionKey(MASTER_KEY_NAME, value))
            else:
                keys = data.get("functionKeys")
                data["functionKeys"] = keys = list(keys or [])
                changed = _upsert(keys, name, value)
            if changed or not path.exists():
                _write_document(path, data, create_only=False)
                logger.info("updated %s key %r in %s", "master" if master else "host", name, path)
            self._host = _parse_host(path, data)
            self._host_loaded = True
            self._invalidate()

    def _set_function_key(self, stem: str, name: str, value: str) -> None:
        with self._lock:
            path = self.secrets_dir / f"{stem}.json"
            data = _read_document(path)
            if data is None:
                data = {"keys": []}
            else:
                _parse_function(path, data)
            keys = data.get("keys")
            data["keys"] = keys = list(keys or [])
            if _upsert(keys, name, value) or not path.exists():
                _write_document(path, data, create_only=False)
                logger.info("updated function key %r in %s", name, path)
            self._functions[stem] = _parse_function(path, data)
            self._invalidate()

    # -- authorization (hot path) ------------------------------------------------------------

    def _admin_candidates(self) -> tuple[bytes, ...]:
        cands = self._admin
        if cands is None:
            with self._lock:
                host = self._load_host()
                cands = () if host is None else (host.master.encode("utf-8"),)
                self._admin = cands
        return cands

    def _function_candidates(self, function_name: str | None) -> tuple[bytes, ...]:
        cands = self._candidates.get(function_name)
        if cands is None:
            with self._lock:
                host = self._load_host()
                values: list[str] = []
                if host is not None:
                    values.append(host.master)
                    values.extend(k.value for k in host.keys)
                if function_name is not None:
                    fn_keys = self._load_function(_check_function_name(function_name))
                    values.extend(k.value for k in fn_keys or ())
                cands = tuple(v.encode("utf-8") for v in values)
                self._candidates[function_name] = cands
        return cands

    def authorize(self, level: str, function_name: str | None, presented: str | None) -> bool:
        """Whether ``presented`` grants access at auth ``level`` (as the real host decides).

        ``anonymous``: always. ``function``: the master key, a host function key, or a key of
        ``function_name``. ``admin`` and ``system``: the master key only. A missing or empty key
        never grants ``function`` or higher. Every candidate is compared in constant time.
        """
        lvl = level.lower()
        if lvl == "anonymous":
            return True
        self._refresh()
        if lvl == "function":
            candidates = self._function_candidates(function_name)
        elif lvl in ("admin", "system"):
            candidates = self._admin_candidates()
        else:
            raise ValueError(f"unknown auth level {level!r}")
        if not presented:
            return False
        given = presented.encode("utf-8", "surrogatepass")
        granted = False
        for candidate in candidates:
            granted |= hmac.compare_digest(candidate, given)  # no short-circuit
        return granted


def _upsert(entries: list[Any], name: str, value: str) -> bool:
    """Set key ``name`` to ``value`` in a parsed key list; True when something changed."""
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and entry.get("name") == name:
            if entry.get("value") == value and not entry.get("encrypted", False):
                return False
            entries[i] = {**entry, "value": value, "encrypted": False}
            return True
    entries.append(_key_entry(FunctionKey(name, value)))
    return True


def describe_keys(store: KeyStore, function_names: Iterable[str]) -> list[tuple[str, str, str]]:
    """Rows ``(scope, name, value)`` for ``funchost keys list``: master, host keys, then each
    function's keys (in the order given). Files that do not exist contribute no rows."""
    rows: list[tuple[str, str, str]] = []
    host = store._load_host()
    if host is not None:
        rows.append((SCOPE_MASTER, MASTER_KEY_NAME, host.master))
        rows.extend((SCOPE_HOST, k.name, k.value) for k in host.keys)
    for function_name in function_names:
        rows.extend((function_name, k.name, k.value) for k in store.function_keys(function_name))
    return rows
