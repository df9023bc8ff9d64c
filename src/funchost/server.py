"""Running the host: one process on uvicorn, or N supervised processes sharing one port."""

from __future__ import annotations

import json
import logging
import os
import socket
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from funchost.asgi import CONFIG_ENV, create_app
from funchost.banner import render_banner
from funchost.config import HostConfig
from funchost.indexing.index import index_app
from funchost.invocation.logs import configure_logging

logger = logging.getLogger("funchost")


class HostServer(uvicorn.Server):
    """uvicorn's server, except that a stop signal ends the process normally (exit 0) once
    in-flight requests are drained, instead of re-raising the signal."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def _uvicorn_options(config: HostConfig) -> dict[str, Any]:
    return {
        "host": config.host,
        "port": config.port,
        "http": "httptools",
        "loop": "uvloop",
        "lifespan": "on",
        # uvicorn's access log would print `?code=<key>`; funchost logs requests itself.
        "access_log": False,
        "server_header": False,
        "log_config": None,
        "timeout_graceful_shutdown": 30,
        "timeout_keep_alive": 120,
    }


def serve(config: HostConfig, load_options: dict[str, Any], listen_fd: int | None = None) -> int:
    """Run until SIGINT/SIGTERM; in-flight requests are drained before exit."""
    options = _uvicorn_options(config)
    if config.workers > 1:
        configure_logging(
            debug=config.debug_logging,
            verbose=config.verbose,
            function_level=config.host_options.log_level,
        )
        index = index_app(config)
        print(render_banner(config, index), flush=True)
        os.environ[CONFIG_ENV] = json.dumps(
            {**load_options, "app_dir": str(config.app_dir), "workers": 1}
        )
        uv_config = uvicorn.Config(
            "funchost.asgi:app_from_environment", factory=True, workers=config.workers, **options
        )
        sock = uv_config.bind_socket()
        Multiprocess(uv_config, sockets=[sock]).run()
        return 0
    app = create_app(config)
    print(render_banner(config, app.host.index), flush=True)
    uv_config = uvicorn.Config(app, **options)
    server = HostServer(uv_config)
    # Under the reload supervisor, the listening socket is inherited from it.
    sockets = [socket.socket(fileno=listen_fd)] if listen_fd is not None else None
    server.run(sockets=sockets)
    return 0 if server.started else 1
