"""Host and function logging: records tagged with the invocation they belong to.

The current invocation lives in a contextvar (copied into the thread that runs a sync
function), so a root-logger record made anywhere inside user code is shown with its function.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import TextIO

current_invocation: ContextVar[tuple[str, str] | None] = ContextVar(
    "funchost_invocation", default=None
)

HOST_LOGGER = "funchost"
_CONFIGURED_MARK = "_funchost_handler"


class InvocationTagFilter(logging.Filter):
    """Adds `function_name` and `invocation_id` to every record (empty outside invocations)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = current_invocation.get()
        if current is None:
            record.function_name = getattr(record, "function_name", "")
            record.invocation_id = getattr(record, "invocation_id", "")
        else:
            record.function_name, record.invocation_id = current
        return True


class HostFormatter(logging.Formatter):
    """`[2024-01-02T03:04:05.678Z] [Function] message`, the Core Tools console style."""

    def format(self, record: logging.LogRecord) -> str:
        t = record.created
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
        millis = int((t - int(t)) * 1000)
        message = record.getMessage()
        name = getattr(record, "function_name", "")
        prefix = f"[{stamp}.{millis:03d}Z] "
        if name and not record.name.startswith(HOST_LOGGER):
            prefix += f"[{name}] "
        if record.levelno >= logging.WARNING and not record.name.startswith(HOST_LOGGER):
            prefix += f"{record.levelname}: "
        text = prefix + message
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(*, debug: bool, verbose: bool, stream: TextIO | None = None) -> None:
    """Install the host handler on the root logger once per process."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _CONFIGURED_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    setattr(handler, _CONFIGURED_MARK, True)
    handler.addFilter(InvocationTagFilter())
    handler.setFormatter(HostFormatter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # Libraries funchost runs on are quiet unless asked.
    level = logging.DEBUG if verbose else logging.WARNING
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio"):
        logging.getLogger(name).setLevel(level)
    logging.getLogger("uvicorn.access").propagate = verbose
