"""The `funchost` command: thin argument parsing over the library."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from funchost import __version__
from funchost.config import DEVELOPMENT, PRODUCTION, HostConfig, load_config
from funchost.errors import ConfigError


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="funchost", description="Run Azure Functions Python apps without Core Tools."
    )
    parser.add_argument("--version", action="version", version=f"funchost {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="run the development host (like 'func start')")
    start.add_argument("app_dir", nargs="?", default=".")
    start.add_argument("--port", "-p", type=_port, default=None)
    start.add_argument("--host", default=None)
    start.add_argument("--cors", default=None, help="comma-separated allowed origins")
    start.add_argument("--cors-credentials", action="store_true")
    start.add_argument("--functions", nargs="+", default=[], metavar="NAME")
    start.add_argument("--enable-auth", "--enableAuth", action="store_true", dest="enable_auth")
    start.add_argument("--verbose", action="store_true")
    start.add_argument(
        "--no-reload",
        action="store_false",
        dest="reload",
        help="do not restart when a .py or .json file of the app changes",
    )

    serve = commands.add_parser("serve", help="run the production host")
    serve.add_argument("app_dir", nargs="?", default=".")
    serve.add_argument("--port", "-p", type=_port, default=None)
    serve.add_argument("--host", default=None)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--verbose", action="store_true")
    for command in (start, serve):
        # Set by the supervisor of --workers and reload: it has printed the banner itself.
        command.add_argument("--no-banner", action="store_true", help=argparse.SUPPRESS)

    keys = commands.add_parser("keys", help="list or change function keys")
    keys_cmd = keys.add_subparsers(dest="keys_command", required=True)
    keys_list = keys_cmd.add_parser("list", help="show every key")
    keys_list.add_argument("app_dir", nargs="?", default=".")
    for name, helptext in (("set", "set a key to a value"), ("new", "generate a new key value")):
        sub = keys_cmd.add_parser(name, help=helptext)
        sub.add_argument("scope", help="'master', 'host', or a function name")
        sub.add_argument("name", nargs="?", default="default", help="key name (default: default)")
        if name == "set":
            sub.add_argument("value")
        sub.add_argument("--app", dest="app_dir", default=".")
    return parser


def _run_host(args: argparse.Namespace, mode: str) -> int:
    options: dict[str, Any] = {
        "mode": mode,
        "host": args.host,
        "port": args.port,
        "verbose": args.verbose,
    }
    if mode == DEVELOPMENT:
        options.update(
            cors=args.cors,
            cors_credentials=args.cors_credentials,
            functions=list(args.functions),
            enable_auth=args.enable_auth,
            reload=args.reload,
        )
    else:
        if args.workers < 1:
            raise ConfigError("--workers must be 1 or more")
        options["workers"] = args.workers
    # Read into a copy of the environment first: with reload on, each serving child reads
    # local.settings.json itself, and must not inherit values this process applied.
    config = load_config(args.app_dir, **options, environ=dict(os.environ))
    if config.reload:
        from funchost.reloader import run_with_reload

        return run_with_reload(config.app_dir, config.host, config.port, _child_args(args))
    from funchost.server import serve

    config = load_config(args.app_dir, **options)
    return serve(config, _worker_args(args, config), banner=not args.no_banner)


def _worker_args(args: argparse.Namespace, config: HostConfig) -> list[str]:
    """The command line of one worker of `serve --workers N`."""
    worker = ["serve", str(config.app_dir), "--host", config.host, "--port", str(config.port)]
    worker += ["--workers", "1", "--no-banner"]
    if args.verbose:
        worker.append("--verbose")
    return worker


def _child_args(args: argparse.Namespace) -> list[str]:
    """The `start` flags to pass on to the serving child of the reload supervisor."""
    child: list[str] = []
    if args.cors is not None:
        child += ["--cors", args.cors]
    if args.cors_credentials:
        child.append("--cors-credentials")
    if args.functions:
        child += ["--functions", *args.functions]
    if args.enable_auth:
        child.append("--enable-auth")
    if args.verbose:
        child.append("--verbose")
    return child


def _keys(args: argparse.Namespace) -> int:
    from funchost.indexing.v1 import function_folders
    from funchost.keys import KeyStore, default_secrets_dir, describe_keys

    app_dir = Path(args.app_dir).resolve()
    if not app_dir.is_dir():
        raise ConfigError(f"app folder {args.app_dir!r} does not exist")
    secrets = os.environ.get("FUNCTIONS_SECRETS_PATH")
    store = KeyStore(Path(secrets) if secrets else default_secrets_dir(app_dir))
    if args.keys_command == "list":
        names = [f.name for f in function_folders(app_dir)]
        if not names and (app_dir / "function_app.py").is_file():
            config = load_config(app_dir, mode=PRODUCTION)
            from funchost.indexing.index import index_app

            names = [f.name for f in index_app(config).functions]
        store.ensure(names)
        print(f"Keys in {store.secrets_dir}:")
        for scope, name, value in describe_keys(store, names):
            print(f"{scope}\t{name}\t{value}")
        return 0
    value = store.set_key(args.scope, args.name, getattr(args, "value", None))
    print(value)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "start":
            return _run_host(args, DEVELOPMENT)
        if args.command == "serve":
            return _run_host(args, PRODUCTION)
        if args.command == "keys":
            return _keys(args)
    except ConfigError as exc:
        print(f"funchost: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
