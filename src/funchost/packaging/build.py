"""`--build local`: requirements.txt installed for the target Python and platform, in a temporary
folder, never in the app folder.

pip installs into `.python_packages/lib/site-packages` (where the Python worker on Azure looks),
run from the app folder so that relative paths in requirements.txt mean what they mean to the
developer's own `pip install -r requirements.txt`. pip reads its own configuration and
environment (`PIP_INDEX_URL`, `PIP_EXTRA_INDEX_URL`, pip.conf). A cross-build (a `--platform`, or
a `--python-version` other than this Python's) can only use wheels, so it passes
`--only-binary=:all:`; its platform defaults to the manylinux tags of Azure's Linux x86_64
workers.
"""

from __future__ import annotations

import platform
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from funchost.errors import ConfigError

SITE_PACKAGES = ".python_packages/lib/site-packages"
REQUIREMENTS = "requirements.txt"
# glibc 2.17 to 2.28 (manylinux2014 also brings manylinux2010 and manylinux1 in pip): every
# Python image of Azure Functions on Linux has a glibc of 2.28 or later.
AZURE_PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(28, 16, -1)),
    "manylinux2014_x86_64",
)
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# What the Python worker on Azure (and funchost) already has: an app's requirements.txt lists
# it, but a copy in .python_packages would only shadow the host's own.
HOST_PROVIDED = frozenset({"azure-functions"})


def provided_by_host(line: str) -> bool:
    """Whether a requirements.txt line names a package the host provides."""
    name = _REQUIREMENT_NAME.match(line.strip())
    if name is None:
        return False
    rest = line.strip()[name.end() :].lstrip()
    if rest.startswith((".", "/", ":")):  # a path or a URL, not a project name
        return False
    return re.sub(r"[._-]+", "-", name.group(0)).lower() in HOST_PROVIDED


@dataclass(frozen=True)
class BuildTarget:
    """The Python (`"3.11"`) and platform tags a build is for; empty means this machine's."""

    python_version: str | None = None
    platforms: tuple[str, ...] = ()

    @property
    def cross(self) -> bool:
        this_python = f"{sys.version_info.major}.{sys.version_info.minor}"
        return bool(self.platforms) or self.python_version not in (None, this_python)


def pip_command(requirements: Path, site_packages: Path, target: BuildTarget) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        str(site_packages),
        "--requirement",
        str(requirements),
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
    ]
    if target.cross:
        command.append("--only-binary=:all:")
        for tag in target.platforms or AZURE_PLATFORMS:
            command += ["--platform", tag]
        if target.python_version is not None:
            command += ["--python-version", target.python_version]
    return command


def _native_platform_note(target: BuildTarget) -> str | None:
    if target.cross or (sys.platform == "linux" and platform.machine() in ("x86_64", "AMD64")):
        return None
    return (
        f"packages were built for this machine ({sys.platform} {platform.machine()}); "
        "Azure runs Linux x86_64: pass --python-version X.Y (and --platform TAG) to build for it"
    )


def install_requirements(app_dir: Path, into: Path, target: BuildTarget) -> Path:
    """pip install the app's requirements.txt under `into`; returns `into/.python_packages`."""
    requirements = app_dir / REQUIREMENTS
    if not requirements.is_file():
        raise ConfigError(f"--build local needs {REQUIREMENTS}, and {requirements} does not exist")
    site_packages = into / SITE_PACKAGES
    site_packages.mkdir(parents=True)
    command = pip_command(requirements, site_packages, target)
    print(f"Installing {REQUIREMENTS}: {shlex.join(command)}", file=sys.stderr, flush=True)
    try:
        # pip's output goes to stderr: stdout is funchost's own summary.
        done = subprocess.run(command, cwd=app_dir, stdout=sys.stderr.fileno(), check=False)
    except OSError as exc:
        raise ConfigError(f"cannot run pip with {sys.executable}: {exc}") from None
    if done.returncode != 0:
        raise ConfigError(
            f"pip could not install {REQUIREMENTS} (exit code {done.returncode}); "
            "the app folder is unchanged"
        )
    note = _native_platform_note(target)
    if note is not None:
        print(f"funchost: note: {note}", file=sys.stderr)
    return into / ".python_packages"
