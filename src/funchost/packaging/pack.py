"""The whole of `funchost pack`: check the app folder, choose the files, build, write the zip."""

from __future__ import annotations

import tempfile
from pathlib import Path

from funchost.errors import ConfigError
from funchost.packaging.archive import PackageSummary, write_package
from funchost.packaging.build import BuildTarget, install_requirements
from funchost.packaging.files import AppFile, AppFiles

PYTHON_PACKAGES = ".python_packages"


def check_app_dir(app_dir: Path) -> Path:
    """The app folder, resolved; an error unless it is a folder with host.json."""
    if not app_dir.is_dir():
        raise ConfigError(f"app folder {str(app_dir)!r} does not exist")
    if not (app_dir / "host.json").is_file():
        raise ConfigError(f"{str(app_dir)!r} is not a function app: it has no host.json")
    return app_dir.resolve()


def app_files(app_dir: Path, build: str = "none") -> AppFiles:
    """The packing rules of an app folder; a local build replaces its `.python_packages`."""
    skip = frozenset({PYTHON_PACKAGES}) if build == "local" else frozenset()
    return AppFiles(app_dir, skip=skip)


def default_output(app_dir: Path, cwd: Path) -> Path:
    """`<name>.zip` in the current folder, as Core Tools writes it, unless that folder is in the
    app: then beside the app folder, so a package never lands in the app it packs."""
    name = f"{app_dir.name or 'app'}.zip"
    folder = cwd.resolve()
    if folder == app_dir or app_dir in folder.parents:
        folder = app_dir.parent
    return folder / name


def check_output(rules: AppFiles, output: Path) -> None:
    """Refuse to write a package where it would be packed itself."""
    target = output.resolve()
    if not target.is_relative_to(rules.app_dir):
        return
    rel = target.relative_to(rules.app_dir).as_posix()
    if rel == "." or rules.packs(rel):
        raise ConfigError(
            f"the package {str(output)!r} is inside the app folder and would be packed with it: "
            "write it elsewhere, or exclude it in .funcignore"
        )


def pack_app(
    app_dir: Path, output: Path, *, build: str = "none", target: BuildTarget | None = None
) -> PackageSummary:
    """Write the package of `app_dir` (a checked, resolved app folder) to `output`."""
    rules = app_files(app_dir, build)
    check_output(rules, output)
    output.parent.mkdir(parents=True, exist_ok=True)
    files = rules.select().included
    if build != "local":
        return write_package(files, output)
    with tempfile.TemporaryDirectory(prefix="funchost-pack-") as work:
        install_requirements(app_dir, Path(work), target or BuildTarget())
        built: list[AppFile] = AppFiles(Path(work)).select().included
        return write_package([*files, *built], output)
