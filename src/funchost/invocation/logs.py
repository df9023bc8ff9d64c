"""Host and function logging: records tagged with the invocation they belong to, filtered by
host.json's log levels, and written to the console in order with `print()` output.

As in the Python worker, the invocation a record belongs to is found from the asyncio task
that runs an async function, from the thread that runs a sync one, or from a thread the
function started that named its invocation in `context.thread_local_storage`. (A contextvar
would also reach tasks the function starts itself, but setting one for every invocation cost
more than the rest of the invocation bookkeeping together.)
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import asyncio

Tag = tuple[str, str]  # (function name, invocation id)

# `context.thread_local_storage`: one object for every invocation, on which each thread sets its
# own `invocation_id`, as in the Python worker. The invoker sets it in the threads it runs
# functions in; a thread the function starts sets it itself, and its records are then the
# invocation's.
THREAD_LOCAL = threading.local()


class InvocationTags:
    """Which invocation the running code serves: by asyncio task, by pool thread, or by a
    thread that named its invocation."""

    def __init__(self) -> None:
        # The invocation of each task running one. The invoker sets and removes its entry
        # itself, with no method call: this happens twice per invocation.
        self.tasks: dict[object, Tag] = {}
        self._thread = threading.local()

    def enter_thread(self, tag: Tag) -> None:
        self._thread.tag = tag

    def leave_thread(self) -> None:
        self._thread.tag = None

    def current(self) -> Tag | None:
        tag: Tag | None = getattr(self._thread, "tag", None)
        if tag is not None:
            return tag
        import asyncio  # here, so the reload supervisor that logs too need not load asyncio

        try:
            task = asyncio.current_task()
        except RuntimeError:  # no event loop in this thread: perhaps one the function started
            return self.named_by_thread()
        return self.tasks.get(task) if task is not None else None

    def named_by_thread(self) -> Tag | None:
        """The running invocation this thread named in `context.thread_local_storage`.

        Only while it runs: the real host drops the records of an invocation that has ended.
        """
        invocation_id = getattr(THREAD_LOCAL, "invocation_id", None)
        if not invocation_id:
            return None
        # A copy taken in one step: the loop's thread adds and removes entries meanwhile.
        for tag in tuple(self.tasks.values()):
            if tag[1] == invocation_id:
                return tag
        return None


# One per process, like the root logger whose filter reads it.
INVOCATION_TAGS = InvocationTags()

HOST_LOGGER = "funchost"
_CONFIGURED_MARK = "_funchost_handler"


# The host's log levels (Microsoft.Extensions.Logging) as thresholds for Python records. The
# worker sends a Python record at the host level of its Python level (DEBUG as Debug, INFO as
# Information, ...), so Trace and Debug let the same records through.
LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "information": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "none": logging.CRITICAL + 1,
}
LEVEL_NAMES = ("Trace", "Debug", "Information", "Warning", "Error", "Critical", "None")

# Loggers whose records the Python worker sends as system logs, which never reach the console:
# its own, and the azure.functions library's ("SDK" logs), children included.
SYSTEM_LOGGERS = ("azure_functions_worker", "azure.functions")
# The host categories of funchost's own records (the first prefix that matches); the lines
# around invocations and their failures are `Function.<Name>`.
HOST_CATEGORIES = (
    ("funchost.indexing", "Host.Startup"),
    ("funchost.loader", "Host.Startup"),
    ("funchost.extension", "Host.Startup"),
    ("funchost", "Host.General"),
)
_SYSTEM_CATEGORIES = ("host.", "microsoft.", "worker.")


def parse_level(value: object, category: str) -> int:
    """A host.json level (a name in any case, or its number) as a threshold; the host's error."""
    text = str(value).strip()
    key = LEVEL_NAMES[int(text)].lower() if text.isdigit() and int(text) < 7 else text.lower()
    if key not in LEVELS:
        raise ValueError(f"Configuration value '{value}' for category '{category}' is unsupported.")
    return LEVELS[key]


