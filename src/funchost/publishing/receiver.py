"""The server's side of `funchost publish`: the admin routes of `funchost serve` that take a
package, check it beside the running version, and switch to it.

- `GET /admin/funchost/versions`: the current version and those kept (the client asks first:
  a wrong key, or a server that takes no packages, is known before the package is sent).
- `POST /admin/funchost/publish?build=remote|none`: the zip as the body. It is spooled to a
  file in the state folder (never held in memory), at most `FUNCHOST_PUBLISH_MAX_PACKAGE`
  bytes (413 past it); unpacked into a new folder (funchost.publishing.unpack; 400 and one
  line for a bad package); with `build=remote`, requirements.txt is installed into its
  `.python_packages/lib/site-packages` by pip (422 with pip's last lines if pip fails); then
  the version is loaded by another process (funchost.publishing.check) with the app's
  settings, while this one keeps serving: any function that fails to load refuses the version
  (422 with the errors). Only then is it made current and the host switched to it.
- `POST /admin/funchost/rollback`: the version before the current one (409 when there is none).

Admin routes need the master key (funchost.http.app); these answer 404 unless the host runs
under `funchost serve` on funchost's server, which knows how to switch (funchost.server).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs

from funchost.config import HostConfig
from funchost.http.exchange import Request, Response
from funchost.packaging.build import (
    REQUIREMENTS,
    SITE_PACKAGES,
    BuildTarget,
    pip_command,
    provided_by_host,
)
from funchost.publishing.unpack import BadPackage, unpack
from funchost.publishing.versions import NoPreviousVersion, VersionStore

logger = logging.getLogger("funchost")

ROUTE = "funchost"
# How long loading a version may take in its checking process.
CHECK_TIMEOUT = 300.0
# Lines of pip's output returned when it fails.
PIP_TAIL = 15
_JSON = (b"content-type", b"application/json; charset=utf-8")

# Switches the serving processes to the current version; returns once no process that serves
# the old version takes another request.
Switch = Callable[[], Awaitable[None]]


class Refused(Exception):
    """A publish or rollback refused: its status and JSON body."""

    def __init__(self, status: int, error: str, **details: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"error": error, **details}


@dataclass
class CheckResult:
    functions: list[str] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)


class Publisher:
    """The publish and rollback routes of one `funchost serve` process."""

    def __init__(self, config: HostConfig, switch: Switch) -> None:
        self.config = config
        self.store = VersionStore(config.state_dir)
        self.keep = config.keep_versions
        self.switch = switch
        self.max_package = config.publish_max_package
        self.max_unpacked = config.publish_max_unpacked
        self.busy = False
        self.store.remove_leftovers()

    def handles(self, parts: list[str]) -> bool:
        """Whether `/admin/<parts>` is one of these routes."""
        return len(parts) == 2 and parts[0] == ROUTE

    async def answer(self, request: Request, parts: list[str]) -> Response:
        method, action = request.method, parts[1]
        if action == "versions" and method == "GET":
            state = self.store.read()
            return _json(200, {"current": state.current, "versions": self.store.published()})
        if action not in ("publish", "rollback"):
            return Response(404, [])
        if method != "POST":
            return Response(405, [(b"allow", b"POST")])
        if self.busy:
            return _json(409, {"error": "another publish or rollback is in progress"})
        self.busy = True
        try:
            if action == "publish":
                body = await self._publish(request)
            else:
                body = await self._roll_back()
        except Refused as refused:
            return _json(refused.status, refused.body)
        finally:
            self.busy = False
        return _json(200, body)

    async def _publish(self, request: Request) -> dict[str, Any]:
        query = parse_qs(request.query_string.decode("latin-1"))
        build = (query.get("build") or ["remote"])[0]
        if build not in ("remote", "none"):
            raise Refused(400, f"build must be 'remote' or 'none', not {build!r}")
        self.store.root.mkdir(parents=True, exist_ok=True)
        prefix = f".package-{os.getpid()}-"
        with tempfile.NamedTemporaryFile(dir=self.store.root, prefix=prefix) as spool:
            await self._spool(request, spool)
            loop = asyncio.get_running_loop()
            number, check = await loop.run_in_executor(
                None, self._prepare, Path(spool.name), build == "remote"
            )
        await self.switch()
        logger.info("Version %d is published and serving.", number)
        return {"version": number, "functions": check.functions}

    async def _spool(self, request: Request, spool: IO[bytes]) -> None:
        """Write the request body to `spool`, refusing it past `max_package` bytes."""
        limit = self.max_package
        declared = request.headers.get("content-length", "")
        too_large = Refused(
            413, f"the package is larger than {limit} bytes (FUNCHOST_PUBLISH_MAX_PACKAGE)"
        )
        if declared.isdigit() and int(declared) > limit:
            raise too_large
        size = 0
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise Refused(400, "the package did not arrive whole")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large
            spool.write(chunk)
            if not message.get("more_body", False):
                break
        spool.flush()

    def _prepare(self, package: Path, build: bool) -> tuple[int, CheckResult]:
        """Unpack, build and check a package in a new folder; the new version's number once
        it is current. Nothing is left of a refused package."""
        staged = self.store.staging()
        try:
            try:
                unpack(package, staged, self.max_unpacked)
            except BadPackage as exc:
                raise Refused(400, str(exc)) from None
            if not (staged / "host.json").is_file():
                raise Refused(400, "the package has no host.json at its root")
            if build:
                self._build(staged)
            check = check_version(self.config, staged)
            if check.errors:
                raise Refused(
                    422,
                    "the new version did not load; the current one keeps serving",
                    errors=check.errors,
                )
            state = self.store.publish(staged, self.keep)
        except BaseException:
            self.store.discard(staged)
            raise
        return state.current, check

    def _build(self, code: Path) -> None:
        """`pip install -r requirements.txt` into the version's `.python_packages`, without
        the packages the host provides."""
        requirements = code / REQUIREMENTS
        if not requirements.is_file():
            return
        lines = requirements.read_text(errors="replace").splitlines()
        wanted = [line for line in lines if not provided_by_host(line)]
        if not any(line.strip() and not line.lstrip().startswith("#") for line in wanted):
            return
        # Beside requirements.txt, so that its relative paths (`-r`, `-c`, wheel files) mean
        # what they mean in the developer's app folder; pip runs from there too.
        filtered = code / f".requirements-{os.getpid()}.txt"
        filtered.write_text("\n".join(wanted) + "\n")
        site_packages = code / SITE_PACKAGES
        site_packages.mkdir(parents=True, exist_ok=True)
        command = pip_command(filtered, site_packages, BuildTarget())
        try:
            done = subprocess.run(
                command, cwd=code, capture_output=True, text=True, errors="replace", check=False
            )
        finally:
            filtered.unlink(missing_ok=True)
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip().splitlines()
            raise Refused(
                422,
                f"pip could not install {REQUIREMENTS} (exit code {done.returncode}); "
                "the current version keeps serving",
                output=output[-PIP_TAIL:],
            )

    async def _roll_back(self) -> dict[str, Any]:
        try:
            state = self.store.roll_back()
        except NoPreviousVersion as exc:
            raise Refused(409, str(exc)) from None
        await self.switch()
        logger.info("Rolled back to version %d.", state.current)
        return {"version": state.current}


def check_version(config: HostConfig, code: Path) -> CheckResult:
    """Load the code in `code` in a process of its own, with the app's settings, and report the
    functions that loaded and those that did not."""
    prefix = f".check-{os.getpid()}-"
    with tempfile.NamedTemporaryFile(suffix=".json", dir=code.parent, prefix=prefix) as result:
        command = [
            sys.executable, "-P", "-m", "funchost.publishing.check",
            str(config.app_dir), str(code), result.name,
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command,
                cwd=code,
                capture_output=True,
                text=True,
                errors="replace",
                check=False,
                timeout=CHECK_TIMEOUT,
            )
            stderr, code_text = done.stderr, f"exit code {done.returncode}"
        except subprocess.TimeoutExpired:
            stderr, code_text = "", f"loading took more than {CHECK_TIMEOUT:g} s"
        try:
            raw = json.loads(Path(result.name).read_text() or "null")
        except (OSError, ValueError):
            raw = None
    if not isinstance(raw, dict):
        last = (stderr.strip().splitlines() or [code_text])[-1]
        return CheckResult(errors=[{"function": "", "file": "", "reason": last}])
    return CheckResult(list(raw.get("functions", [])), list(raw.get("errors", [])))


def _json(status: int, body: Any) -> Response:
    return Response(status, [_JSON], json.dumps(body).encode("utf-8"))
