from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from funchost import keys as keys_module
from funchost.keys import (
    FunctionKey,
    KeyStore,
    KeyStoreError,
    default_secrets_dir,
    describe_keys,
)

POSIX = os.name == "posix"
AZURE_KEY_SHAPE = re.compile(r"[A-Za-z0-9_\-]{38,}==")
GOOD_VALUE = "abcdefghijklmnop_0123-XYZ=="
OTHER_VALUE = "zyxwvutsrqponmlk_9876-ABC=="


def _read(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    return tmp_path / "secrets"


@pytest.fixture
def store(secrets_dir: Path) -> KeyStore:
    s = KeyStore(secrets_dir)
    s.ensure(["HttpTrigger", "other"])
    return s


# -- files -----------------------------------------------------------------------------------


def test_ensure_creates_host_file_in_the_real_host_format(store: KeyStore, secrets_dir: Path):
    data = _read(secrets_dir / "host.json")
    assert isinstance(data, dict)
    assert set(data) == {"masterKey", "functionKeys", "systemKeys"}
    assert data["masterKey"] == {
        "name": "master",
        "value": store.master_key(),
        "encrypted": False,
    }
    assert data["functionKeys"] == [
        {"name": "default", "value": store.host_keys()[0].value, "encrypted": False}
    ]
    assert data["systemKeys"] == []


def test_ensure_creates_one_lower_cased_file_per_function(store: KeyStore, secrets_dir: Path):
    assert sorted(p.name for p in secrets_dir.iterdir()) == [
        "host.json",
        "httptrigger.json",
        "other.json",
    ]
    data = _read(secrets_dir / "httptrigger.json")
    assert data == {
        "keys": [
            {
                "name": "default",
                "value": store.function_keys("HttpTrigger")[0].value,
                "encrypted": False,
            }
        ]
    }


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_files_are_0600_and_folder_is_0700(store: KeyStore, secrets_dir: Path):
    assert _mode(secrets_dir) == 0o700
    for path in secrets_dir.iterdir():
        assert _mode(path) == 0o600, path.name


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_modes_do_not_depend_on_a_permissive_umask(secrets_dir: Path):
    old = os.umask(0)
    try:
        KeyStore(secrets_dir).ensure(["f"])
    finally:
        os.umask(old)
    assert _mode(secrets_dir) == 0o700
    assert _mode(secrets_dir / "host.json") == 0o600
    assert _mode(secrets_dir / "f.json") == 0o600


def test_no_temporary_files_are_left_behind(store: KeyStore, secrets_dir: Path):
    store.set_key("host", "extra")
    store.set_key("other", "extra", GOOD_VALUE)
    assert not [p for p in secrets_dir.iterdir() if p.name.endswith(".tmp")]


def test_generated_values_are_distinct_and_azure_shaped(store: KeyStore):
    values = [
        store.master_key(),
        *(k.value for k in store.host_keys()),
        *(k.value for k in store.function_keys("HttpTrigger")),
        *(k.value for k in store.function_keys("other")),
    ]
    assert len(values) == 4
    assert len(set(values)) == 4
    for value in values:
        assert AZURE_KEY_SHAPE.fullmatch(value)
        assert len(value) >= 40


def test_existing_files_are_kept_byte_for_byte(store: KeyStore, secrets_dir: Path):
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in secrets_dir.iterdir()}
    again = KeyStore(secrets_dir)
    again.ensure(["HttpTrigger", "other", "new_one"])
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in secrets_dir.iterdir()}
    assert set(after) == set(before) | {"new_one.json"}
    for name, content in before.items():
        assert after[name] == content
    assert again.master_key() == store.master_key()


def test_existing_files_written_by_the_real_host_are_read(secrets_dir: Path):
    secrets_dir.mkdir()
    (secrets_dir / "host.json").write_text(
        json.dumps(
            {
                "masterKey": {"name": "master", "value": "M" * 40, "encrypted": False},
                "functionKeys": [{"name": "default", "value": "H" * 40, "encrypted": False}],
                "systemKeys": [],
                "hostName": "localhost:7071",
                "instanceId": "0000",
                "source": "runtime",
                "decryptionKeyId": "",
            }
        ),
        encoding="utf-8",
    )
    (secrets_dir / "hello.json").write_text(
        json.dumps({"keys": [{"name": "default", "value": "F" * 40, "encrypted": False}]}),
        encoding="utf-8",
    )
    store = KeyStore(secrets_dir)
    store.ensure(["Hello"])
    assert store.master_key() == "M" * 40
    assert store.host_keys() == [FunctionKey("default", "H" * 40)]
    assert store.function_keys("Hello") == [FunctionKey("default", "F" * 40)]