class LogLevels:
    """Which records reach the console: host.json `logging.logLevel`, by category.

    As ASP.NET Core's logging filter: the rule whose category is the longest prefix of the
    record's category (case-insensitive) wins, then `default`. Without a rule, `start` has
    Core Tools' console defaults (functions' records from Information, the host's own from
    Warning, or Information under `--verbose`), `serve` the host's (Information for all); and
    `--verbose` shows functions' Debug records too. Categories: `Function.<Name>.User` for what
    a function logs, `Function.<Name>` for the host's lines about its invocations, `Host.*`
    for the host's own records, and the logger's name for records outside any invocation.
    """

    def __init__(self) -> None:
        self.configure({})

    def configure(
        self, rules: Mapping[str, object], *, development: bool = False, verbose: bool = False
    ) -> None:
        self._default: int | None = None
        self._rules: list[tuple[str, int]] = []
        for category, value in rules.items():
            level = parse_level(value, category)
            if category.lower() == "default":
                self._default = level
            else:
                self._rules.append((category.lower(), level))
        self._user = logging.DEBUG if verbose else logging.INFO
        self._system = logging.WARNING if development and not verbose else logging.INFO
        self._thresholds: dict[str, int] = {}
        self._lines: dict[str, bool] = {}

    def threshold(self, category: str) -> int:
        """The lowest Python level of a record in `category` that is shown."""
        level = self._thresholds.get(category)
        if level is None:
            level = self._thresholds[category] = self._select(category)
        return level

    def _select(self, category: str) -> int:
        lowered = category.lower()
        best: tuple[str, int] | None = None
        for prefix, level in self._rules:
            if lowered.startswith(prefix) and (best is None or len(prefix) >= len(best[0])):
                best = (prefix, level)
        if best is not None:
            return best[1]
        if self._default is not None:
            return self._default
        if lowered.startswith(_SYSTEM_CATEGORIES) and lowered != "host.function.console":
            return self._system
        return self._user

    def function_lines(self, name: str) -> bool:
        """Whether the `Executing`/`Executed` lines of function `name` are shown."""
        shown = self._lines.get(name)
        if shown is None:
            shown = self._lines[name] = self.threshold(f"Function.{name}") <= logging.INFO
        return shown


# One per process, like the root logger whose handler reads it (and the invoker).
LOG_LEVELS = LogLevels()


def record_category(record: logging.LogRecord, function_name: str) -> str:
    """The host category of `record`, logged in function `function_name` ("" if none)."""
    name = record.name
    if name.startswith(HOST_LOGGER):
        if function_name and name == "funchost.invocation":
            return f"Function.{function_name}"
        return next(category for prefix, category in HOST_CATEGORIES if name.startswith(prefix))
    if function_name:
        return f"Function.{function_name}.User"
    return name


