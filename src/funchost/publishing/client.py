"""`funchost publish URL [APP_DIR]`: pack the app (funchost.packaging) and send it to a running
`funchost serve`, authenticated with its master key; or `--rollback`.

Core Tools' `func azure functionapp publish` builds remotely by default; so does this: the
server installs requirements.txt (`--build remote`). `--build local` packs the app with its
requirements installed here (as `funchost pack --build local`), `--build none` as it is.
The client first asks the server for its versions, so that a refused key or a server that
takes no packages is known before the package is sent.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from funchost.errors import ConfigError
from funchost.publishing.versions import DEFAULT_KEEP

COMMANDS = ("publish",)
MASTER_KEY_ENV = "FUNCHOST_MASTER_KEY"
ADMIN = "/admin/funchost"
_CHUNK = 1 << 20


class PublishFailed(Exception):
    """The server refused, or could not be reached: one line, and maybe details under it."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


def _keep(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of versions {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--keep-versions must be 1 or more, not {value}")
    return value


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--keep-versions",
        type=_keep,
        default=DEFAULT_KEEP,
        metavar="N",
        help=f"published versions to keep (default: {DEFAULT_KEEP})",
    )


def add_commands(commands: Any) -> None:
    publish = commands.add_parser(
        "publish",
        help="send the app to a running 'funchost serve' (like 'func azure functionapp publish')",
        description="Pack the app and publish it to a running 'funchost serve', which switches "
        "to it once every function loads; or roll back to the version before.",
    )
    publish.add_argument("url", metavar="URL", help="the server, such as http://host:8080")
    publish.add_argument(
        "app_dir", nargs="?", default=".", metavar="APP_DIR", help="the app folder (default: .)"
    )
    publish.add_argument(
        "--build",
        choices=("remote", "local", "none"),
        default="remote",
        help="remote: the server installs requirements.txt (default); local: install it here "
        "into the package; none: send the folder as it is",
    )
    publish.add_argument(
        "--rollback",
        action="store_true",
        help="switch the server back to the version before the current one",
    )
    publish.add_argument(
        "--master-key",
        default=None,
        metavar="KEY",
        help=f"the server's master key (default: ${MASTER_KEY_ENV})",
    )


def run(args: argparse.Namespace) -> int:
    key = args.master_key or os.environ.get(MASTER_KEY_ENV)
    if not key:
        raise ConfigError(
            f"no master key: pass --master-key KEY or set {MASTER_KEY_ENV} "
            "('funchost keys list' on the server shows it)"
        )
    url = args.url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"invalid URL {args.url!r}: expected http://HOST[:PORT]")
    try:
        if args.rollback:
            answer = _send(url, key, "rollback", None, {})
            print(f"Rolled back: version {answer['version']} is serving at {url}.")
            return 0
        return _publish(args, url, key)
    except PublishFailed as failed:
        print(f"funchost: error: {failed}", file=sys.stderr)
        for line in failed.details:
            print(f"  {line}", file=sys.stderr)
        return 1


def _publish(args: argparse.Namespace, url: str, key: str) -> int:
    from funchost.packaging.build import BuildTarget
    from funchost.packaging.pack import check_app_dir, pack_app

    app_dir = check_app_dir(Path(args.app_dir))
    _send(url, key, "versions", None, {})  # a refused key or a wrong server, before packing
    with tempfile.TemporaryDirectory(prefix="funchost-publish-") as work:
        package = Path(work) / f"{app_dir.name or 'app'}.zip"
        try:
            summary = pack_app(
                app_dir, package, build="local" if args.build == "local" else "none",
                target=BuildTarget(),
            )  # fmt: skip
        except OSError as exc:
            raise ConfigError(f"{exc.strerror or exc}: {exc.filename}") from None
        build = "remote" if args.build == "remote" else "none"
        print(
            f"Publishing {summary.files} files ({summary.size} bytes) to {url}"
            + (", built remotely" if build == "remote" else "")
            + "...",
            flush=True,
        )
        answer = _send(url, key, "publish", package, {"build": build})
    functions = answer.get("functions") or []
    print(f"Version {answer['version']} is serving at {url}. Functions:")
    for name in functions:
        print(f"    {name}")
    if not functions:
        print("    (none)")
    return 0


def _chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            yield chunk


def _send(
    url: str, key: str, action: str, package: Path | None, params: dict[str, str]
) -> dict[str, Any]:
    import httpx

    headers = {"x-functions-key": key}
    target = f"{url}{ADMIN}/{action}"
    try:
        with httpx.Client(timeout=httpx.Timeout(900.0, connect=15.0)) as client:
            if action == "versions":
                response = client.get(target, headers=headers)
            elif package is None:
                response = client.post(target, headers=headers)
            else:
                headers["content-type"] = "application/zip"
                headers["content-length"] = str(package.stat().st_size)
                response = client.post(
                    target, headers=headers, params=params, content=_chunks(package)
                )
    except httpx.HTTPError as exc:
        raise PublishFailed(f"cannot reach {url}: {exc or type(exc).__name__}") from None
    status = response.status_code
    if status == 401:
        raise PublishFailed(
            f"{url} refused the master key (401): check --master-key or {MASTER_KEY_ENV}"
        )
    if status in (404, 405):
        raise PublishFailed(
            f"{url} does not take packages ({status}): publish to a host run by 'funchost serve'"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if status == 200:  # a server, but not funchost's
            raise PublishFailed(
                f"{url} does not take packages (its answer is not funchost's): publish to a "
                "host run by 'funchost serve'"
            )
        raise PublishFailed(f"{url} answered {status} {response.reason_phrase}")
    if status != 200:
        details = [_error_line(e) for e in body.get("errors") or []]
        details += [str(line) for line in body.get("output") or []]
        raise PublishFailed(f"{body.get('error') or f'status {status}'} ({status})", details)
    return body


def _error_line(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    # A script that fails as a whole is its own "function".
    where = ", ".join(dict.fromkeys(str(error[k]) for k in ("function", "file") if error.get(k)))
    return f"{where}: {error.get('reason', '')}" if where else str(error.get("reason", ""))