def test_existing_folder_keeps_its_mode(tmp_path: Path):
    folder = tmp_path / "mine"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    KeyStore(folder).ensure([])
    assert _mode(folder) == 0o755 or not POSIX


def test_function_key_repr_hides_the_value():
    assert "secretvalue" not in repr(FunctionKey("default", "secretvalue1234567"))


def test_default_secrets_dir_is_per_app_and_outside_it(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(
        keys_module.platformdirs, "user_data_path", lambda appname: tmp_path / "data" / appname
    )
    app = tmp_path / "apps" / "myapp"
    app.mkdir(parents=True)
    other = tmp_path / "elsewhere" / "myapp"
    other.mkdir(parents=True)
    folder = default_secrets_dir(app)
    assert folder.parent == tmp_path / "data" / "funchost" / "secrets"
    assert re.fullmatch(r"myapp-[0-9a-f]{12}", folder.name)
    assert default_secrets_dir(app / ".") == folder
    assert default_secrets_dir(other) != folder
    assert not folder.is_relative_to(app)


def test_default_secrets_dir_refuses_a_folder_inside_the_app(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(
        keys_module.platformdirs, "user_data_path", lambda appname: tmp_path / ".data" / appname
    )
    with pytest.raises(KeyStoreError, match="FUNCTIONS_SECRETS_PATH"):
        default_secrets_dir(tmp_path)


# -- authorize -------------------------------------------------------------------------------


def test_anonymous_needs_no_key(store: KeyStore):
    assert store.authorize("anonymous", "HttpTrigger", None)
    assert store.authorize("Anonymous", None, "")


def test_master_key_satisfies_function_and_admin(store: KeyStore):
    master = store.master_key()
    assert store.authorize("function", "HttpTrigger", master)
    assert store.authorize("function", None, master)
    assert store.authorize("admin", None, master)
    assert store.authorize("system", "HttpTrigger", master)


def test_host_key_satisfies_function_level_only(store: KeyStore):
    host_key = store.host_keys()[0].value
    assert store.authorize("function", "HttpTrigger", host_key)
    assert store.authorize("function", "other", host_key)
    assert not store.authorize("admin", None, host_key)
    assert not store.authorize("system", None, host_key)


def test_function_key_satisfies_only_its_own_function(store: KeyStore):
    fn_key = store.function_keys("HttpTrigger")[0].value
    assert store.authorize("function", "HttpTrigger", fn_key)
    assert store.authorize("function", "httptrigger", fn_key)
    assert not store.authorize("function", "other", fn_key)
    assert not store.authorize("function", None, fn_key)
    assert not store.authorize("admin", None, fn_key)


@pytest.mark.parametrize("presented", [None, "", "wrong", "x" * 56])
@pytest.mark.parametrize("level", ["function", "admin", "system"])
def test_wrong_or_empty_key_is_refused(store: KeyStore, level: str, presented: str | None):
    assert not store.authorize(level, "HttpTrigger", presented)


def test_a_prefix_or_extension_of_a_key_is_refused(store: KeyStore):
    master = store.master_key()
    assert not store.authorize("admin", None, master[:-1])
    assert not store.authorize("admin", None, master + "A")
    assert not store.authorize("admin", None, "\u00e9" + master)


def test_unknown_auth_level_is_an_error(store: KeyStore):
    with pytest.raises(ValueError, match="unknown auth level"):
        store.authorize("owner", None, store.master_key())


def test_without_a_host_file_only_function_keys_work(secrets_dir: Path):
    store = KeyStore(secrets_dir)
    value = store.set_key("fn", "default", GOOD_VALUE)
    assert store.authorize("function", "fn", value)
    assert not store.authorize("admin", None, value)
    with pytest.raises(KeyStoreError, match="no master key"):
        store.master_key()


def test_keys_are_read_once_and_cached(store: KeyStore, secrets_dir: Path):
    master = store.master_key()
    (secrets_dir / "host.json").write_text("{ broken", encoding="utf-8")
    assert store.master_key() == master
    assert store.authorize("admin", None, master)


# -- set_key ---------------------------------------------------------------------------------


def test_set_master_key_explicit_is_persisted(store: KeyStore, secrets_dir: Path):
    old = store.master_key()
    assert store.set_key("master", "master", GOOD_VALUE) == GOOD_VALUE
    assert store.master_key() == GOOD_VALUE
    assert store.authorize("admin", None, GOOD_VALUE)
    assert not store.authorize("admin", None, old)
    assert not store.authorize("function", "HttpTrigger", old)
    assert KeyStore(secrets_dir).master_key() == GOOD_VALUE
    data = _read(secrets_dir / "host.json")
    assert isinstance(data, dict)
    assert data["masterKey"] == {"name": "master", "value": GOOD_VALUE, "encrypted": False}


def test_set_master_key_generated(store: KeyStore, secrets_dir: Path):
    old = store.master_key()
    new = store.set_key("master", "master")
    assert new != old
    assert AZURE_KEY_SHAPE.fullmatch(new)
    assert KeyStore(secrets_dir).master_key() == new


def test_master_key_name_must_be_master(store: KeyStore):
    with pytest.raises(KeyStoreError, match="always named 'master'"):
        store.set_key("master", "boss", GOOD_VALUE)


def test_set_host_key_adds_and_replaces(store: KeyStore, secrets_dir: Path):
    generated = store.set_key("host", "ci")
    assert AZURE_KEY_SHAPE.fullmatch(generated)
    assert store.authorize("function", "other", generated)
    assert not store.authorize("admin", None, generated)
    default = store.host_keys()[0]
    store.set_key("host", "default", GOOD_VALUE)
    assert not store.authorize("function", "other", default.value)

    reloaded = KeyStore(secrets_dir)
    assert reloaded.host_keys() == [
        FunctionKey("default", GOOD_VALUE),
        FunctionKey("ci", generated),
    ]
    assert reloaded.authorize("function", "HttpTrigger", generated)


def test_set_function_key_adds_and_replaces(store: KeyStore, secrets_dir: Path):
    assert store.set_key("HttpTrigger", "partner", GOOD_VALUE) == GOOD_VALUE
    assert store.authorize("function", "HttpTrigger", GOOD_VALUE)
    assert not store.authorize("function", "other", GOOD_VALUE)
    generated = store.set_key("HttpTrigger", "default")
    assert AZURE_KEY_SHAPE.fullmatch(generated)

    reloaded = KeyStore(secrets_dir)
    assert reloaded.function_keys("HttpTrigger") == [
        FunctionKey("default", generated),
        FunctionKey("partner", GOOD_VALUE),
    ]
    assert reloaded.authorize("function", "HttpTrigger", generated)
    data = _read(secrets_dir / "httptrigger.json")
    assert data == {
        "keys": [
            {"name": "default", "value": generated, "encrypted": False},
            {"name": "partner", "value": GOOD_VALUE, "encrypted": False},
        ]
    }


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_set_key_keeps_mode_0600(store: KeyStore, secrets_dir: Path):
    store.set_key("host", "extra")
    store.set_key("brandnew", "default")
    assert _mode(secrets_dir / "host.json") == 0o600
    assert _mode(secrets_dir / "brandnew.json") == 0o600


def test_set_key_creates_missing_files(secrets_dir: Path):
    store = KeyStore(secrets_dir)
    store.set_key("host", "ci", GOOD_VALUE)
    assert [k.name for k in store.host_keys()] == ["default", "ci"]
    assert AZURE_KEY_SHAPE.fullmatch(store.master_key())
    assert KeyStore(secrets_dir).authorize("function", "any", GOOD_VALUE)


def test_set_key_with_the_same_value_does_not_rewrite(store: KeyStore, secrets_dir: Path):
    store.set_key("other", "partner", GOOD_VALUE)
    path = secrets_dir / "other.json"
    before = (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino)
    store.set_key("other", "partner", GOOD_VALUE)
    assert (path.read_bytes(), path.stat().st_mtime_ns, path.stat().st_ino) == before


def test_set_key_keeps_fields_and_keys_added_by_others(store: KeyStore, secrets_dir: Path):
    path = secrets_dir / "host.json"
    data = _read(path)
    assert isinstance(data, dict)
    data["hostName"] = "localhost:7071"
    data["functionKeys"].append({"name": "theirs", "value": OTHER_VALUE, "encrypted": False})
    path.write_text(json.dumps(data), encoding="utf-8")
    store.set_key("host", "mine", GOOD_VALUE)
    saved = _read(path)
    assert isinstance(saved, dict)
    assert saved["hostName"] == "localhost:7071"
    assert [k["name"] for k in saved["functionKeys"]] == ["default", "theirs", "mine"]
    assert store.authorize("function", None, OTHER_VALUE)


@pytest.mark.parametrize(
    "name", ["", "a" * 129, "has space", "slash/es", "new\nline", "ü", "../host"]
)
def test_invalid_key_names_are_one_line_errors(store: KeyStore, name: str):
    with pytest.raises(KeyStoreError, match="invalid key name") as info:
        store.set_key("host", name, GOOD_VALUE)
    assert "\n" not in str(info.value)


def test_key_name_limits_are_accepted(store: KeyStore):
    store.set_key("host", "a" * 128, GOOD_VALUE)
    store.set_key("host", "A.b-c_9", OTHER_VALUE)


@pytest.mark.parametrize(
    "value", ["short", "a" * 15, "a" * 20 + "+/", "a" * 20 + " ", "a" * 20 + "\n", "é" * 20]
)
def test_invalid_key_values_are_one_line_errors_that_hide_the_value(store: KeyStore, value: str):
    with pytest.raises(KeyStoreError, match="invalid key value") as info:
        store.set_key("host", "ci", value)
    message = str(info.value)
    assert "\n" not in message
    assert value.strip() not in message


def test_sixteen_character_value_is_accepted(store: KeyStore):
    assert store.set_key("host", "ci", "a" * 16) == "a" * 16


@pytest.mark.parametrize("scope", ["../evil", "1starts_with_digit", "has space", "Host"])
def test_invalid_function_scopes_are_one_line_errors(store: KeyStore, scope: str):
    with pytest.raises(KeyStoreError) as info:
        store.set_key(scope, "default", GOOD_VALUE)
    assert "\n" not in str(info.value)
    assert not (store.secrets_dir.parent / "evil.json").exists()


def test_invalid_function_name_in_ensure_is_an_error(secrets_dir: Path):
    with pytest.raises(KeyStoreError, match="invalid function name"):
        KeyStore(secrets_dir).ensure(["ok", "../escape"])


# -- bad files -------------------------------------------------------------------------------


def test_malformed_json_names_the_file_line_and_column(secrets_dir: Path):
    secrets_dir.mkdir()
    path = secrets_dir / "host.json"
    path.write_text('{\n  "masterKey": {\n    "name": "master",,\n  }\n}\n', encoding="utf-8")
    with pytest.raises(KeyStoreError) as info:
        KeyStore(secrets_dir).ensure([])
    message = str(info.value)
    assert str(path) in message
    assert "line 3, column" in message
    assert "\n" not in message


def test_malformed_function_file_names_the_file(store: KeyStore, secrets_dir: Path):
    path = secrets_dir / "late.json"
    path.write_text("[1, 2", encoding="utf-8")
    with pytest.raises(KeyStoreError, match=re.escape(str(path))):
        store.function_keys("Late")


def test_file_with_the_wrong_structure_names_the_file(secrets_dir: Path):
    secrets_dir.mkdir()
    (secrets_dir / "fn.json").write_text('{"keys": {"name": "default"}}', encoding="utf-8")
    with pytest.raises(KeyStoreError, match=r"fn\.json: \"keys\" must be a JSON array"):
        KeyStore(secrets_dir).function_keys("fn")


@pytest.mark.parametrize("where", ["master", "host", "function"])
def test_encrypted_keys_are_refused_naming_the_file(secrets_dir: Path, where: str):
    store = KeyStore(secrets_dir)
    store.ensure(["fn"])
    path = secrets_dir / ("fn.json" if where == "function" else "host.json")
    data = _read(path)
    assert isinstance(data, dict)
    entry = {
        "master": lambda: data["masterKey"],
        "host": lambda: data["functionKeys"][0],
        "function": lambda: data["keys"][0],
    }[where]()
    entry["encrypted"] = True
    entry["value"] = "CfDJ8AAAAAAAAAAAAAAAAAAAAA"
    path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(KeyStoreError) as info:
        KeyStore(secrets_dir).ensure(["fn"])
    message = str(info.value)
    assert str(path) in message
    assert "encrypted keys are not supported" in message
    assert "\n" not in message
    with pytest.raises(KeyStoreError, match="encrypted keys are not supported"):
        store.set_key(
            "fn" if where == "function" else where, "master" if where == "master" else "x"
        )
    assert "CfDJ8" in path.read_text(encoding="utf-8")  # never overwritten


def test_a_file_in_place_of_the_folder_is_an_error_naming_it(tmp_path: Path):
    blocker = tmp_path / "blocker"
    blocker.write_text("", encoding="utf-8")
    for folder in (blocker, blocker / "secrets"):
        with pytest.raises(
            KeyStoreError, match=re.escape(f"{blocker}: exists and is not a folder")
        ) as info:
            KeyStore(folder).ensure(["fn"])
        assert "\n" not in str(info.value)


# -- describe_keys ---------------------------------------------------------------------------


def test_describe_keys_lists_every_scope(store: KeyStore):
    store.set_key("other", "partner", GOOD_VALUE)
    rows = describe_keys(store, ["HttpTrigger", "other", "missing"])
    assert rows == [
        ("master", "master", store.master_key()),
        ("host", "default", store.host_keys()[0].value),
        ("HttpTrigger", "default", store.function_keys("HttpTrigger")[0].value),
        ("other", "default", store.function_keys("other")[0].value),
        ("other", "partner", GOOD_VALUE),
    ]


def test_describe_keys_of_an_empty_folder_is_empty(secrets_dir: Path):
    assert describe_keys(KeyStore(secrets_dir), ["fn"]) == []


def test_key_values_are_never_logged(secrets_dir: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level("DEBUG", logger="funchost")
    store = KeyStore(secrets_dir)
    store.ensure(["fn"])
    store.set_key("host", "ci", GOOD_VALUE)
    store.set_key("fn", "partner", OTHER_VALUE)
    store.set_key("master", "master")
    text = caplog.text
    assert caplog.records  # something was logged...
    for value in [
        store.master_key(),
        GOOD_VALUE,
        OTHER_VALUE,
        *(k.value for k in store.host_keys()),
        *(k.value for k in store.function_keys("fn")),
    ]:
        assert value not in text  # ...but no value


def test_changes_by_another_process_are_seen_within_the_refresh_interval(tmp_path: Path):
    folder = tmp_path / "shared"
    serving = KeyStore(folder)
    serving.ensure(["fn"])
    serving.refresh_interval = 0.0
    assert not serving.authorize("function", "fn", "rotated-by-the-cli-0123456789")
    KeyStore(folder).set_key("fn", "ci", "rotated-by-the-cli-0123456789")
    assert serving.authorize("function", "fn", "rotated-by-the-cli-0123456789")


def test_a_broken_file_keeps_the_keys_read_before(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    folder = tmp_path / "shared"
    serving = KeyStore(folder)
    serving.ensure(["fn"])
    serving.refresh_interval = 0.0
    master = serving.master_key()
    assert serving.authorize("admin", None, master)
    (folder / "host.json").write_text("{not json", encoding="utf-8")
    with caplog.at_level("ERROR"):
        assert serving.authorize("admin", None, master)
    assert "the keys read before stay in force" in caplog.text
    assert master not in caplog.text


def test_delete_key_removes_only_that_key(tmp_path: Path):
    store = KeyStore(tmp_path / "s")
    store.ensure(["fn"])
    store.set_key("fn", "extra", "extra-key-0123456789")
    assert store.delete_key("fn", "extra") is True
    assert store.delete_key("fn", "extra") is False
    assert [k.name for k in KeyStore(tmp_path / "s").function_keys("fn")] == ["default"]
    with pytest.raises(KeyStoreError, match="master key cannot be deleted"):
        store.delete_key("master", "master")


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
@pytest.mark.parametrize(
    ("mode", "who"),
    [
        (0o770, "group-writable"),
        (0o703, "world-writable"),
        (0o777, "group- and world-writable"),
        (0o1777, "group- and world-writable"),
    ],
    ids=["770", "703", "777", "1777"],
)
def test_a_folder_others_may_write_is_reported_once_without_key_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, who: str
) -> None:
    folder = tmp_path / "shared secrets"
    folder.mkdir()
    folder.chmod(mode)
    store = KeyStore(folder)
    with caplog.at_level("WARNING", logger="funchost.keys"):
        store.ensure(["Hello"])
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"The secrets folder {folder} is {who}: other users can add or replace its keys. "
        f"Run `chmod 700 '{folder}'`."
    ]
    assert store.master_key() not in caplog.text
    assert _mode(folder) == mode  # reported, not changed: the folder is the user's


@pytest.mark.parametrize("mode", [0o700, 0o755, 0o750], ids=["700", "755", "750"])
def test_a_folder_only_its_owner_may_write_is_not_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int
) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    folder.chmod(mode)
    with caplog.at_level("WARNING", logger="funchost.keys"):
        KeyStore(folder).ensure(["Hello"])
    assert "secrets folder" not in caplog.text
