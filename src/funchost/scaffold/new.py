"""`funchost new`: a function from a template, in the app's own model, with a test.

A v1 app (no function_app.py) gets a function folder (function.json and `__init__.py`); a v2
app gets a decorated function appended to function_app.py, or to a blueprint module (`--file`)
that function_app.py then registers. Either way `tests/test_<name>.py` drives the new function
through `funchost.testing.TestHost`.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from pathlib import Path

from funchost.errors import ConfigError
from funchost.indexing.v1 import function_folders
from funchost.scaffold.project import write_if_missing
from funchost.scaffold.source import APP_CLASSES, BLUEPRINT_CLASSES, Module
from funchost.scaffold.templates import Template

SCRIPT = "function_app.py"
# The host's rule for function names.
FUNCTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,127}")
BLUEPRINT_VARIABLE = "bp"


class UnusableName(ValueError):
    """The chosen name (or module) cannot be used; the message says why."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


def new_function(
    app_dir: Path,
    template: Template,
    name: str,
    auth_level: str,
    module: str | None = None,
    say: Callable[[str], None] = print,
) -> None:
    if not (app_dir / "host.json").is_file():
        raise ConfigError(f"{app_dir}: no host.json; create the app first with 'funchost init'")
    if not FUNCTION_NAME.fullmatch(name):
        raise UnusableName(
            "name",
            f"invalid function name {name!r}: a letter, then letters, digits, '_' or '-'",
        )
    if (app_dir / SCRIPT).is_file():
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UnusableName(
                "name", f"invalid function name {name!r}: a v2 function's name is a Python name"
            )
        _new_v2(app_dir, template, name, auth_level, module, say)
    else:
        if module is not None:
            raise UnusableName("file", f"--file is for v2 apps: {app_dir} has no {SCRIPT}")
        _new_v1(app_dir, template, name, auth_level, say)
    test_name = "".join(c if c.isalnum() else "_" for c in name)
    test = Path("tests") / f"test_{test_name}.py"
    write_if_missing(app_dir / test, template.test_module(name), say, test.as_posix())
    say(f'The function "{name}" was created successfully from the "{template.name}" template.')


def _new_v1(
    app_dir: Path, template: Template, name: str, auth_level: str, say: Callable[[str], None]
) -> None:
    taken = {f.name.casefold(): f.name for f in function_folders(app_dir)}
    taken.update((p.name.casefold(), p.name) for p in app_dir.iterdir())
    if name.casefold() in taken:
        raise UnusableName("name", f"{taken[name.casefold()]!r} already exists in {app_dir}")
    folder = app_dir / name
    folder.mkdir()
    for file, text in (
        ("function.json", template.function_json(auth_level)),
        ("__init__.py", template.v1_module()),
    ):
        write_if_missing(folder / file, text, say, f"{name}/{file}")


def _new_v2(
    app_dir: Path,
    template: Template,
    name: str,
    auth_level: str,
    module_name: str | None,
    say: Callable[[str], None],
) -> None:
    app = Module.read(app_dir / SCRIPT)
    app_var = app.owner(APP_CLASSES)
    if app_var is None:
        raise ConfigError(f"{SCRIPT}: no FunctionApp assigned at the top level to add to")
    if module_name is not None:
        module_name = module_name.removesuffix(".py")
        if not module_name.isidentifier() or keyword.iskeyword(module_name):
            raise UnusableName("file", f"invalid module name {module_name!r}: use a Python name")
        if module_name == SCRIPT.removesuffix(".py"):
            module_name = None
    modules = [app] + [
        Module.read(app_dir / f"{m}.py")
        for m in sorted(app.imported_modules | set(app.from_imports.values()))
        if m != module_name and (app_dir / f"{m}.py").is_file()
    ]
    target = app
    if module_name is not None:
        path = app_dir / f"{module_name}.py"
        if path.is_file():
            target = Module.read(path)
        else:
            target = Module(path, "")
            target.ensure_func_import()
            target.ensure_logging_import()
            target.append(f"{BLUEPRINT_VARIABLE} = {target.func_alias}.Blueprint()\n")
            target.owners[BLUEPRINT_VARIABLE] = "Blueprint"
        modules.append(target)
    for existing in modules:
        for used in existing.function_names:
            if used.casefold() == name.casefold():
                raise UnusableName(
                    "name", f"a function named {used!r} exists in {existing.path.name}"
                )
    if name in target.top_names:
        raise UnusableName("name", f"{name!r} is already a name in {target.path.name}")
    owner = app_var
    if target is not app:
        blueprint = target.owner(BLUEPRINT_CLASSES)
        if blueprint is None:
            raise UnusableName(
                "file", f"{target.path.name} has no Blueprint assigned at the top level"
            )
        owner = blueprint
    func = target.ensure_func_import()
    target.ensure_logging_import()
    target.append(template.v2_function(owner, func, name, auth_level))
    creating = not target.path.exists()
    say(f"{'Writing' if creating else 'Appending to'} {target.path.name}")
    target.save()
    if target is not app and module_name is not None and not app.registers(module_name):
        app.ensure_module_import(module_name)
        app.append(f"{app_var}.register_functions({module_name}.{owner})\n")
        say(f"Registering {module_name}.{owner} in {SCRIPT}")
        app.save()
