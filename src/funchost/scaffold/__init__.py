"""Creating apps and functions: `funchost init`, `funchost templates list` and `funchost new`.

The spellings are Core Tools' (`-m V2`, `--worker-runtime python`, `-t "HTTP trigger"`,
`-a anonymous`), so the same commands work with either tool. Only argument parsing lives here;
`project`, `templates`, `source` and `new` do the work.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError

COMMANDS = frozenset({"init", "templates", "new"})
RUNTIME = "python"


def _model(text: str) -> str:
    from funchost.scaffold.project import MODELS

    model = text.strip().lower()
    if model not in MODELS:
        raise argparse.ArgumentTypeError(f"invalid model {text!r} (choose from 'v1', 'v2')")
    return model


def _runtime(text: str) -> str:
    if text.strip().lower() != RUNTIME:
        raise argparse.ArgumentTypeError(
            f"unsupported worker runtime {text!r}: funchost runs Python function apps only"
        )
    return RUNTIME


def _language(text: str) -> str:
    if text.strip().lower() != RUNTIME:
        raise argparse.ArgumentTypeError(
            f"unsupported language {text!r}: funchost runs Python function apps only"
        )
    return RUNTIME


def _template(text: str) -> Any:
    from funchost.scaffold.templates import find_template

    template = find_template(text)
    if template is None:
        raise argparse.ArgumentTypeError(
            f"unknown template {text!r} (see 'funchost templates list')"
        )
    return template


def _auth_level(text: str) -> str:
    from funchost.scaffold.templates import AUTH_LEVELS

    level = text.strip().lower()
    if level not in AUTH_LEVELS:
        raise argparse.ArgumentTypeError(
            f"invalid auth level {text!r} (choose from 'anonymous', 'function', 'admin')"
        )
    return level


def add_commands(commands: Any) -> None:
    """Add `init`, `templates` and `new` to funchost's subcommands."""
    init = commands.add_parser("init", help="create a new function app (like 'func init')")
    init.add_argument(
        "app_dir", nargs="?", default=".", metavar="DIR", help="the app folder (default: .)"
    )
    init.add_argument(
        "--model",
        "-m",
        type=_model,
        default="v2",
        metavar="{v1,v2}",
        help="v1 (function.json) or v2 (decorators, the default)",
    )
    init.add_argument(
        "--worker-runtime",
        type=_runtime,
        default=RUNTIME,
        metavar="python",
        help="accepted for Core Tools' sake: python is the only one",
    )
    init.add_argument("--docker", action="store_true", help="add a Dockerfile and .dockerignore")
    init.set_defaults(scaffold_parser=init)

    templates = commands.add_parser("templates", help="list the templates of 'funchost new'")
    templates_cmd = templates.add_subparsers(dest="templates_command", required=True)
    templates_cmd.add_parser("list", help="list the templates")

    new = commands.add_parser("new", help="add a function from a template (like 'func new')")
    new.add_argument("--template", "-t", type=_template, required=True, help="e.g. 'HTTP trigger'")
    new.add_argument("--name", "-n", required=True, help="the function's name")
    new.add_argument(
        "--authlevel",
        "--auth-level",
        "-a",
        dest="auth_level",
        type=_auth_level,
        default=None,
        metavar="LEVEL",
        help="HTTP trigger only: anonymous, function (default) or admin",
    )
    new.add_argument(
        "--language",
        "-l",
        type=_language,
        default=RUNTIME,
        metavar="python",
        help="accepted for Core Tools' sake: Python is the only one",
    )
    new.add_argument(
        "--file",
        "-f",
        dest="module",
        default=None,
        metavar="MODULE",
        help="v2: put the function in this blueprint module, registered in function_app.py",
    )
    new.add_argument(
        "--app", dest="app_dir", default=".", metavar="DIR", help="the app folder (default: .)"
    )
    new.set_defaults(scaffold_parser=new)


def run(args: argparse.Namespace) -> int:
    if args.command == "templates":
        from funchost.scaffold.templates import TEMPLATES

        print("Python Templates:")
        for template in TEMPLATES:
            also = f"  (also: {', '.join(template.aliases)})" if template.aliases else ""
            print(f"  {template.name}{also}")
        return 0
    parser: argparse.ArgumentParser = args.scaffold_parser
    try:
        return _create(args, parser)
    except OSError as exc:  # a folder that is a file, no permission, a full disk
        raise ConfigError(f"{exc.strerror or exc}: {exc.filename}") from None


def _create(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "init":
        from funchost.scaffold.project import init_project

        init_project(Path(args.app_dir).resolve(), args.model, args.docker)
        return 0
    from funchost.scaffold.new import UnusableName, new_function
    from funchost.scaffold.templates import DEFAULT_AUTH_LEVEL

    if args.auth_level is not None and not args.template.is_http:
        parser.error(
            f"argument --authlevel/--auth-level/-a: the {args.template.name} template has no "
            "auth level (HTTP trigger only)"
        )
    try:
        new_function(
            Path(args.app_dir).resolve(),
            args.template,
            args.name,
            args.auth_level or DEFAULT_AUTH_LEVEL,
            args.module,
        )
    except UnusableName as exc:
        option = {"name": "--name/-n", "file": "--file/-f"}[exc.option]
        parser.error(f"argument {option}: {exc}")
    return 0
