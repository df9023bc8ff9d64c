"""Running the host: one process on funchost's HTTP server, or N supervised processes on one
port."""

from __future__ import annotations

import gc
import logging
import socket
from collections.abc import Sequence

from funchost.asgi import create_app
from funchost.banner import show_banner
from funchost.config import DEVELOPMENT, PRODUCTION, HostConfig
from funchost.dispatch import HandedConnections
from funchost.endpoint.embedded import EndpointSockets
from funchost.http.server import HttpServer
from funchost.indexing.index import index_app
from funchost.invocation.logs import configure_logging
from funchost.supervisor import NOTHING_PASSED, WorkerPool, inherited_socket, listening_socket

logger = logging.getLogger("funchost")
# A worker's exit code when every thread of its `def` pool is held by timed-out functions
# (EX_TEMPFAIL): it drained, and its supervisor starts a new one.
EXIT_POOL_EXHAUSTED = 75


def serve(
    config: HostConfig,
    worker_args: Sequence[str] = (),
    banner: bool = True,
    launch_dir: str | None = None,
) -> int:
    """Run until SIGINT/SIGTERM; in-flight requests are drained before exit.

    `worker_args` are the command-line arguments that start one worker process, used when
    `config.workers` > 1. Under `serve` (production), versions published to the app are
    switched to: a single process re-executes itself (in `launch_dir`, where its command line
    was given) on the same socket, the pool of `--workers` replaces its workers.
    """
    if config.workers > 1:
        return _run_workers(config, worker_args)
    # A worker of `serve --workers N` serves the connections its supervisor hands it.
    link = HandedConnections.from_environment()
    sock = link or inherited_socket() or listening_socket(config.host, config.port)
    app = create_app(config)
    if banner:
        endpoint = app.host.storage_endpoint
        sockets = endpoint.sockets if endpoint is not None else None
        show_banner(config, app.host.index, sockets)
        _say_version(config)
    server = HttpServer(
        app,
        respond=app.respond if link is None else link.counting(app.respond),
        limits=config.host_options.http_limits,
        on_started=_freeze_startup_objects,
    )
    if config.mode != PRODUCTION:
        return server.run(sock)
    from funchost.publishing.switch import ProcessSwitch, WorkerSwitch

    if link is None:
        assert isinstance(sock, socket.socket)
        switch = ProcessSwitch(server, sock, app.host.storage_endpoint, launch_dir)
        app.publisher = switch.publisher(config)
        code = server.run(switch.listener)
        switch.restart_if_asked(code)  # does not return when a switch was asked
        return code
    app.publisher = WorkerSwitch(server, link).publisher(config)
    # A worker of `serve --workers N`: its supervisor replaces a worker that exits.
    exhausted = False

    def replace_this_worker() -> None:
        nonlocal exhausted
        exhausted = True
        logger.error(
            "This worker stops taking requests, drains and exits with code %d so that its "
            "supervisor starts a new one.",
            EXIT_POOL_EXHAUSTED,
        )
        server.stop()

    app.host.invoker.on_pool_exhausted = replace_this_worker
    code = server.run(sock)
    return EXIT_POOL_EXHAUSTED if exhausted and code == 0 else code


def _say_version(config: HostConfig) -> None:
    """One line when the app serves a published version (funchost.publishing)."""
    if config.code_dir is not None:
        print(
            f"Serving version {config.code_dir.name} published to this app ({config.code_dir});"
            " roll back with 'funchost publish URL --rollback'.",
            flush=True,
        )


def _freeze_startup_objects() -> None:
    """Exempt what exists once the app is loaded from the cyclic garbage collector.

    The app, azure.functions and funchost live as long as the process; without this, every full
    collection walks all of them and stalls requests for milliseconds (the p99 of `def`
    functions under load).
    """
    gc.collect()
    gc.freeze()


def _run_workers(config: HostConfig, worker_args: Sequence[str]) -> int:
    configure_logging(
        debug=config.debug_logging,
        verbose=config.verbose,
        levels=config.host_options.log_levels,
        development=config.mode == DEVELOPMENT,
    )
    # Every worker serves the storage endpoint on the same two sockets.
    sockets = EndpointSockets.for_host(config.settings, config.connection_strings, False)
    show_banner(config, index_app(config), sockets)
    _say_version(config)
    sock = listening_socket(config.host, config.port)
    passed = sockets.environment() if sockets is not None else NOTHING_PASSED
    return WorkerPool(worker_args, config.workers, sock, passed).run()
