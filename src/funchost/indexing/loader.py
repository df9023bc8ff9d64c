"""Importing user code the way the Python worker does.

v1 function folders are imported as submodules of the namespace package `__app__` rooted at
the app folder, so that relative imports inside a function folder work, and the deprecated
`from __app__.shared_code import x` still works (with a warning). The app root and
`.python_packages/lib/site-packages` go on `sys.path` so absolute imports work.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType

import funchost

APP_PACKAGE = "__app__"
logger = logging.getLogger("funchost.loader")


def forget_launch_folder() -> None:
    """Take the folder `python -m funchost` was launched from off the front of `sys.path`.

    `-m` puts the current folder first on `sys.path`, so an app could import a module that
    only exists where the host was started, or see an installed package shadowed by it. The
    worker in Azure has only the app folder (added by `prepare_sys_path`). Left alone under
    `-P`/PYTHONSAFEPATH, and when funchost itself is imported from that folder (a source tree
    run in place).
    """
    if sys.flags.safe_path or not sys.path:
        return
    try:
        launch = os.path.realpath(os.getcwd())
    except OSError:
        return
    if os.path.realpath(sys.path[0] or os.curdir) != launch:
        return
    package_root = os.path.dirname(os.path.dirname(os.path.realpath(funchost.__file__)))
    if package_root != launch:
        del sys.path[0]


def prepare_sys_path(app_dir: Path) -> None:
    """Put the app's custom packages, then the app root, at the front of `sys.path`."""
    packages = app_dir / ".python_packages" / "lib" / "site-packages"
    for entry in (str(app_dir), str(packages)):
        # Inserting the app root first and the packages folder last leaves packages ahead.
        if entry in sys.path:
            sys.path.remove(entry)
        if entry == str(packages) and not packages.is_dir():
            continue
        sys.path.insert(0, entry)
    importlib.invalidate_caches()


class _DeprecatedAppImportWarner(importlib.abc.MetaPathFinder):
    """Warns once per module when user code imports app modules through `__app__`."""

    def __init__(self, function_folders: Iterable[str]) -> None:
        self.function_folders = set(function_folders)
        self.warned: set[str] = set()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        parts = fullname.split(".")
        if len(parts) >= 2 and parts[0] == APP_PACKAGE and parts[1] not in self.function_folders:
            top = parts[1]
            if top not in self.warned:
                self.warned.add(top)
                logger.warning(
                    "Importing '%s' through '%s' is deprecated; use 'import %s' (the app "
                    "root is on sys.path).",
                    ".".join(parts[1:]),
                    APP_PACKAGE,
                    ".".join(parts[1:]),
                )
        return None  # the namespace package's own finder does the import


def install_app_package(app_dir: Path, function_folders: Iterable[str]) -> None:
    """Register `__app__` as a namespace package whose only location is the app root."""
    existing = sys.modules.get(APP_PACKAGE)
    if existing is None or list(getattr(existing, "__path__", [])) != [str(app_dir)]:
        spec = importlib.machinery.ModuleSpec(APP_PACKAGE, None, is_package=True)
        spec.submodule_search_locations = [str(app_dir)]
        sys.modules[APP_PACKAGE] = importlib.util.module_from_spec(spec)
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _DeprecatedAppImportWarner)]
    sys.meta_path.insert(0, _DeprecatedAppImportWarner(function_folders))


def import_function_module(app_dir: Path, script: Path) -> ModuleType:
    """Import a v1 function's script as `__app__.<folder>[.<module>]`."""
    rel = script.resolve().relative_to(app_dir).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return importlib.import_module(".".join([APP_PACKAGE, *parts]))


def import_script(app_dir: Path, script_name: str) -> ModuleType:
    """Import a v2 app's script (function_app.py) as a top-level module."""
    module_name = Path(script_name).stem
    sys.modules.pop(module_name, None)
    return importlib.import_module(module_name)


def import_hint(exc: BaseException) -> str:
    if isinstance(exc, ImportError):
        return (
            f"{type(exc).__name__}: {exc}. Troubleshooting: check that the module is listed in "
            "requirements.txt and installed in the Python that runs funchost; sys.path is "
            f"{sys.path[:4]}..."
        )
    return f"{type(exc).__name__}: {exc}"
