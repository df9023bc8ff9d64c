"""The `funchost` command: thin argument parsing over the library."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from funchost import scaffold
from funchost.config import DEVELOPMENT, PRODUCTION, HostConfig, load_config
from funchost.durable import commands as _durable
from funchost.errors import ConfigError
from funchost.packaging import commands as _pack
from funchost.publishing import client as _publish
from funchost.scaffold.version import VersionAction
from funchost.settings_commands import add_commands as _settings_commands
from funchost.settings_commands import run as _settings


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
    parser.add_argument("--version", action=VersionAction)
    commands = parser.add_subparsers(dest="command", required=True)
    scaffold.add_commands(commands)
    _pack.add_commands(commands)
    _publish.add_commands(commands)
    _durable.add_commands(commands)

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
    _publish.add_serve_options(serve)
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
    _storage_commands(commands)
    _settings_commands(commands)
    return parser


def _storage_commands(commands: Any) -> None:
    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--app", dest="app_dir", default=".", help="the app folder (default: .)")
        sub.add_argument(
            "--connection",
            default=None,
            help="the connection setting to use (default: AzureWebJobsStorage)",
        )

    queue = commands.add_parser("queue", help="send, peek and list queue messages")
    queue_cmd = queue.add_subparsers(dest="queue_command", required=True)
    send = queue_cmd.add_parser("send", help="send messages (one per argument)")
    send.add_argument("queue")
    send.add_argument("messages", nargs="+", metavar="MESSAGE")
    send.add_argument("--raw", action="store_true", help="send as is, without base64 encoding")
    peek = queue_cmd.add_parser("peek", help="show visible messages without taking them")
    peek.add_argument("queue")
    peek.add_argument("--count", "-n", type=int, default=10)
    listing = queue_cmd.add_parser("list", help="list queues and their message counts")
    for sub in (send, peek, listing):
        common(sub)

    blob = commands.add_parser("blob", help="put, get, list and delete blobs")
    blob_cmd = blob.add_subparsers(dest="blob_command", required=True)
    put = blob_cmd.add_parser("put", help="upload a file (or stdin) as a blob")
    put.add_argument("path", help="container/blob-name")
    put.add_argument("file", nargs="?", default="-", help="the file to upload (default: stdin)")
    put.add_argument("--content-type", default=None)
    get = blob_cmd.add_parser("get", help="write a blob to stdout or a file")
    get.add_argument("path", help="container/blob-name")
    get.add_argument("--output", "-o", default="-")
    blobs = blob_cmd.add_parser("list", help="list containers, or the blobs of one")
    blobs.add_argument("container", nargs="?", default=None)
    blobs.add_argument("--prefix", default="")
    delete = blob_cmd.add_parser("delete", help="delete a blob")
    delete.add_argument("path", help="container/blob-name")
    for sub in (put, get, blobs, delete):
        common(sub)

    storage = commands.add_parser("storage", help="funchost's Azure Storage endpoint")
    storage_cmd = storage.add_subparsers(dest="storage_command", required=True)
    endpoint = storage_cmd.add_parser(
        "serve", help="serve the development account's Blob and Queue endpoints, as Azurite does"
    )
    endpoint.add_argument("--blob-port", type=_port, default=10000)
    endpoint.add_argument("--queue-port", type=_port, default=10001)
    endpoint.add_argument(
        "--table-port", type=_port, default=10002, help="answered, when free, with a clear 501"
    )
    endpoint.add_argument("--host", default="127.0.0.1")
    endpoint.add_argument(
        "--location", default=None, help="the data folder (default: the user's development storage)"
    )
    endpoint.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds without a request",
    )


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
        options.update(published=True, keep_versions=args.keep_versions)
    # Read into a copy of the environment first: with reload on, each serving child reads
    # local.settings.json itself, and must not inherit values this process applied.
    config = load_config(args.app_dir, **options, environ=dict(os.environ))
    if config.reload:
        from funchost.endpoint.embedded import EndpointSockets
        from funchost.reloader import run_with_reload

        # Bound here, so the storage endpoint's ports stay the same across reloads.
        sockets = EndpointSockets.for_host(config.settings, config.connection_strings, True)
        passed = sockets.environment() if sockets is not None else ({}, [])
        return run_with_reload(config.app_dir, config.host, config.port, _child_args(args), passed)
    from funchost.server import serve

    config = load_config(args.app_dir, **options)
    launch_dir = os.getcwd()
    # The host starts the language worker in the app folder: functions that open files by
    # relative paths find them there, in Azure and under Core Tools alike.
    os.chdir(config.code_root)
    return serve(config, _worker_args(args, config), not args.no_banner, launch_dir)


def _worker_args(args: argparse.Namespace, config: HostConfig) -> list[str]:
    """The command line of one worker of `serve --workers N`."""
    worker = ["serve", str(config.app_dir), "--host", config.host, "--port", str(config.port)]
    worker += ["--workers", "1", "--no-banner"]
    worker += ["--keep-versions", str(config.keep_versions)]
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


def _storage(args: argparse.Namespace) -> int:
    import asyncio

    from funchost.storage import commands
    from funchost.storage.base import StorageError
    from funchost.storage.names import InvalidName

    config = load_config(args.app_dir, mode=DEVELOPMENT, environ=dict(os.environ))

    async def run() -> int:
        async with commands.open_storage(config, args.connection) as storage:
            if args.command == "queue":
                if args.queue_command == "send":
                    ids = await commands.send_messages(
                        storage, config, args.queue, args.messages, args.raw
                    )
                    print(f"Sent {len(ids)} message(s) to '{args.queue}'.")
                elif args.queue_command == "peek":
                    peeked = await commands.peek_messages(storage, config, args.queue, args.count)
                    for m in peeked:
                        print(f"{m.id}\t{m.dequeue_count}\t{m.inserted}\t{m.text}")
                else:
                    for name, count in await commands.list_queues(storage):
                        print(f"{name}\t{count}")
            elif args.blob_command == "put":
                data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
                info = await commands.put_blob(storage, args.path, data, args.content_type)
                print(f"Stored {args.path} ({info.length} bytes, ETag {info.etag}).")
            elif args.blob_command == "get":
                data = await commands.get_blob(storage, args.path)
                if args.output == "-":
                    sys.stdout.buffer.write(data)
                    sys.stdout.flush()
                else:
                    Path(args.output).write_bytes(data)
            elif args.blob_command == "list":
                for line in await commands.list_blobs(storage, args.container, args.prefix):
                    print(line)
            else:
                await commands.delete_blob(storage, args.path)
                print(f"Deleted {args.path}.")
        return 0

    try:
        return asyncio.run(run())
    except (StorageError, InvalidName, OSError) as exc:
        print(f"funchost: error: {exc}", file=sys.stderr)
        return 1


def _storage_serve(args: argparse.Namespace) -> int:
    from funchost.endpoint.development import development_location
    from funchost.endpoint.serve import serve

    location = Path(args.location).resolve() if args.location else development_location()
    if args.idle_exit is not None and args.idle_exit <= 0:
        raise ConfigError("--idle-exit must be a number of seconds above 0")
    return serve(
        location,
        host=args.host,
        blob_port=args.blob_port,
        queue_port=args.queue_port,
        table_port=args.table_port,
        idle_exit=args.idle_exit,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "start":
            from funchost.appenv import run_in_app_environment

            # The app's own virtual environment, as Core Tools runs the worker in it.
            run_in_app_environment(
                Path(args.app_dir).resolve(), sys.argv[1:] if argv is None else argv
            )
            return _run_host(args, DEVELOPMENT)
        if args.command == "serve":
            return _run_host(args, PRODUCTION)
        if args.command == "keys":
            return _keys(args)
        if args.command in ("queue", "blob"):
            return _storage(args)
        if args.command == "storage":
            return _storage_serve(args)
        if args.command in scaffold.COMMANDS:
            return scaffold.run(args)
        if args.command == "settings":
            return _settings(args)
        if args.command == "pack":
            return _pack.run(args)
        if args.command in _publish.COMMANDS:
            return _publish.run(args)
        if args.command in _durable.COMMANDS:
            return _durable.run(args)
    except ConfigError as exc:
        print(f"funchost: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`funchost pack --list-included-files | head`): stop quietly,
        # as other command-line tools do, without a second error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
