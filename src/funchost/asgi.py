"""Building the host's ASGI application, for funchost's own server or any ASGI server.

    uvicorn --factory funchost.asgi:app_from_environment   # FUNCHOST_APP_DIR=/path/to/app

`create_app()` is the same from Python.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from funchost.config import DEVELOPMENT, PRODUCTION, HostConfig, load_config
from funchost.errors import ConfigError
from funchost.host import Host
from funchost.http.app import HostApp
from funchost.invocation.logs import configure_logging

CONFIG_ENV = "FUNCHOST_CONFIG"


def create_app(config: HostConfig) -> HostApp:
    console = configure_logging(
        debug=config.debug_logging,
        verbose=config.verbose,
        levels=config.host_options.log_levels,
        development=config.mode == DEVELOPMENT,
    )
    return HostApp(Host(config, log_line=console.line, serve_storage=True))


def app_from_environment() -> HostApp:
    """The app described by FUNCHOST_CONFIG (JSON of `load_config` arguments) or
    FUNCHOST_APP_DIR, for ASGI servers that take an application factory."""
    raw = os.environ.get(CONFIG_ENV)
    options: dict[str, Any] = json.loads(raw) if raw else {}
    app_dir = options.pop("app_dir", None) or os.environ.get("FUNCHOST_APP_DIR") or "."
    options.setdefault("mode", PRODUCTION)
    try:
        config = load_config(app_dir, **options)
    except ConfigError as exc:
        # In a worker or reloaded process: one line, and the supervisor carries on.
        print(f"funchost: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    return create_app(config)
