"""`funchost settings add|list|delete|encrypt|decrypt`, run as a user runs it, in temp folders."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from tests.conftest import StartHost, free_port, run_cli, write_app

SETTINGS = "local.settings.json"

COMMENTED = (
    "{\n"
    "\t// for this machine only\n"
    '\t"IsEncrypted": false,\n'
    '\t"Values": {\n'
    '\t\t"FUNCTIONS_WORKER_RUNTIME": "python",\n'
    '\t\t"GREETING": "hello", // shown on the home page\n'
    '\t\t"API_TOKEN": "s3cret-token",\n'
    "\t},\n"
    '\t"Host": {"LocalHttpPort": 7072, "CORS": "*"},\n'
    '\t"ConnectionStrings": {"Db": "Server=db;Password=pw"},\n'
    "}\n"
)


def settings(app: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`funchost settings ARGS` run in the app folder."""
    return run_cli("settings", *args, env=env, cwd=app)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_add_creates_the_file_in_core_tools_shape(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(tmp_path / "app", {})
    out = ok(settings(app, "add", "GREETING", "hello", env=host_env))
    assert out == "Added GREETING in Values of local.settings.json.\n"
    assert json.loads((app / SETTINGS).read_text()) == {
        "IsEncrypted": False,
        "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "GREETING": "hello"},
    }
    assert stat.S_IMODE((app / SETTINGS).stat().st_mode) == 0o600


def test_add_edits_in_place_keeping_order_sections_comments_and_layout(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", {SETTINGS: COMMENTED})
    ok(settings(app, "add", "GREETING", "bonjour", env=host_env))
    ok(settings(app, "add", "NEW_ONE", "1", env=host_env))
    assert (app / SETTINGS).read_text() == COMMENTED.replace('"hello"', '"bonjour"').replace(
        '\t\t"API_TOKEN": "s3cret-token",\n',
        '\t\t"API_TOKEN": "s3cret-token",\n\t\t"NEW_ONE": "1",\n',
    )


def test_add_keeps_windows_line_endings(tmp_path: Path, host_env: dict[str, str]) -> None:
    text = '{\r\n  "IsEncrypted": false,\r\n  "Values": {\r\n    "A": "1"\r\n  }\r\n}\r\n'
    app = write_app(tmp_path / "app", {})
    (app / SETTINGS).write_bytes(text.encode())
    ok(settings(app, "add", "B", "2", env=host_env))
    assert (app / SETTINGS).read_bytes() == text.replace(
        '"A": "1"\r\n', '"A": "1",\r\n    "B": "2"\r\n'
    ).encode()


def test_add_connection_string_writes_core_tools_entry(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", {SETTINGS: COMMENTED})
    ok(
        settings(
            app, "add", "Store", "UseDevelopmentStorage=true", "--connection-string", env=host_env
        )
    )
    ok(settings(app, "add", "Db", "Server=other", "--connectionString", env=host_env))
    text = (app / SETTINGS).read_text()
    assert '"Db": "Server=other"' in text  # a plain string entry stays a string
    assert (
        '\t"ConnectionStrings": {"Db": "Server=other", "Store": {"ConnectionString": '
        '"UseDevelopmentStorage=true", "ProviderName": "System.Data.SqlClient"}},\n'
    ) in text
    assert "FUNCTIONS_WORKER_RUNTIME" in text and "// for this machine only" in text


def test_list_hides_values_unless_asked(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(tmp_path / "app", {SETTINGS: COMMENTED})
    hidden = ok(settings(app, "list", env=host_env))
    assert hidden == (
        "App Settings:\n"
        "   -> Name: FUNCTIONS_WORKER_RUNTIME\n      Value: *****\n\n"
        "   -> Name: GREETING\n      Value: *****\n\n"
        "   -> Name: API_TOKEN\n      Value: *****\n\n"
        "Connection Strings:\n"
        "   -> Name: Db\n      Value: *****\n\n"
    )
    for flag in ("-a", "--show-value", "--showValue"):
        shown = ok(settings(app, "list", flag, env=host_env))
        assert "   -> Name: API_TOKEN\n      Value: s3cret-token\n" in shown
        assert "   -> Name: Db\n      Value: Server=db;Password=pw\n" in shown


def test_delete_removes_the_line_and_keeps_the_rest(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", {SETTINGS: COMMENTED})
    out = ok(settings(app, "delete", "GREETING", env=host_env))
    assert out == "Deleted GREETING from Values of local.settings.json.\n"
    ok(settings(app, "delete", "Db", "--connection-string", env=host_env))
    assert (app / SETTINGS).read_text() == (
        COMMENTED.replace('\t\t"GREETING": "hello", // shown on the home page\n', "").replace(
            '{"Db": "Server=db;Password=pw"}', "{}"
        )
    )


def test_delete_of_a_missing_setting_names_it(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(tmp_path / "app", {SETTINGS: COMMENTED})
    line = error_line(settings(app, "delete", "Db", env=host_env))
    assert line == (
        "funchost: error: local.settings.json: no setting 'Db' in Values; "
        "it is in ConnectionStrings (with --connection-string)"
    )
    assert (app / SETTINGS).read_text() == COMMENTED


def test_encrypt_add_and_decrypt_round_trip(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(tmp_path / "app", {SETTINGS: COMMENTED})
    out = ok(settings(app, "encrypt", env=host_env))
    key_file = tmp_path / "xdg-data" / "funchost" / "secrets" / "local-settings-key.json"
    assert out == f"Encrypted 4 value(s) in local.settings.json with the key in {key_file}.\n"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (app / ".funchost").exists()
    encrypted = (app / SETTINGS).read_text()
    for secret in ("hello", "s3cret-token", "Server=db", "python"):
        assert secret not in encrypted
    assert '"IsEncrypted": true' in encrypted and "// shown on the home page" in encrypted

    assert "(encrypted)" in ok(settings(app, "add", "LATE", "late-value", env=host_env))
    assert "late-value" not in (app / SETTINGS).read_text()
    shown = ok(settings(app, "list", "-a", env=host_env))
    assert "      Value: s3cret-token\n" in shown and "      Value: late-value\n" in shown

    assert ok(settings(app, "decrypt", env=host_env)) == (
        "Decrypted 5 value(s) in local.settings.json.\n"
    )
    assert (app / SETTINGS).read_text() == COMMENTED.replace(
        '\t\t"API_TOKEN": "s3cret-token",\n',
        '\t\t"API_TOKEN": "s3cret-token",\n\t\t"LATE": "late-value",\n',
    )


def test_core_tools_encrypted_file_is_named_as_encrypted_elsewhere(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    text = '{"IsEncrypted": true, "Values": {"A": "CfDJ8Ab0c1d2e3f4g5h6i7j8k9l0"}}'
    app = write_app(tmp_path / "app", {SETTINGS: text})
    assert "   -> Name: A\n      Value: *****\n" in ok(settings(app, "list", env=host_env))
    for args in (("list", "-a"), ("decrypt",), ("add", "B", "x")):
        line = error_line(settings(app, *args, env=host_env))
        assert line.startswith("funchost: error: local.settings.json: IsEncrypted is true")
        assert "encrypted elsewhere" in line and "'func settings decrypt'" in line
        assert "CfDJ8" not in line
    assert (app / SETTINGS).read_text() == text


def test_another_users_encryption_names_funchost_settings_decrypt(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", {SETTINGS: COMMENTED, "function_app.py": "x = 1\n"})
    ok(settings(app, "encrypt", env=host_env))
    other_user = {**host_env, "XDG_DATA_HOME": str(tmp_path / "other-user")}
    result = run_cli("start", str(app), "--port", str(free_port()), env=other_user)
    line = error_line(result)
    assert line.startswith("funchost: error: local.settings.json: IsEncrypted is true, but Values.")
    assert "run 'funchost settings decrypt' there" in line
    assert "funchost:1:" not in line


def test_malformed_file_is_one_line_naming_it(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(tmp_path / "app", {SETTINGS: '{"Values": {"A": "1" "B": "2"}}'})
    for args in (("add", "C", "3"), ("list",), ("delete", "A"), ("encrypt",)):
        line = error_line(settings(app, *args, env=host_env))
        assert line.startswith(
            "funchost: error: local.settings.json: invalid JSON at line 1, column 22:"
        )
    assert (app / SETTINGS).read_text() == '{"Values": {"A": "1" "B": "2"}}'


def test_app_option_and_subfolders_find_the_app(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(tmp_path / "app", {"MyFunction/function.json": "{}"})
    out = ok(run_cli("settings", "add", "A", "1", "--app", str(app), env=host_env, cwd=tmp_path))
    assert out == f"Added A in Values of {app / SETTINGS}.\n"
    ok(settings(app / "MyFunction", "add", "B", "2", env=host_env))
    assert json.loads((app / SETTINGS).read_text())["Values"] == {
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "A": "1",
        "B": "2",
    }
    assert not (app / "MyFunction" / SETTINGS).exists()
    line = error_line(run_cli("settings", "list", "--app", str(tmp_path / "nope"), env=host_env))
    assert line == f"funchost: error: app folder {str(tmp_path / 'nope')!r} does not exist"


def test_add_reads_an_omitted_value_from_stdin(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(tmp_path / "app", {})
    result = subprocess.run(
        [sys.executable, "-m", "funchost", "settings", "add", "TOKEN"],
        input="from-stdin\n",
        capture_output=True,
        text=True,
        env=host_env,
        cwd=app,
        timeout=60,
    )
    assert "from-stdin" not in ok(result)
    assert json.loads((app / SETTINGS).read_text())["Values"]["TOKEN"] == "from-stdin"


def test_invalid_name_is_a_usage_error(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(tmp_path / "app", {})
    result = settings(app, "add", "A=B", "x", env=host_env)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: funchost settings add")
    assert result.stderr.strip().splitlines()[-1] == (
        "funchost settings add: error: argument NAME: invalid setting name 'A=B': "
        "it must be non-empty, without '=' or NUL"
    )
    assert not (app / SETTINGS).exists()


def test_commands_on_a_missing_file_name_it(tmp_path: Path, host_env: dict[str, str]) -> None:
    app = write_app(tmp_path / "app", {})
    for args in (("list",), ("delete", "A"), ("encrypt",), ("decrypt",)):
        line = error_line(settings(app, *args, env=host_env))
        assert line == "funchost: error: local.settings.json does not exist"


def test_start_serves_an_app_whose_settings_are_encrypted(
    start_host: StartHost, tmp_path: Path, host_env: dict[str, str]
) -> None:
    code = (
        "import os\n"
        "import azure.functions as func\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n\n"
        '@app.route(route="token")\n'
        "def token(req: func.HttpRequest) -> str:\n"
        '    return os.environ["API_TOKEN"]\n'
    )
    app = write_app(tmp_path / "app", {SETTINGS: COMMENTED, "function_app.py": code})
    ok(settings(app, "encrypt", env=host_env))
    assert "s3cret-token" not in (app / SETTINGS).read_text()
    host = start_host(app, "--no-reload")
    assert host.client.get("/api/token").text == "s3cret-token"
    assert "s3cret-token" not in host.output()


def test_a_plain_value_in_an_encrypted_file_is_named(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", {SETTINGS: COMMENTED, "function_app.py": "x = 1\n"})
    ok(settings(app, "encrypt", env=host_env))
    text = (app / SETTINGS).read_text()
    (app / SETTINGS).write_text(text.replace('"Values": {', '"Values": {"HAND": "typed",', 1))
    line = error_line(run_cli("start", str(app), "--port", str(free_port()), env=host_env))
    assert line == (
        "funchost: error: local.settings.json: IsEncrypted is true, but Values.HAND is not "
        "encrypted; set it with 'funchost settings add', or delete it"
    )
    ok(settings(app, "delete", "HAND", env=host_env))
    assert "      Value: s3cret-token\n" in ok(settings(app, "list", "-a", env=host_env))
