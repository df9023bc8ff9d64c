"""The host warns at startup when users other than the owner may write its secrets folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import StartHost, write_app

HELLO = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="hello")
def hello(req: func.HttpRequest) -> str:
    return "hi"
"""


def _key_values(folder: Path) -> list[str]:
    values: list[str] = []
    for path in folder.glob("*.json"):
        data = json.loads(path.read_text())
        keys = [data.get("masterKey"), *data.get("functionKeys", []), *data.get("keys", [])]
        values += [key["value"] for key in keys if key]
    return values


@pytest.mark.parametrize(
    ("mode", "warned"), [(0o777, True), (0o770, True), (0o700, False)], ids=["777", "770", "700"]
)
def test_serve_warns_once_when_others_may_write_the_secrets_folder(
    start_host: StartHost, tmp_path: Path, mode: int, warned: bool
) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    folder.chmod(mode)
    app = write_app(tmp_path / "app", {"function_app.py": HELLO})
    host = start_host(app, command="serve", env={"FUNCTIONS_SECRETS_PATH": str(folder)})
    out = host.output()
    lines = [line for line in out.splitlines() if "secrets folder" in line]
    if not warned:
        assert lines == []
        return
    (line,) = lines
    assert f"The secrets folder {folder} is " in line
    assert line.endswith(f"Run `chmod 700 {folder}`.")
    values = _key_values(folder)
    assert len(values) == 3  # master, host default, the function's default
    assert not any(value in out for value in values)
