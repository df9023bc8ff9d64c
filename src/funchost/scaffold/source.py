"""Reading and extending a v2 module (function_app.py or a blueprint) without running it.

`funchost new` adds to files the developer owns: it parses them with `ast` to learn their
names (the FunctionApp or Blueprint, the alias of azure.functions, the functions they
register) and then only inserts lines: the imports the module lacks after its last top-level
import, and the new function at the end. Every existing line stays as it was.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from funchost.errors import ConfigError

APP_CLASSES = frozenset({"FunctionApp", "AsgiFunctionApp", "WsgiFunctionApp"})
BLUEPRINT_CLASSES = frozenset({"Blueprint"})
REGISTER_METHODS = frozenset({"register_functions", "register_blueprint"})


@dataclass
class Module:
    """What `new` needs to know of one module, and the lines it will add to it."""

    path: Path
    text: str
    func_alias: str | None = None  # the name `azure.functions` is imported as
    has_logging: bool = False
    owners: dict[str, str] = field(default_factory=dict)  # variable -> FunctionApp/Blueprint
    top_names: set[str] = field(default_factory=set)
    function_names: set[str] = field(default_factory=set)
    imports_end: int = 0  # the line after which imports go
    imported_modules: set[str] = field(default_factory=set)
    from_imports: dict[str, str] = field(default_factory=dict)  # local name -> module
    registered: list[ast.expr] = field(default_factory=list)
    _imports: list[str] = field(default_factory=list)
    _tail: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Module:
        text = path.read_text(encoding="utf-8")
        try:
            tree = ast.parse(text, filename=str(path))
        except SyntaxError as exc:
            raise ConfigError(
                f"{path.name}: line {exc.lineno}: {exc.msg}; fix it before adding a function"
            ) from None
        module = cls(path, text)
        module._learn(tree)
        return module

    def _learn(self, tree: ast.Module) -> None:
        body = tree.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            self.imports_end = body[0].end_lineno or 0  # after the docstring
        for node in body:
            if isinstance(node, ast.Import | ast.ImportFrom):
                self.imports_end = node.end_lineno or self.imports_end
                self._learn_import(node)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            self.top_names.add(name.id)
                kind = _constructed_class(node.value)
                if kind and len(targets) == 1 and isinstance(targets[0], ast.Name):
                    self.owners[targets[0].id] = kind
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.top_names.add(node.name)
                if not isinstance(node, ast.ClassDef) and node.decorator_list:
                    self.function_names.add(_function_name(node))
        for call in ast.walk(tree):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in REGISTER_METHODS
            ):
                self.registered.extend(call.args)

    def _learn_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                self.top_names.add(local)
                if alias.name == "azure.functions" and alias.asname:
                    self.func_alias = alias.asname
                if alias.name == "logging" and alias.asname is None:
                    self.has_logging = True
                if alias.asname is None and "." not in alias.name:
                    self.imported_modules.add(alias.name)
            return
        for alias in node.names:
            local = alias.asname or alias.name
            self.top_names.add(local)
            if node.module and node.level == 0:
                self.from_imports[local] = node.module
                if node.module == "azure" and alias.name == "functions":
                    self.func_alias = local

    def owner(self, classes: frozenset[str]) -> str | None:
        """The variable holding the module's FunctionApp (or Blueprint)."""
        for name, kind in self.owners.items():
            if kind in classes:
                return name
        return None

    def registers(self, module: str) -> bool:
        """Whether the module already registers a blueprint of `module`."""
        for arg in self.registered:
            if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name):
                if arg.value.id == module:
                    return True
            elif isinstance(arg, ast.Name) and self.from_imports.get(arg.id) == module:
                return True
        return False

    # -- additions -----------------------------------------------------------------------------

    def ensure_func_import(self) -> str:
        """The name of azure.functions in this module, importing it as `func` if need be."""
        if self.func_alias is None:
            self._imports.append("import azure.functions as func")
            self.func_alias = "func"
        return self.func_alias

    def ensure_logging_import(self) -> None:
        if not self.has_logging:
            self._imports.append("import logging")
            self.has_logging = True

    def ensure_module_import(self, module: str) -> None:
        if module not in self.imported_modules:
            self._imports.append(f"import {module}")
            self.imported_modules.add(module)

    def append(self, code: str) -> None:
        self._tail.append(code)

    def render(self) -> str:
        """The module with the additions: every existing line kept, in order."""
        lines = self.text.splitlines(keepends=True)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        if self._imports:
            added = [line + "\n" for line in self._imports]
            at = self.imports_end
            if at == 0 and lines and lines[0].startswith("#!"):
                at = 1
            if at == 0 and lines and lines[0].strip():
                added.append("\n")  # the first import ahead of the module's code
            lines[at:at] = added
        for code in self._tail:
            blank = 0
            for line in reversed(lines):
                if line.strip():
                    break
                blank += 1
            if len(lines) > blank:
                lines.extend("\n" for _ in range(max(0, 2 - blank)))
            lines.append(code)
        return "".join(lines)

    def save(self) -> None:
        self.path.write_text(self.render(), encoding="utf-8")


def _constructed_class(value: ast.expr | None) -> str | None:
    """`FunctionApp` for `func.FunctionApp(...)` or `FunctionApp(...)`, and so on."""
    if not isinstance(value, ast.Call):
        return None
    target = value.func
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    if name in APP_CLASSES or name in BLUEPRINT_CLASSES:
        return str(name)
    return None


def _function_name(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The function's name in the host: `@app.function_name(name=...)`, else the def's name."""
    for decorator in node.decorator_list:
        if (
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "function_name"
        ):
            values = [*decorator.args, *(k.value for k in decorator.keywords if k.arg == "name")]
            if values and isinstance(values[0], ast.Constant) and isinstance(values[0].value, str):
                return values[0].value
    return node.name
