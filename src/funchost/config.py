"""`HostConfig`: every setting funchost runs with, read once from files, flags and environment."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from funchost.errors import ConfigError
from funchost.hostjson import HOST_JSON, HostOptions, read_host_options
from funchost.settings import apply_settings, is_true, read_local_settings, split_origins

DEVELOPMENT = "development"
PRODUCTION = "production"
DEFAULT_BODY_LIMIT = 104_857_600
# Request bodies held at once by one host process: by default two bodies of the largest size.
BODY_BUDGET_SETTING = "FUNCHOST_REQUEST_BODY_BUDGET"
DEFAULT_SCRIPT = "function_app.py"
# Where the embedded store lives (default: <app>/.funchost); relative to the app folder.
DEVSTORAGE_DIR_SETTING = "FUNCHOST_DEVSTORAGE_DIR"
STATE_DIR_SETTING = "FUNCHOST_STATE_DIR"
# The listening socket a reload supervisor hands to the host process it starts.
LISTEN_FD_ENV = "FUNCHOST_LISTEN_FD"
_SCRIPT_NAME = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9_\-]*\.py$")


def script_name(setting: str | None) -> str:
    """The v2 script file (PYTHON_SCRIPT_FILE_NAME), validated as the worker validates it."""
    name = setting or DEFAULT_SCRIPT
    if not _SCRIPT_NAME.match(name):
        raise ConfigError(
            f"PYTHON_SCRIPT_FILE_NAME {name!r} is not a valid Python file name "
            "(letters, digits, '_' and '-', ending in .py)"
        )
    return name


@dataclass(frozen=True)
class HostConfig:
    app_dir: Path
    mode: str = DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = 7071
    cors_origins: tuple[str, ...] = ()
    cors_credentials: bool = False
    functions: tuple[str, ...] = ()
    enable_auth: bool = False
    verbose: bool = False
    workers: int = 1
    reload: bool = False
    settings: dict[str, str] = field(default_factory=dict)
    connection_strings: dict[str, str] = field(default_factory=dict)
    host_options: HostOptions = field(default_factory=HostOptions)
    secrets_dir: Path | None = None
    # Where the app's code is, when it is not `app_dir`: a version published to `serve`
    # (funchost.publishing). `app_dir` stays the app's identity: its keys, state and host id.
    code_dir: Path | None = None
    # Published versions kept in the state folder (`serve --keep-versions`).
    keep_versions: int = 5

    @property
    def code_root(self) -> Path:
        """The folder the functions and host.json are loaded from."""
        return self.code_dir or self.app_dir

    def setting(self, name: str, default: str | None = None) -> str | None:
        return self.settings.get(name, default)

    @property
    def state_dir(self) -> Path:
        """The app's local state folder: the embedded store's SQLite file lives here."""
        raw = self.setting(STATE_DIR_SETTING)
        return (self.app_dir / raw).resolve() if raw else self.app_dir / ".funchost"

    @property
    def development_storage_dir(self) -> Path:
        """Where funchost's endpoint for the development account keeps its data: the user's
        data folder, or FUNCHOST_DEVSTORAGE_DIR."""
        raw = self.setting(DEVSTORAGE_DIR_SETTING)
        if raw:
            return Path(raw).expanduser().resolve()
        from funchost.endpoint.development import development_location

        return development_location()

    @property
    def host_id(self) -> str:
        """The app's host id, shared by every instance: blob receipts, timer status and locks
        are kept under it. `AzureFunctionsWebHost__hostid`, else the site name, else the app
        folder's name; lower-case letters, digits and dashes, at most 32 characters."""
        raw = (
            self.setting("AzureFunctionsWebHost__hostid")
            or self.setting("WEBSITE_SITE_NAME")
            or self.app_dir.name
        )
        cleaned = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")[:32].rstrip("-")
        return cleaned or "funchost"

    @property
    def script_name(self) -> str:
        return script_name(self.setting("PYTHON_SCRIPT_FILE_NAME"))

    def _int_setting(self, name: str, expected: str) -> int | None:
        """The whole number in setting `name`, None when unset; a `ConfigError` saying it
        must be `expected` when it is not a number."""
        raw = self.setting(name)
        if not raw:
            return None
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be {expected}, found {raw!r}") from None

    @property
    def thread_count(self) -> int | None:
        count = self._int_setting("PYTHON_THREADPOOL_THREAD_COUNT", "a whole number")
        if count is not None and count < 1:
            raise ConfigError("PYTHON_THREADPOOL_THREAD_COUNT must be 1 or more")
        return count

    @property
    def worker_process_count(self) -> int:
        """FUNCTIONS_WORKER_PROCESS_COUNT: how many worker processes the real host starts
        (1 to 10, default 1)."""
        name, expected = "FUNCTIONS_WORKER_PROCESS_COUNT", "a whole number from 1 to 10"
        count = self._int_setting(name, expected)
        if count is None:
            return 1
        if not 1 <= count <= 10:
            raise ConfigError(f"{name} must be {expected}, found {self.setting(name)!r}")
        return count

    @property
    def def_threads(self) -> int:
        """How many `def` invocations may run at once in this host: the real host runs
        FUNCTIONS_WORKER_PROCESS_COUNT worker processes, each with PYTHON_THREADPOOL_THREAD_COUNT
        threads (Python's default, min(32, CPUs + 4), when unset)."""
        per_worker = self.thread_count or min(32, (os.cpu_count() or 1) + 4)
        return per_worker * self.worker_process_count

    @property
    def request_body_limit(self) -> int:
        limit = self._int_setting("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "a number of bytes")
        return DEFAULT_BODY_LIMIT if limit is None else limit

    @property
    def request_body_budget(self) -> int:
        """Bytes of request bodies one host process holds at once (`BODY_BUDGET_SETTING`);
        twice the body size limit unless set, and never less than that limit."""
        limit = self.request_body_limit
        budget = self._int_setting(BODY_BUDGET_SETTING, "a number of bytes")
        if budget is None:
            return 2 * limit
        if budget < limit:
            raise ConfigError(
                f"{BODY_BUDGET_SETTING} ({budget}) must be at least the request body size limit "
                f"({limit}, FUNCTIONS_REQUEST_BODY_SIZE_LIMIT)"
            )
        return budget

    def _size_setting(self, name: str, default: int) -> int:
        size = self._int_setting(name, "a number of bytes")
        if size is None:
            return default
        if size < 1:
            raise ConfigError(f"{name} must be 1 or more, found {self.setting(name)!r}")
        return size

    @property
    def publish_max_package(self) -> int:
        """The largest package `funchost publish` may send (FUNCHOST_PUBLISH_MAX_PACKAGE)."""
        return self._size_setting("FUNCHOST_PUBLISH_MAX_PACKAGE", 512 * 1024 * 1024)

    @property
    def publish_max_unpacked(self) -> int:
        """The most bytes a published package may unpack to (FUNCHOST_PUBLISH_MAX_UNPACKED)."""
        return self._size_setting("FUNCHOST_PUBLISH_MAX_UNPACKED", 2 * 1024 * 1024 * 1024)

    @property
    def homepage_disabled(self) -> bool:
        return is_true(self.setting("AzureWebJobsDisableHomepage"))

    @property
    def debug_logging(self) -> bool:
        return is_true(self.setting("PYTHON_ENABLE_DEBUG_LOGGING"))

    @property
    def worker_extensions_enabled(self) -> bool:
        raw = self.setting("PYTHON_ENABLE_WORKER_EXTENSIONS")
        if raw is None or raw == "":
            return sys.version_info[:2] == (3, 9)
        return is_true(raw)


def load_config(
    app_dir: str | os.PathLike[str],
    *,
    mode: str = DEVELOPMENT,
    host: str | None = None,
    port: int | None = None,
    cors: str | None = None,
    cors_credentials: bool | None = None,
    functions: Sequence[str] = (),
    enable_auth: bool = False,
    verbose: bool = False,
    workers: int = 1,
    reload: bool = False,
    environ: MutableMapping[str, str] | None = None,
    published: bool = False,
    code_dir: Path | None = None,
    keep_versions: int = 5,
) -> HostConfig:
    """Read host.json, local.settings.json (development only) and the environment.

    The environment is updated the way the real host prepares a worker's environment, so user
    code and libraries that read it behave as in Azure. With `published` (`serve`), the code
    is the current version published to the app, if there is one (funchost.publishing).
    """
    env = os.environ if environ is None else environ
    root = Path(app_dir).resolve()
    if not root.is_dir():
        raise ConfigError(f"app folder {str(app_dir)!r} does not exist")
    if not (root / HOST_JSON).is_file():
        raise ConfigError(f"{root}: no host.json found; is this an Azure Functions app folder?")
    if code_dir is None and published:
        code_dir = _published_code(root, env)
    code = code_dir or root
    host_options = read_host_options(code)
    connection_strings: dict[str, str] = {}
    cors_origins: tuple[str, ...] = ()
    credentials = False
    if mode == DEVELOPMENT:
        local = read_local_settings(root)
        apply_settings(local.values, env)
        connection_strings = dict(local.connection_strings)
        if port is None:
            port = local.local_http_port
        cors_origins = local.cors
        credentials = local.cors_credentials
    else:
        # App Service's platform CORS, which is what a function app in Azure gets.
        cors_origins = split_origins(env.get("WEBSITE_CORS_ALLOWED_ORIGINS") or "")
        credentials = is_true(env.get("WEBSITE_CORS_SUPPORT_CREDENTIALS"))
    if cors is not None:
        cors_origins = split_origins(cors)
    if cors_credentials:
        credentials = True
    if port is None:
        port = (
            7071
            if mode == DEVELOPMENT
            else int(env.get("PORT") or env.get("FUNCTIONS_HTTPWORKER_PORT") or 8080)
        )
    if host is None:
        host = "127.0.0.1" if mode == DEVELOPMENT else "0.0.0.0"
    env["AzureWebJobsScriptRoot"] = str(code)
    env["FUNCTIONS_APPLICATION_DIRECTORY"] = str(code)
    env.setdefault("FUNCTIONS_WORKER_RUNTIME", "python")
    env.setdefault("FUNCTIONS_EXTENSION_VERSION", "~4")
    env["AZURE_FUNCTIONS_ENVIRONMENT"] = "Development" if mode == DEVELOPMENT else "Production"
    env.setdefault("WEBSITE_HOSTNAME", f"localhost:{port}")
    script_name(env.get("PYTHON_SCRIPT_FILE_NAME"))
    secrets = env.get("FUNCTIONS_SECRETS_PATH")
    return HostConfig(
        app_dir=root,
        mode=mode,
        host=host,
        port=port,
        cors_origins=cors_origins,
        cors_credentials=credentials,
        functions=tuple(functions),
        enable_auth=enable_auth or mode == PRODUCTION,
        verbose=verbose,
        workers=workers,
        reload=reload and mode == DEVELOPMENT and host_options.file_watching,
        settings=dict(env),
        connection_strings=connection_strings,
        host_options=host_options,
        # Absolute now: a host process works in the app folder.
        secrets_dir=Path(secrets).absolute() if secrets else None,
        code_dir=code_dir,
        keep_versions=keep_versions,
    )


def _published_code(root: Path, env: MutableMapping[str, str]) -> Path | None:
    """The folder of the version published to the app at `root`, None for the app folder."""
    from funchost.publishing.versions import VersionStore

    state = HostConfig(app_dir=root, settings=dict(env)).state_dir
    return VersionStore(state).current_code()
