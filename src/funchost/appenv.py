"""Running the app with its own virtual environment's packages, as Core Tools does.

Core Tools runs the worker with the activated environment's Python, so what the app imports is
what `pip install -r requirements.txt` put there. `funchost start` may be installed elsewhere
(pipx, another virtual environment): then it re-executes itself with the app's environment's
Python when funchost is installed there, and otherwise stops with one line saying how to
install it there. It never runs the app on its own packages in silence.

The app's environment is the activated one (`VIRTUAL_ENV`), else a `.venv` in the app folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from funchost.errors import ConfigError

# Set in the re-executed process: if it still is not in the app's environment, stop rather
# than re-execute again.
REEXEC_ENV = "FUNCHOST_APP_ENVIRONMENT"


def app_environment(app_dir: Path, environ: Mapping[str, str]) -> Path | None:
    """The virtual environment the app runs with, if any."""
    active = environ.get("VIRTUAL_ENV")
    if active:
        return Path(active)
    local = app_dir / ".venv"
    if (local / "pyvenv.cfg").is_file():
        return local
    return None


def _python_of(environment: Path) -> Path:
    if os.name == "nt":
        return environment / "Scripts" / "python.exe"
    return environment / "bin" / "python"


def _same(a: Path | str, b: Path | str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def run_in_app_environment(app_dir: Path, argv: Sequence[str]) -> None:
    """Return when this process runs in the app's environment (or the app has none); else
    replace this process with funchost in that environment, or raise a `ConfigError` that
    says how to install funchost there."""
    environment = app_environment(app_dir, os.environ)
    if environment is None or _same(environment, sys.prefix):
        return
    source = "the activated" if os.environ.get("VIRTUAL_ENV") else "the app folder's"
    python = _python_of(environment)
    if not python.exists():
        raise ConfigError(
            f"{source} virtual environment {environment} has no Python ({python}): recreate it "
            "(python -m venv) or deactivate it"
        )
    if os.environ.get(REEXEC_ENV):
        raise ConfigError(
            f"funchost restarted with {python} but runs in {sys.prefix}, not in {source} "
            f"virtual environment {environment}"
        )
    found = subprocess.run(
        [str(python), "-c", "import funchost"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if found.returncode != 0:
        raise ConfigError(
            f"the app runs with {source} virtual environment {environment}, which does not "
            f"have funchost: install it there ({python} -m pip install funchost, or the path "
            "of a funchost checkout or wheel) so the app imports its own packages"
        )
    os.environ[REEXEC_ENV] = str(environment)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(python, [str(python), "-P", "-m", "funchost", *argv])
