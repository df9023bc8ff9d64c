"""Encrypted values of local.settings.json (`funchost settings encrypt`).

Core Tools encrypts values with a data-protection key of the machine it runs on, so a file it
encrypted can only be read there. funchost does the same with a key of its own: one AES-256-GCM
key per user, kept beside the users' function keys (``<user data dir>/funchost/secrets/``),
never in an app folder, so it is neither committed nor published with the app. The key file is
written by keys.py's writer (atomic, mode 0600, in a 0700 folder).

An encrypted value is ``funchost:1:`` followed by the base64 of a 12-byte nonce and the
ciphertext with its tag; an empty value stays empty. Anything else in a file whose
``IsEncrypted`` is true was encrypted elsewhere (Core Tools' values are base64 of a
data-protection payload) or written in plain text by hand, and is reported as such, naming the
setting but never its value.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from funchost.errors import ConfigError
from funchost.keys import KeyStoreError, _read_document, _write_document

PREFIX = "funchost:1:"
KEY_FILE_NAME = "local-settings-key.json"
_KEY_FIELD = "localSettingsKey"
_NONCE_SIZE = 12
_KEY_SIZE = 32
# Binds each ciphertext to this format, so a later format cannot be fed values of this one.
_ASSOCIATED_DATA = PREFIX.encode("ascii")


def default_key_file() -> Path:
    """This user's key for local.settings.json values, beside the function key folders."""
    return platformdirs.user_data_path("funchost") / "secrets" / KEY_FILE_NAME


def is_encrypted_value(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


class SettingsCipher:
    """Encrypts and decrypts setting values with the key in ``key_file``, read once."""

    def __init__(self, key_file: Path) -> None:
        self.key_file = key_file
        self._key: bytes | None = None

    @classmethod
    def for_app(cls, app_dir: Path) -> SettingsCipher:
        key_file = default_key_file()
        if key_file.resolve().is_relative_to(app_dir.resolve()):
            raise ConfigError(
                f"the settings key {key_file} would be inside the app folder {app_dir}; "
                "set XDG_DATA_HOME to a folder outside the app"
            )
        return cls(key_file)

    def _load(self, *, create: bool) -> bytes | None:
        if self._key is not None:
            return self._key
        data = _read_document(self.key_file)
        if data is None:
            if not create:
                return None
            fresh = base64.b64encode(secrets.token_bytes(_KEY_SIZE)).decode("ascii")
            # create_only: a key another process wrote meanwhile wins, and is read back.
            _write_document(self.key_file, {_KEY_FIELD: fresh}, create_only=True)
            data = _read_document(self.key_file) or {}
        try:
            key = base64.b64decode(str(data.get(_KEY_FIELD, "")), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != _KEY_SIZE:
            raise KeyStoreError(f"{self.key_file}: not a funchost settings key file")
        self._key = key
        return key

    def encrypt(self, plain: str) -> str:
        """``plain`` encrypted (an empty value stays empty); creates the key if there is none."""
        if plain == "":
            return ""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = self._load(create=True)
        assert key is not None
        nonce = secrets.token_bytes(_NONCE_SIZE)
        sealed = AESGCM(key).encrypt(nonce, plain.encode("utf-8"), _ASSOCIATED_DATA)
        return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, value: str) -> str | None:
        """The plain text of a value :func:`is_encrypted_value` accepts, or None when this
        user's key cannot open it (another user's or machine's key, or a changed value)."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = self._load(create=False)
        if key is None:
            return None
        try:
            raw = base64.b64decode(value[len(PREFIX) :], validate=True)
            opened = AESGCM(key).decrypt(raw[:_NONCE_SIZE], raw[_NONCE_SIZE:], _ASSOCIATED_DATA)
            return opened.decode("utf-8")
        except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
            return None


def decrypt_settings(
    file_label: str, encrypted: Mapping[str, str], cipher: SettingsCipher
) -> dict[str, str]:
    """The plain text of every value of a file whose IsEncrypted is true, keyed as given
    (``Values.NAME``, ``ConnectionStrings.NAME``); one ConfigError line for the first value
    that cannot be read, naming the setting but not its value."""
    ours = any(is_encrypted_value(v) for v in encrypted.values())
    plain: dict[str, str] = {}
    for where, value in encrypted.items():
        if value == "":
            plain[where] = ""
            continue
        if not is_encrypted_value(value):
            if not ours:
                raise ConfigError(
                    f"{file_label}: IsEncrypted is true, but its values were encrypted "
                    "elsewhere (Core Tools uses a key of the machine that encrypted them) and "
                    "funchost cannot read them; decrypt them there with 'func settings "
                    "decrypt', or write the values in plain text and set IsEncrypted to false"
                )
            raise ConfigError(
                f"{file_label}: IsEncrypted is true, but {where} is not encrypted; set it "
                f"with 'funchost settings add', or delete it"
            )
        opened = cipher.decrypt(value)
        if opened is None:
            raise ConfigError(
                f"{file_label}: IsEncrypted is true, but {where} cannot be decrypted with this "
                f"user's key ({cipher.key_file}): it was encrypted by another user or on "
                "another machine; run 'funchost settings decrypt' there, or write the values "
                "in plain text and set IsEncrypted to false"
            )
        plain[where] = opened
    return plain
