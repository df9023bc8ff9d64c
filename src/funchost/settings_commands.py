"""`funchost settings`: add, list, delete, encrypt and decrypt the values of local.settings.json.

The spellings are Core Tools' (`func settings add|list|delete|encrypt|decrypt`), and so is the
`list` output. Where Core Tools differs: a new file is written in plain text (Core Tools
encrypts a file it creates), the rest of the file (`Host`, other members, comments, layout) is
kept instead of written again, and values are encrypted with funchost's per-user key
(settings_crypto.py). Each operation is a function of the app folder, usable from Python.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funchost.errors import ConfigError
from funchost.settings import LOCAL_SETTINGS_FILE, as_setting_value

if TYPE_CHECKING:
    from funchost.settings_crypto import SettingsCipher
    from funchost.settings_file import SettingsDocument

# What Core Tools writes beside a connection string added with --connectionString.
DEFAULT_PROVIDER_NAME = "System.Data.SqlClient"
VALUES = "Values"
CONNECTION_STRINGS = "ConnectionStrings"


@dataclass(frozen=True)
class StoredValue:
    """Where one value is in the file: its path, its name in messages, what the file holds."""

    path: tuple[str, ...]
    where: str
    raw: Any


def find_app_dir(start: Path) -> Path:
    """The folder of `start` or its nearest parent that holds host.json or local.settings.json
    (as Core Tools looks for the app's root), else `start` itself."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "host.json").is_file() or (folder / LOCAL_SETTINGS_FILE).is_file():
            return folder
    return start


class SettingsFile:
    """The local.settings.json of one app folder, with the operations of `funchost settings`."""

    def __init__(self, app_dir: Path, *, label: str | None = None) -> None:
        if not app_dir.is_dir():
            raise ConfigError(f"app folder {str(app_dir)!r} does not exist")
        self.app_dir = app_dir
        self.path = app_dir / LOCAL_SETTINGS_FILE
        self.label = label or str(self.path)
        self.notes: list[str] = []

    def _open(self, *, create: bool = False) -> SettingsDocument:
        # Imported here: the command line is built for every command, `start` included.
        from funchost.settings_file import SettingsDocument

        if not self.path.is_file():
            if not create:
                raise ConfigError(f"{self.label} does not exist")
            return SettingsDocument.create(
                self.path, {"IsEncrypted": False, VALUES: {"FUNCTIONS_WORKER_RUNTIME": "python"}}
            )
        document = SettingsDocument.read(self.path, self.label)
        for section in (VALUES, CONNECTION_STRINGS):
            if document.get(section) is not None and not isinstance(document.get(section), dict):
                raise ConfigError(f"{self.label}: {section} must be a JSON object")
        return document

    def _save(self, document: SettingsDocument) -> None:
        document.write()
        if document.rewritten and document.had_comments:
            self.notes.append(
                f"{self.label} was written again from its values: its comments were not kept"
            )

    def _cipher(self) -> SettingsCipher:
        from funchost.settings_crypto import SettingsCipher

        return SettingsCipher.for_app(self.app_dir)

    def _stored_values(self, document: SettingsDocument) -> list[StoredValue]:
        stored = [
            StoredValue((VALUES, name), f"{VALUES}.{name}", raw)
            for name, raw in (document.get(VALUES) or {}).items()
        ]
        for name, raw in (document.get(CONNECTION_STRINGS) or {}).items():
            where = f"{CONNECTION_STRINGS}.{name}"
            if isinstance(raw, dict):
                path = (CONNECTION_STRINGS, name, "ConnectionString")
                stored.append(StoredValue(path, where, raw.get("ConnectionString")))
            else:
                stored.append(StoredValue((CONNECTION_STRINGS, name), where, raw))
        return stored

    def _plain(self, document: SettingsDocument, stored: list[StoredValue]) -> dict[str, str]:
        """Every value's text by `where`, decrypted when the file is encrypted."""
        text = {s.where: as_setting_value(self.label, s.where, s.raw) for s in stored}
        if document.get("IsEncrypted") is True:
            from funchost.settings_crypto import decrypt_settings

            return decrypt_settings(self.label, text, self._cipher())
        return text

    def add(self, name: str, value: str, *, connection_string: bool = False) -> str:
        """Set `name` (encrypted when the file is); returns what was done, in one line."""
        document = self._open(create=True)
        encrypted = document.get("IsEncrypted") is True
        stored_value = value
        if encrypted:
            # The file's other values must be readable with this key, or it would end up mixed.
            self._plain(document, self._stored_values(document))
            stored_value = self._cipher().encrypt(value)
        section = CONNECTION_STRINGS if connection_string else VALUES
        existing = document.get(section, name)
        if not connection_string or isinstance(existing, str):
            document.set((section, name), stored_value)
        elif isinstance(existing, dict):
            document.set((section, name, "ConnectionString"), stored_value)
        else:
            entry = {"ConnectionString": stored_value, "ProviderName": DEFAULT_PROVIDER_NAME}
            document.set((section, name), entry)
        self._save(document)
        done = "Updated" if existing is not None else "Added"
        return f"{done} {name} in {section} of {self.label}{' (encrypted)' if encrypted else ''}."

    def delete(self, name: str, *, connection_string: bool = False) -> str:
        document = self._open()
        section, other = (
            (CONNECTION_STRINGS, VALUES) if connection_string else (VALUES, CONNECTION_STRINGS)
        )
        if not document.delete((section, name)):
            hint = ""
            if isinstance(document.get(other), dict) and name in document.get(other):
                flag = "without" if connection_string else "with"
                hint = f"; it is in {other} ({flag} --connection-string)"
            raise ConfigError(f"{self.label}: no setting {name!r} in {section}{hint}")
        self._save(document)
        return f"Deleted {name} from {section} of {self.label}."

    def listing(self, *, show_values: bool = False) -> list[str]:
        """The lines of `funchost settings list`, as Core Tools prints them."""
        document = self._open()
        stored = self._stored_values(document)
        plain = self._plain(document, stored) if show_values else {}
        lines = ["App Settings:"]
        for item in stored:
            if item.path[0] == VALUES:
                lines += [f"   -> Name: {item.path[1]}", f"      Value: {_shown(plain, item)}", ""]
        lines.append("Connection Strings:")
        for item in stored:
            if item.path[0] == CONNECTION_STRINGS:
                lines += [f"   -> Name: {item.path[1]}", f"      Value: {_shown(plain, item)}"]
                entry = document.get(CONNECTION_STRINGS, item.path[1])
                if isinstance(entry, dict) and entry.get("ProviderName") is not None:
                    lines.append(f"      ProviderName: {entry['ProviderName']}")
                lines.append("")
        return lines

    def encrypt(self) -> str:
        document = self._open()
        if document.get("IsEncrypted") is True:
            return f"{self.label} is already encrypted."
        stored = self._stored_values(document)
        plain = self._plain(document, stored)
        cipher = self._cipher()
        count = 0
        for item in stored:
            if plain[item.where]:
                document.set(item.path, cipher.encrypt(plain[item.where]))
                count += 1
        document.set(("IsEncrypted",), True)
        self._save(document)
        return f"Encrypted {count} value(s) in {self.label} with the key in {cipher.key_file}."

    def decrypt(self) -> str:
        document = self._open()
        if document.get("IsEncrypted") is not True:
            return f"{self.label} is not encrypted."
        stored = self._stored_values(document)
        plain = self._plain(document, stored)
        count = 0
        for item in stored:
            if plain[item.where]:
                document.set(item.path, plain[item.where])
                count += 1
        document.set(("IsEncrypted",), False)
        self._save(document)
        return f"Decrypted {count} value(s) in {self.label}."


def _shown(plain: dict[str, str], item: StoredValue) -> str:
    return plain.get(item.where, "*****")


def _setting_name(text: str) -> str:
    if not text or "=" in text or "\0" in text:
        raise argparse.ArgumentTypeError(
            f"invalid setting name {text!r}: it must be non-empty, without '=' or NUL"
        )
    return text


def add_commands(commands: Any) -> None:
    """`funchost settings ...` on the command line's subcommands."""
    settings = commands.add_parser(
        "settings", help="add, list, delete, encrypt or decrypt local.settings.json values"
    )
    actions = settings.add_subparsers(dest="settings_command", required=True)
    add = actions.add_parser("add", help="add or change a setting")
    add.add_argument("name", type=_setting_name, metavar="NAME")
    add.add_argument(
        "value",
        nargs="?",
        default=None,
        metavar="VALUE",
        help="the value (default: asked for, or read from stdin)",
    )
    listing = actions.add_parser("list", help="list the settings (values hidden unless -a)")
    listing.add_argument(
        "-a",
        "--show-value",
        "--showValue",
        action="store_true",
        dest="show_value",
        help="show the values, decrypted",
    )
    delete = actions.add_parser("delete", aliases=["remove"], help="delete a setting")
    delete.add_argument("name", type=_setting_name, metavar="NAME")
    for sub in (add, delete):
        sub.add_argument(
            "--connection-string",
            "--connectionString",
            action="store_true",
            dest="connection_string",
            help="in ConnectionStrings rather than Values",
        )
    encrypt = actions.add_parser("encrypt", help="encrypt every value with this user's key")
    decrypt = actions.add_parser("decrypt", help="write every value in plain text again")
    for sub in (add, listing, delete, encrypt, decrypt):
        sub.add_argument(
            "--app",
            dest="settings_app",
            default=None,
            metavar="DIR",
            help="the app folder (default: the one holding the current folder)",
        )


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass(f"Value of {name}: ")
    text = sys.stdin.read()
    return text.removesuffix("\n").removesuffix("\r")


def run(args: argparse.Namespace) -> int:
    if args.settings_app is not None:
        settings = SettingsFile(Path(args.settings_app))
    else:
        app_dir = find_app_dir(Path.cwd())
        settings = SettingsFile(app_dir, label=_relative_label(app_dir))
    command = args.settings_command
    if command == "list":
        print("\n".join(settings.listing(show_values=args.show_value)))
        return 0
    if command == "add":
        value = args.value if args.value is not None else _read_value(args.name)
        message = settings.add(args.name, value, connection_string=args.connection_string)
    elif command in ("delete", "remove"):
        message = settings.delete(args.name, connection_string=args.connection_string)
    elif command == "encrypt":
        message = settings.encrypt()
    else:
        message = settings.decrypt()
    for note in settings.notes:
        print(f"funchost: note: {note}", file=sys.stderr)
    print(message)
    return 0


def _relative_label(app_dir: Path) -> str:
    path = app_dir / LOCAL_SETTINGS_FILE
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
