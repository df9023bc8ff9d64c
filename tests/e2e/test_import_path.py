"""Only the app folder is importable, as in the host: never the folder funchost was launched
from (`python -m` puts it first on sys.path)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import HTTP_FUNCTION_JSON, RunningHost, free_port, write_app

IMPORTS_LAUNCH_MODULE = "def main(req):\n    import launchonly\n\n    return launchonly.VALUE\n"
IMPORTS_APP_MODULE = "import shared\n\n\ndef main(req):\n    return shared.VALUE\n"


@pytest.fixture
def hosts() -> Iterator[list[RunningHost]]:
    started: list[RunningHost] = []
    yield started
    for host in started:
        host.stop()


def _launch_from(
    folder: Path, app: str, args: list[str], env: dict[str, str], log: Path
) -> RunningHost:
    """`python -m funchost ARGS APP` run with `folder` as its current folder."""
    port = free_port()
    cmd = [sys.executable, "-m", "funchost", *args[:1], app, *args[1:]]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=folder)
    return RunningHost(proc, port, log)


def _app(root: Path) -> Path:
    return write_app(
        root,
        {
            "shared.py": "VALUE = 'from-app'\n",
            "Launch/function.json": HTTP_FUNCTION_JSON,
            "Launch/__init__.py": IMPORTS_LAUNCH_MODULE,
            "Local/function.json": HTTP_FUNCTION_JSON,
            "Local/__init__.py": IMPORTS_APP_MODULE,
        },
    )


@pytest.mark.parametrize(
    "args",
    [["start"], ["start", "--no-reload"], ["serve", "--workers", "2"]],
    ids=["start-reload", "start-no-reload", "serve-workers"],
)
def test_launch_folder_modules_are_not_importable(
    args: list[str], tmp_path: Path, host_env: dict[str, str], hosts: list[RunningHost]
) -> None:
    launch = tmp_path / "launch"
    launch.mkdir()
    (launch / "launchonly.py").write_text("VALUE = 'from-launch-folder'\n")
    app = _app(tmp_path / "app")
    host = _launch_from(launch, str(app), args, host_env, tmp_path / "host.log")
    hosts.append(host)
    host.wait_until_ready()
    assert host.client.get("/api/Local").text == "from-app"
    r = host.client.get("/api/Launch")
    assert r.status_code == 500, r.text
    host.wait_for_output("No module named 'launchonly'")


def test_app_modules_import_when_launched_from_the_app_folder(
    tmp_path: Path, host_env: dict[str, str], hosts: list[RunningHost]
) -> None:
    app = _app(tmp_path / "app")
    host = _launch_from(app, ".", ["start"], host_env, tmp_path / "host.log")
    hosts.append(host)
    host.wait_until_ready()
    assert host.client.get("/api/Local").text == "from-app"


@pytest.mark.parametrize(
    "args", [["start"], ["start", "--no-reload"]], ids=["start-reload", "start-no-reload"]
)
def test_an_app_module_named_like_a_standard_one_does_not_replace_it_for_the_host(
    args: list[str], tmp_path: Path, host_env: dict[str, str], hosts: list[RunningHost]
) -> None:
    app = _app(tmp_path / "app")
    (app / "queue.py").write_text("raise RuntimeError('the app queue.py replaced queue')\n")
    host = _launch_from(app, ".", args, host_env, tmp_path / "host.log")
    hosts.append(host)
    host.wait_until_ready()
    assert host.client.get("/api/Local").text == "from-app"
    assert "replaced queue" not in host.output()
