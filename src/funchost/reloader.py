"""Reload on save for `funchost start`: a small supervisor that restarts the host on changes.

The supervisor holds the listening socket and runs `funchost start --no-reload` in a child
process that inherits it, so connections keep queueing while a new child starts. It imports
neither the app nor the host (a few MB), and watches the app folder for changed `.py` and
`.json` files; on a change it stops the child (SIGTERM: in-flight requests finish) and starts a
new one, which reads local.settings.json again and prints its banner, as the real host does.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import watchfiles

from funchost.invocation.logs import configure_logging
from funchost.supervisor import NOTHING_PASSED, HostChild, Passed, listening_socket

logger = logging.getLogger("funchost.reload")

IGNORED_DIRS = (
    ".venv",
    "venv",
    ".git",
    ".funchost",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
)


class AppFileFilter(watchfiles.DefaultFilter):
    """Changes to the app's own .py and .json files."""

    def __init__(self) -> None:
        super().__init__(ignore_dirs=IGNORED_DIRS)

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        return path.endswith((".py", ".json")) and super().__call__(change, path)


def run_with_reload(
    app_dir: Path,
    host: str,
    port: int,
    child_args: Sequence[str],
    passed: Passed = NOTHING_PASSED,
) -> int:
    """Serve `app_dir` from child processes, restarting on changes; returns the exit code.
    Each child also inherits `passed` (the storage endpoint's sockets)."""
    configure_logging(debug=False, verbose=False)
    sock = listening_socket(host, port)
    args = ["start", str(app_dir), *child_args, "--host", host, "--port", str(port), "--no-reload"]
    stop = threading.Event()
    child = HostChild(args, sock, passed)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for changes in watchfiles.watch(
            app_dir,
            watch_filter=AppFileFilter(),
            stop_event=stop,
            debounce=300,
            yield_on_timeout=True,
            rust_timeout=500,
            raise_interrupt=False,
        ):
            if stop.is_set():
                break
            if not changes:
                continue
            names = sorted({os.path.relpath(path, app_dir) for _, path in changes})
            logger.warning("Detected changes in %s; restarting the host.", ", ".join(names))
            child.restart()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        child.stop()
        sock.close()
    return 0
