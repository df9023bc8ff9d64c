"""`funchost start` runs the app with the app's own virtual environment (the activated one, or
`.venv` in the app folder), as Core Tools runs the worker with it: re-executed there when
funchost is installed in it, else one line saying how to install it there."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import funchost
from tests.conftest import RunningHost, free_port, write_app

APP = {
    "function_app.py": (
        "import sys\n"
        "import azure.functions as func\n"
        "import only_in_the_app_environment\n"
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)\n"
        "@app.route(route='where')\n"
        "def where(req: func.HttpRequest) -> str:\n"
        "    return only_in_the_app_environment.VALUE + ' ' + sys.prefix\n"
    )
}


def make_environment(path: Path, with_funchost: bool) -> Path:
    """A virtual environment with a module of its own, and funchost (from this checkout's
    environment, through a .pth file) when `with_funchost`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = path / "lib" / version / "site-packages"
    (site / "only_in_the_app_environment.py").write_text("VALUE = 'app-env'\n")
    if with_funchost:
        # This checkout's funchost (an editable install's own .pth is not read from there)
        # and its dependencies.
        source = Path(funchost.__file__).resolve().parent.parent
        paths = [str(source), sysconfig.get_paths()["purelib"]]
        (site / "funchost-from-checkout.pth").write_text("\n".join(paths) + "\n")
    return path


def launch(app: Path, args: list[str], env: dict[str, str], log: Path) -> RunningHost:
    port = free_port()
    command = [sys.executable, "-m", "funchost", "start", str(app), *args]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    return RunningHost(proc, port, log)


@pytest.mark.parametrize("where", ["activated", "app-folder"])
def test_the_app_runs_with_its_own_environment(
    where: str, tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", APP)
    env = dict(host_env)
    env.pop("VIRTUAL_ENV", None)
    if where == "activated":
        environment = make_environment(tmp_path / "appenv", with_funchost=True)
        env["VIRTUAL_ENV"] = str(environment)
    else:
        environment = make_environment(app / ".venv", with_funchost=True)
    host = launch(app, [], env, tmp_path / "host.log")
    try:
        host.wait_until_ready()
        answer = host.client.get("/api/where")
        assert answer.status_code == 200, host.output()
        assert answer.text == f"app-env {environment}"
    finally:
        host.stop()


def test_an_environment_without_funchost_is_named_with_how_to_install_it(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", APP)
    environment = make_environment(tmp_path / "appenv", with_funchost=False)
    env = {**host_env, "VIRTUAL_ENV": str(environment)}
    done = subprocess.run(
        [sys.executable, "-m", "funchost", "start", str(app), "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"virtual environment {environment}, which does not have funchost" in lines[0]
    assert f"{environment / 'bin' / 'python'} -m pip install funchost" in lines[0]


def test_running_in_the_app_environment_already_changes_nothing(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", {**APP, "only_in_the_app_environment.py": "VALUE = 'x'\n"})
    env = {**host_env, "VIRTUAL_ENV": sys.prefix}
    host = launch(app, ["--no-reload"], env, tmp_path / "host.log")
    try:
        host.wait_until_ready()
        assert host.client.get("/api/where").text == f"x {sys.prefix}"
        assert "FUNCHOST_APP_ENVIRONMENT" not in os.environ
    finally:
        host.stop()