class ConsoleFilter(logging.Filter):
    """Tags every record with `function_name` and `invocation_id` (empty outside invocations)
    and lets through only what the host shows: no system logs of the worker or the library,
    and each category from its level on."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(SYSTEM_LOGGERS):
            return False
        current = INVOCATION_TAGS.current()
        if current is None:
            function_name = record.function_name = getattr(record, "function_name", "")
            record.invocation_id = getattr(record, "invocation_id", "")
        else:
            function_name, record.invocation_id = current
            record.function_name = function_name
        category = record_category(record, function_name)
        return record.levelno >= LOG_LEVELS.threshold(category)


class HostFormatter(logging.Formatter):
    """`[2024-01-02T03:04:05.678Z] [Function] message`, the Core Tools console style."""

    _second = -1
    _stamp = ""

    def stamp(self, t: float) -> str:
        """`2024-01-02T03:04:05.678Z`; the part up to the second is formatted once a second."""
        return self.stamp_ms(int(t * 1000))

    def stamp_ms(self, ms: int) -> str:
        """The stamp of a time in whole milliseconds since the epoch."""
        second, fraction = divmod(ms, 1000)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{fraction:03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        name = getattr(record, "function_name", "")
        prefix = f"[{self.stamp(record.created)}] "
        if name and not record.name.startswith(HOST_LOGGER):
            prefix += f"[{name}] "
        if record.levelno >= logging.WARNING and not record.name.startswith(HOST_LOGGER):
            prefix += f"{record.levelname}: "
        text = prefix + message
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


_now = time.time


class ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to a terminal at once; to a file or pipe in batches, from the event loop.

    Two lines per invocation written and flushed one by one cost more than the invocation
    itself under load. So when nobody watches a terminal, lines are queued, and the first line
    of a batch asks the event loop the host runs on to write the batch `interval` seconds
    later. The loop assembles the batch: a thread that woke up to assemble and write batches
    itself, the earlier design, cost about 6% of the request rate (docs/benchmarks.md). A
    regular file is written by the loop too. A pipe or socket, whose reader could stall, is
    written by a writer thread that only writes, so a slow reader never blocks the host (and
    the rate is the same as with a file). Without a running loop (the CLI, the reload
    supervisor), and at exit, lines are written at once.
    """

    def __init__(self, stream: TextIO, interval: float = 0.01) -> None:
        super().__init__(stream)
        self.host_formatter = HostFormatter()
        self.setFormatter(self.host_formatter)
        self.interactive = bool(getattr(stream, "isatty", lambda: False)())
        self.interval = interval
        # Lines wait here for their batch. `line` appends on the loop's thread, where batches
        # are taken too; other threads append and take under the handler's lock, so a line is
        # never appended between a check that found the list empty and the flush it schedules.
        # Each line whole, its `[time] ` prefix and line break included.
        self._pending: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop that writes batches
        # The `[time] ` prefix of the millisecond [_prefix_from, _prefix_until) in seconds.
        self._prefix_from = self._prefix_until = 0.0
        self._prefix = ""
        self._writer = None if _never_blocks(stream) else _WriterThread(stream)
        if not self.interactive:
            atexit.register(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:
            self.handleError(record)
            return
        if self.interactive:
            self._write_now(text + "\n")
            return
        with self.lock:  # type: ignore[union-attr]
            first = not self._pending
            self._pending.append(text + "\n")
        if first:
            self._schedule()

    def write_text(self, text: str) -> None:
        """Write `text` as it is (whole lines of `print()` output), in order with the lines."""
        if self.interactive:
            self._write_now(text)
            return
        with self.lock:  # type: ignore[union-attr]
            first = not self._pending
            self._pending.append(text)
        if first:
            self._schedule()

    def line(self, message: str, *args: object) -> None:
        """Write one host line, `message % args`, skipping LogRecord creation (hot path).

        Called on the event loop's thread, for every invocation: callers on the hot path pass
        the message already formatted (an f-string costs less than `%`). The `[time] ` prefix
        is formatted once per millisecond, which many lines share under load, and telling
        whether the millisecond changed costs two float comparisons.
        """
        now = _now()
        if now >= self._prefix_until or now < self._prefix_from:  # (the clock can go back)
            self._set_prefix(now)
        text = f"{self._prefix}{message % args if args else message}\n"
        if self.interactive:
            self._write_now(text)
            return
        pending = self._pending
        pending.append(text)
        if len(pending) == 1:
            self._schedule()

    def _set_prefix(self, now: float) -> None:
        ms = int(now * 1000)
        self._prefix_from = ms / 1000
        self._prefix_until = (ms + 1) / 1000
        self._prefix = f"[{self.host_formatter.stamp_ms(ms)}] "

    def _schedule(self) -> None:
        """Have the first line's batch written `interval` from now, or at once without a loop."""
        import asyncio  # here, so the reload supervisor that logs too need not load asyncio

        loop = asyncio._get_running_loop()
        if loop is not None:
            self._loop = loop
            loop.call_later(self.interval, self._flush_batch)
            return
        loop = self._loop
        if loop is not None and loop.is_running():
            try:  # a line from another thread: the loop writes its batch
                loop.call_soon_threadsafe(loop.call_later, self.interval, self._flush_batch)
                return
            except RuntimeError:  # the loop closed meanwhile
                pass
        self.flush()

    def _flush_batch(self) -> None:
        writer = self._writer
        if writer is None or not writer.alive:
            self.flush()
            return
        text = self._take()
        if text:
            writer.put(text)

    def _take(self) -> str:
        with self.lock:  # type: ignore[union-attr]
            pending = self._pending
            if not pending:
                return ""
            text = "".join(pending)
            pending.clear()
        return text

    def flush(self) -> None:
        """Write every queued line now, in this thread (after any batch the writer holds)."""
        text = self._take()
        if self._writer is not None:
            self._writer.drain()
        if text:
            self._write_now(text)

    def _write_now(self, text: str) -> None:
        with self.lock:  # type: ignore[union-attr]
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass


def _never_blocks(stream: TextIO) -> bool:
    """Whether writing to `stream` cannot stall for long: a regular file, or in memory."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return True  # no file descriptor: an in-memory stream
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


class _WriterThread:
    """Writes batches to a pipe or socket, so a reader that stalls never stalls the loop."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._queue: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._unwritten = 0  # batches handed over and not yet written
        self._written = threading.Condition()
        self._thread: threading.Thread | None = None
        self.alive = True

    def put(self, text: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="log-writer")
            self._thread.start()
        with self._written:
            self._unwritten += 1
        self._queue.put(text)

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until the batches handed over are written (for a final flush, in order)."""
        if threading.current_thread() is not self._thread:
            with self._written:
                self._written.wait_for(lambda: self._unwritten == 0, timeout)

    def _run(self) -> None:
        while True:
            text = self._queue.get()
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                self.alive = False  # the reader is gone: later lines are written in place
            with self._written:
                self._unwritten -= 1
                if not self._unwritten:
                    self._written.notify_all()


class ConsoleOutput(io.TextIOBase):
    """`sys.stdout` while the console is a file or a pipe: `print()` output goes through the
    console handler, so it keeps its place among the log lines the handler batches.

    (The worker's stdout reaches the real host's console the same way, a line at a time.) A
    line is passed on once complete; `flush()` passes on an incomplete one. Writing to a
    terminal needs none of this: the handler writes every line at once there.
    """

    def __init__(self, handler: ConsoleHandler, stream: TextIO) -> None:
        super().__init__()
        self.handler = handler
        self.stream = stream
        self._partial = ""
        self._lock = threading.Lock()
        atexit.register(self.flush)  # before the handler's own final flush (LIFO)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:  # held while handing over, so lines from threads keep their order
            pending = self._partial + text
            end = pending.rfind("\n") + 1
            self._partial = pending[end:]
            if end:
                self.handler.write_text(pending[:end])
        return len(text)

    def flush(self) -> None:
        with self._lock:
            text, self._partial = self._partial, ""
            if text:
                self.handler.write_text(text)

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self.stream.errors

    @property
    def buffer(self) -> io.BufferedIOBase:
        # Bytes written here bypass the handler, and so its order.
        return self.stream.buffer  # type: ignore[return-value]

    def __getattr__(self, name: str) -> Any:
        # The rest of the real stream's interface: `name`, `mode`, `reconfigure()`, ...
        return getattr(self.stream, name)


def configure_logging(
    *,
    debug: bool,
    verbose: bool,
    stream: TextIO | None = None,
    levels: Mapping[str, object] | None = None,
    development: bool = False,
) -> ConsoleHandler:
    """Install the host handler on the root logger once per process.

    `levels` is host.json's `logging.logLevel`; `development` selects Core Tools' console
    defaults (`start`) over the host's (`serve`); `debug` is PYTHON_ENABLE_DEBUG_LOGGING, which
    lets `logging.debug` records be made at all, as in the worker (so does `verbose`).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _CONFIGURED_MARK, False):
            root.removeHandler(handler)
    if isinstance(sys.stdout, ConsoleOutput):
        sys.stdout.flush()
        sys.stdout = sys.stdout.stream
    handler = ConsoleHandler(stream or sys.stdout)
    setattr(handler, _CONFIGURED_MARK, True)
    handler.addFilter(ConsoleFilter())
    root.addHandler(handler)
    if stream is None and not handler.interactive:
        sys.stdout = ConsoleOutput(handler, sys.stdout)
    LOG_LEVELS.configure(levels or {}, development=development, verbose=verbose)
    root.setLevel(logging.DEBUG if debug or verbose else logging.INFO)
    # Libraries funchost runs on are quiet unless asked.
    library_level = logging.DEBUG if verbose else logging.WARNING
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "asyncio", "watchfiles"):
        logging.getLogger(name).setLevel(library_level)
    logging.getLogger("uvicorn.access").propagate = False
    # The storage SDKs log every request and response at INFO: far too much, even verbose.
    for name in ("azure.core", "azure.storage"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler
