"""Shared benchmark machinery: servers on free ports, readiness polling, wrk, RSS and CPU time.

Used by http_bench.py, http_breakdown.py, cold_start.py and load_test.py (run those, not this).
Everything talks only to 127.0.0.1, every wait has a timeout, and every server started here is
stopped here, by its PID (SIGTERM, then SIGKILL if it does not exit in time).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import http.client
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
APPS_DIR = BENCH_DIR / "apps"
RESULTS_DIR = BENCH_DIR / "results"
BIN_DIR = Path(sys.executable).parent
LOCALHOST = "127.0.0.1"
MIB = 1024 * 1024

# The log line funchost writes per invocation; compacted away unless --keep-logs is given.
_INVOCATION_LINE = re.compile(r"\] (Executing|Executed) 'Functions\.[^']+' \((\w+)")


class BenchError(RuntimeError):
    """A benchmark could not run (server did not start, wrk failed, ...)."""


# --------------------------------------------------------------------------- environment


def executable(name: str) -> str:
    """`name` from the virtualenv running this script, else from PATH."""
    candidate = BIN_DIR / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        hint = " (Debian/Ubuntu: apt-get install wrk)" if name == "wrk" else ""
        raise BenchError(f"{name!r} not found next to {sys.executable} nor on PATH{hint}")
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def wrk_version() -> str:
    try:
        out = subprocess.run(
            [executable("wrk"), "-v"], capture_output=True, text=True, timeout=10, check=False
        )
    except (BenchError, OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0] if first else "unknown"


def _git(*args: str) -> str:
    """A read-only git query in the repository ('' if git is unavailable)."""
    try:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def source_state() -> dict[str, Any]:
    """Which funchost code is measured: HEAD, uncommitted changes under src/, a digest of src/."""
    digest = hashlib.sha256()
    for path in sorted((REPO_ROOT / "src").rglob("*.py")):
        digest.update(str(path.relative_to(REPO_ROOT)).encode())
        digest.update(path.read_bytes())
    dirty = _git("status", "--porcelain", "--", "src")
    return {
        "commit": _git("rev-parse", "--short=12", "HEAD") or "unknown",
        "uncommitted_src": dirty.splitlines() if dirty else [],
        "src_sha256": digest.hexdigest()[:16],
    }


def check_source_unchanged(before: Mapping[str, Any]) -> dict[str, Any]:
    """Compare src/ with what it was at the start; warn (loudly) if it changed mid-run."""
    after = source_state()
    changed = after["src_sha256"] != before["src_sha256"]
    if changed:
        say(
            f"WARNING: funchost's source changed during this run ({before['commit']} "
            f"{before['src_sha256']} -> {after['commit']} {after['src_sha256']}); servers "
            "started at different times may have run different code. Re-run for clean numbers."
        )
    return {"after": after, "changed_during_run": changed}


def describe_source(state: Mapping[str, Any]) -> str:
    dirty = state["uncommitted_src"]
    extra = f" + uncommitted changes in {len(dirty)} src file(s)" if dirty else ""
    return f"funchost {state['commit']}{extra} (src sha256 {state['src_sha256']})"


def machine_info() -> dict[str, Any]:
    """Where and with what the benchmark ran; goes into every JSON result and markdown block."""
    load1, load5, load15 = os.getloadavg()
    return {
        "date": time.strftime("%Y-%m-%d", time.localtime()),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime()),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": [load1, load5, load15],
        "source": source_state(),
        "versions": {
            "funchost": _version("funchost"),
            "uvicorn": _version("uvicorn"),
            "httptools": _version("httptools"),
            "uvloop": _version("uvloop"),
            "azure-functions": _version("azure-functions"),
            "wrk": wrk_version(),
        },
    }


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.localtime())


def install_signal_handlers() -> None:
    """Turn SIGTERM/SIGHUP into SystemExit so `finally` blocks stop the servers we started."""

    def _exit(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit)


def run_main(main: Callable[[], int], name: str) -> NoReturn:
    """Run a benchmark script's main() and exit with what it returns; a BenchError becomes one
    line on stderr, "<name>: error: <message>", and exit code 1."""
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        sys.exit(1)


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server; "{port}" in `argv` is replaced by the chosen port."""

    key: str
    label: str
    argv: tuple[str, ...]
    path: str
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self, port: int) -> list[str]:
        return [arg.replace("{port}", str(port)) for arg in self.argv]


def uvicorn_spec(
    key: str,
    label: str,
    target: str,
    *,
    path: str = "/",
    env: Mapping[str, str] | None = None,
    factory: bool = False,
) -> ServerSpec:
    """An ASGI app from bench/apps (`target` is "module:attr"; with `factory`, a callable that
    makes the app, importable from anywhere) on uvicorn, single process, httptools + uvloop,
    no access log."""
    where = ("--factory",) if factory else ("--app-dir", str(APPS_DIR))
    return ServerSpec(
        key=key,
        label=label,
        argv=(
            executable("uvicorn"),
            *where,
            target,
            "--host",
            LOCALHOST,
            "--port",
            "{port}",
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--no-access-log",
            "--log-level",
            "warning",
        ),
        path=path,
        env=dict(env or {}),
    )


def funchost_server_spec(
    key: str,
    label: str,
    target: str,
    *,
    path: str = "/",
    env: Mapping[str, str] | None = None,
) -> ServerSpec:
    """An ASGI app from bench/apps (`target` is "module:attr") on funchost's own HTTP server,
    the one `funchost serve` runs the host on (bench/apps/on_funchost_server.py)."""
    return ServerSpec(
        key=key,
        label=label,
        argv=(sys.executable, str(APPS_DIR / "on_funchost_server.py"), target, "{port}"),
        path=path,
        env=dict(env or {}),
    )


def raw_asgi_spec(
    key: str = "a", label: str = "raw ASGI on uvicorn", path: str = "/"
) -> ServerSpec:
    """bench/apps/raw_asgi.py on uvicorn, single process, httptools + uvloop."""
    return uvicorn_spec(key, label, "raw_asgi:app", path=path)


def funchost_spec(
    key: str,
    label: str,
    app_dir: Path,
    *,
    command: str = "serve",
    path: str = "/api/hello",
    secrets_dir: Path | None = None,
    extra_args: Sequence[str] = (),
) -> ServerSpec:
    """`funchost serve|start APP --port P --host 127.0.0.1 [extra_args]` (serve: one process,
    --workers 1; start: a reload supervisor and its serving child unless --no-reload)."""
    env: dict[str, str] = {}
    if secrets_dir is not None and "FUNCTIONS_SECRETS_PATH" not in os.environ:
        # Keys the production host creates go to a throw-away folder, not the user's data dir.
        env["FUNCTIONS_SECRETS_PATH"] = str(secrets_dir)
    return ServerSpec(
        key=key,
        label=label,
        argv=(
            executable("funchost"),
            command,
            str(app_dir),
            "--port",
            "{port}",
            "--host",
            LOCALHOST,
            *extra_args,
        ),
        path=path,
        env=env,
    )


_live_servers: set[Server] = set()


def _stop_all_live() -> None:
    for server in list(_live_servers):
        server.stop()


atexit.register(_stop_all_live)


def http_get(
    port: int, path: str, timeout: float = 2.0
) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """GET http://127.0.0.1:port/path on a fresh connection; (status, headers, body), or None
    if no answer."""
    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        body = response.read()
        return response.status, response.getheaders(), body
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def http_status(port: int, path: str, timeout: float = 2.0) -> int | None:
    """GET http://127.0.0.1:port/path on a fresh connection; the status, or None if no answer."""
    answer = http_get(port, path, timeout)
    return None if answer is None else answer[0]


def rss_bytes(pid: int) -> int | None:
    """VmRSS of `pid` from /proc/<pid>/status, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


CLOCK_TICKS_PER_SEC = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3, state, is [0]); None if
    the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may itself contain spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def cpu_ticks(pid: int) -> int | None:
    """utime + stime + cutime + cstime of `pid` (all its threads, plus children it has waited
    for) from /proc/<pid>/stat, in clock ticks; None if the process is gone."""
    fields = _proc_stat(pid)
    if fields is None:
        return None
    # Fields 14-17 of proc(5): utime, stime, cutime, cstime.
    return sum(int(value) for value in fields[11:15])


def descendants(pid: int) -> list[int]:
    """PIDs of the live descendants of `pid` (children, grandchildren, ...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(int(entry))
            if fields is not None:
                parents[int(entry)] = int(fields[1])  # field 4: ppid
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def start_time(pid: int) -> int | None:
    """When `pid` started (clock ticks after boot, field 22 of /proc/<pid>/stat): with the PID
    it names one process even if the PID is reused. None if it is gone or a zombie."""
    fields = _proc_stat(pid)
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])


@dataclass(frozen=True)
class RssTree:
    """VmRSS of a process and of each of its live descendants, read one after another."""

    root: int
    by_pid: dict[int, int]  # pid -> bytes; the root first, then its descendants

    @property
    def total(self) -> int:
        """The sum over the processes (pages shared between them are counted in each)."""
        return sum(self.by_pid.values())

    @property
    def processes(self) -> int:
        return len(self.by_pid)


def rss_tree(pid: int) -> RssTree:
    """VmRSS of `pid` and of each of its live descendants (those gone meanwhile are left out)."""
    by_pid: dict[int, int] = {}
    for member in (pid, *descendants(pid)):
        value = rss_bytes(member)
        if value is not None:
            by_pid[member] = value
    return RssTree(root=pid, by_pid=by_pid)


def command_line(pid: int, limit: int = 160) -> str:
    """/proc/<pid>/cmdline with spaces between the arguments, cut at `limit` characters."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            text = cmdline.read().rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tcp_socket_inodes(local_port: int, remote_port: int) -> set[str]:
    """Inodes of the TCP sockets from `local_port` to `remote_port` (any address), from
    /proc/net/tcp and /proc/net/tcp6."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows, None)  # header
                for row in rows:
                    cols = row.split()
                    # cols[1] local "ADDR:PORT", cols[2] remote, cols[9] inode; ports in hex.
                    local = int(cols[1].rsplit(":", 1)[1], 16)
                    remote = int(cols[2].rsplit(":", 1)[1], 16)
                    if local == local_port and remote == remote_port and cols[9] != "0":
                        inodes.add(cols[9])
        except (FileNotFoundError, PermissionError):
            continue
    return inodes


def _holds_socket(pid: int, inodes: set[str]) -> bool:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return True
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return False


def serving_pid(pid: int, port: int, path: str, timeout: float = 5.0) -> int | None:
    """Which of `pid` and its live descendants answers HTTP on `port`: GET `path` on a
    kept-alive connection, then find the process holding the server end of that connection
    (a listening socket can be shared by a supervisor and its children, an accepted one is
    held by the process that accepted it). None if no process in the tree holds it."""
    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        conn.getresponse().read()
        if conn.sock is None:  # the server closed the connection after answering
            return None
        client_port: int = conn.sock.getsockname()[1]
        inodes = _tcp_socket_inodes(port, client_port)
        if not inodes:
            return None
        for member in (pid, *descendants(pid)):
            if _holds_socket(member, inodes):
                return member
        return None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


@dataclass(frozen=True)
class CpuSample:
    """CPU time used so far by a process and its live descendants, and when it was read."""

    at: float  # time.perf_counter()
    ticks: int
    processes: int

    @property
    def seconds(self) -> float:
        return self.ticks / CLOCK_TICKS_PER_SEC


def tree_cpu(pid: int) -> CpuSample:
    """CPU ticks of `pid` and its live descendants (a descendant that exits and is reaped in
    between is still counted, in its parent's cutime/cstime)."""
    total = 0
    count = 0
    for member in (pid, *descendants(pid)):
        ticks = cpu_ticks(member)
        if ticks is not None:
            total += ticks
            count += 1
    return CpuSample(at=time.perf_counter(), ticks=total, processes=count)


@dataclass
class LogSummary:
    path: str
    lines: int = 0
    executing: int = 0
    executed_succeeded: int = 0
    executed_failed: int = 0
    other_lines: int = 0
    compacted: bool = False


class Server:
    """One server process: started with output to a log file, stopped by PID."""

    def __init__(self, spec: ServerSpec, log_dir: Path) -> None:
        self.spec = spec
        self.port = 0
        self.log_path = (
            log_dir / f"{spec.key}-{re.sub(r'[^A-Za-z0-9]+', '-', spec.label).strip('-')}.log"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.returncode: int | None = None
        self.exited_early = False
        self.killed = False
        # Descendants still running (then killed by PID) after the started process exited.
        self.leftover: list[dict[str, Any]] = []

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise BenchError(f"{self.spec.label} is not running")
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}{self.spec.path}"

    def start(self) -> None:
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.spec.env}
        # Servers use and write bytecode caches, as they do for users (compile_sources).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        with open(self.log_path, "wb") as log:
            self.started_at = time.perf_counter()
            self.proc = subprocess.Popen(
                self.spec.command(self.port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO_ROOT,
                start_new_session=True,  # our Ctrl-C reaches us; we stop it ourselves
            )
        _live_servers.add(self)

    def wait_ready(self, timeout: float = 30.0, interval: float = 0.001) -> float:
        """Poll GET url (fresh connection each try) until 200; seconds since start()."""
        deadline = self.started_at + timeout
        while True:
            status = http_status(self.port, self.spec.path)
            now = time.perf_counter()
            if status == 200:
                return now - self.started_at
            if self.proc is not None and self.proc.poll() is not None:
                self.exited_early = True
                raise BenchError(
                    f"{self.spec.label} exited with code {self.proc.returncode} before answering"
                    f"; log {self.log_path}:\n{self.log_tail()}"
                )
            if now > deadline:
                raise BenchError(
                    f"{self.spec.label} did not answer 200 on {self.url} within {timeout:.0f} s"
                    f" (last status {status}); log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(interval)

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss(self) -> int | None:
        """VmRSS of the started process alone (not its descendants)."""
        return rss_bytes(self.pid) if self.is_running() else None

    def rss_tree(self) -> RssTree | None:
        """VmRSS of the started process and of each of its live descendants."""
        return rss_tree(self.pid) if self.is_running() else None

    def serving_pid(self) -> int | None:
        """The process (the started one or a descendant) that answers on the port."""
        return serving_pid(self.pid, self.port, self.spec.path) if self.is_running() else None

    def cpu(self) -> CpuSample:
        """CPU time used so far by the server process and its live descendants."""
        return tree_cpu(self.pid)

    def stop(self, timeout: float = 40.0, descendants_timeout: float = 10.0) -> int | None:
        """SIGTERM by PID, wait, SIGKILL by PID if still alive; the exit code.

        Descendants of the process (a reload supervisor's serving child, multiprocessing's
        resource tracker) are left to it to stop; any still running `descendants_timeout`
        seconds after it exited are recorded in `leftover` and killed by PID.
        """
        proc = self.proc
        if proc is None or self.returncode is not None:
            return self.returncode
        _live_servers.discard(self)
        tree = {pid: start_time(pid) for pid in descendants(proc.pid)}
        if proc.poll() is not None:
            self.exited_early = True  # it ended before we asked it to
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.returncode = proc.returncode
        self._stop_leftovers(tree, descendants_timeout)
        return self.returncode

    def _stop_leftovers(self, tree: Mapping[int, int | None], timeout: float) -> None:
        def alive() -> list[int]:
            return [pid for pid, t0 in tree.items() if t0 is not None and start_time(pid) == t0]

        deadline = time.perf_counter() + timeout
        while alive() and time.perf_counter() < deadline:
            time.sleep(0.05)
        for pid in alive():
            self.leftover.append({"pid": pid, "command": command_line(pid)})
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    @property
    def stopped_cleanly(self) -> bool:
        """Ran until we stopped it and exited by itself after SIGTERM (0, or -15: uvicorn
        re-raises the signal after its graceful shutdown), leaving no descendant running."""
        return (
            not self.exited_early
            and not self.killed
            and not self.leftover
            and self.returncode in (0, -signal.SIGTERM, 128 + signal.SIGTERM)
        )

    @property
    def exit_note(self) -> str:
        clean = "clean stop" if self.stopped_cleanly else "NOT a clean stop"
        left = f", {len(self.leftover)} descendant(s) left running" if self.leftover else ""
        return f"exit {self.returncode} ({clean}{left})"

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                size = log.tell()
                log.seek(max(0, size - 64 * 1024))
                text = log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def summarize_log(self, keep: bool = False, max_other_lines: int = 2000) -> LogSummary:
        """Count funchost's per-invocation lines; unless `keep`, rewrite the log without them.

        Under load funchost writes two lines per request (Executing/Executed), hundreds of MB
        per minute; the compacted log keeps every other line (banner, warnings, tracebacks).
        """
        summary = LogSummary(path=str(self.log_path))
        others: list[str] = []
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                for line in log:
                    summary.lines += 1
                    match = _INVOCATION_LINE.search(line)
                    if match is None:
                        summary.other_lines += 1
                        if len(others) < max_other_lines:
                            others.append(line)
                    elif match.group(1) == "Executing":
                        summary.executing += 1
                    elif match.group(2) == "Succeeded":
                        summary.executed_succeeded += 1
                    else:
                        summary.executed_failed += 1
                        summary.other_lines += 1
                        if len(others) < max_other_lines:
                            others.append(line)
        except FileNotFoundError:
            return summary
        if not keep and summary.executing:
            header = (
                f"# compacted by bench/harness.py: {summary.lines} lines, "
                f"{summary.executing} 'Executing', {summary.executed_succeeded} 'Executed "
                f"(Succeeded)' lines removed; {summary.executed_failed} 'Executed (Failed)' "
                f"kept; first {max_other_lines} other lines kept (--keep-logs keeps all)\n"
            )
            tmp = self.log_path.with_suffix(".tmp")
            tmp.write_text(header + "".join(others), encoding="utf-8")
            tmp.replace(self.log_path)
            summary.compacted = True
        return summary


@contextlib.contextmanager
def running(spec: ServerSpec, log_dir: Path, ready_timeout: float = 30.0) -> Iterator[Server]:
    """Start `spec`, wait for a 200, yield it; always stopped (by PID) on the way out."""
    server = Server(spec, log_dir)
    server.start()
    try:
        server.wait_ready(timeout=ready_timeout, interval=0.01)
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- wrk

_TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _to_ms(value: str, unit: str) -> float:
    return float(value) * _TIME_UNITS[unit]


@dataclass
class WrkResult:
    command: list[str]
    requests: int
    duration_s: float
    requests_per_sec: float
    latency_avg_ms: float | None
    latency_max_ms: float | None
    latency_p50_ms: float | None
    latency_p75_ms: float | None
    latency_p90_ms: float | None
    latency_p99_ms: float | None
    socket_errors: dict[str, int]
    non_2xx_3xx: int
    output: str

    @property
    def socket_error_count(self) -> int:
        return sum(self.socket_errors.values())

    @property
    def errors(self) -> int:
        """Socket errors of every kind (connect, read, write, timeout) + non-2xx/3xx."""
        return self.socket_error_count + self.non_2xx_3xx

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["errors"] = self.errors
        return data


def parse_wrk(output: str, command: list[str]) -> WrkResult:
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h),", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if total is None or rate is None:
        raise BenchError(f"could not parse wrk output:\n{output}")
    pct: dict[str, float] = {}
    for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M):
        pct[m.group(1)] = _to_ms(m.group(2), m.group(3))
    lat = re.search(r"Latency\s+([\d.]+)(us|ms|s|m|h)\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m|h)", output)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    if sock is not None:
        for name, value in zip(socket_errors, sock.groups(), strict=True):
            socket_errors[name] = int(value)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        command=command,
        requests=int(total.group(1)),
        duration_s=_to_ms(total.group(2), total.group(3)) / 1e3,
        requests_per_sec=float(rate.group(1)),
        latency_avg_ms=_to_ms(lat.group(1), lat.group(2)) if lat else None,
        latency_max_ms=_to_ms(lat.group(3), lat.group(4)) if lat else None,
        latency_p50_ms=pct.get("50"),
        latency_p75_ms=pct.get("75"),
        latency_p90_ms=pct.get("90"),
        latency_p99_ms=pct.get("99"),
        socket_errors=socket_errors,
        non_2xx_3xx=int(non_2xx.group(1)) if non_2xx else 0,
        output=output,
    )


def run_wrk(
    url: str,
    *,
    duration: float,
    connections: int,
    threads: int = 1,
    timeout_s: float = 2.0,
    latency: bool = True,
) -> WrkResult:
    """Run wrk against `url` for `duration` seconds and parse what it prints."""
    if connections < threads:
        raise BenchError("wrk needs at least as many connections as threads")
    command = [
        executable("wrk"),
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration))}s",
        f"--timeout={max(1, round(timeout_s))}s",
    ]
    if latency:
        command.append("--latency")
    command.append(url)
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=duration + timeout_s + 60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish: {' '.join(command)}") from exc
    if done.returncode != 0:
        raise BenchError(
            f"wrk exited {done.returncode}: {' '.join(command)}\n{done.stdout}{done.stderr}"
        )
    return parse_wrk(done.stdout, command)


# --------------------------------------------------------------------------- RSS sampling


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds on a background thread."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []  # (seconds since start, bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._t0 = 0.0

    def _run(self) -> None:
        tick = 0
        while True:
            value = rss_bytes(self.pid)
            if value is not None:
                self.samples.append((time.perf_counter() - self._t0, value))
            tick += 1
            delay = self._t0 + tick * self.interval - time.perf_counter()
            if self._stop.wait(max(0.0, delay)):
                return

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._thread.start()

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.samples


# --------------------------------------------------------------------------- reporting


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    if value != value:  # NaN
        return "-"
    return f"{value:.{digits}f}"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Aligned plain-text table; the first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(row) for row in rows)
    return "\n".join(out)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(out)


def machine_cells(info: Mapping[str, Any]) -> list[str]:
    """The date/machine/CPUs/Python cells that start every markdown row."""
    source = info["source"]
    commit = str(source["commit"]) + ("-dirty" if source["uncommitted_src"] else "")
    return [
        str(info["date"]),
        str(info["machine"]),
        str(info["cpu_count"]),
        str(info["python"]),
        commit,
    ]


MACHINE_HEADERS = ["Date", "Machine", "CPUs", "Python", "funchost"]


def write_json(kind: str, run_stamp: str, data: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{kind}-{run_stamp}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def report(
    kind: str,
    run_stamp: str,
    info: Mapping[str, Any],
    data: Mapping[str, Any],
    md_headers: Sequence[str],
    md_rows: Iterable[Sequence[str]],
) -> Path:
    """How every benchmark ends: check that src/ did not change during the run, write `data`
    plus that check ("source_check", the last key) as JSON, print the JSON's path, then print
    the markdown block: MACHINE_HEADERS + `md_headers`, each row machine_cells(info) + its
    cells. The path of the JSON."""
    path = write_json(
        kind, run_stamp, {**data, "source_check": check_source_unchanged(info["source"])}
    )
    say()
    say(f"JSON: {path}")
    say()
    say("Markdown:")
    say()
    machine = machine_cells(info)
    say(markdown_table([*MACHINE_HEADERS, *md_headers], [[*machine, *row] for row in md_rows]))
    return path


def log_dir_for(kind: str, run_stamp: str) -> Path:
    path = RESULTS_DIR / "logs" / f"{kind}-{run_stamp}"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)


def say(message: str = "") -> None:
    print(message, flush=True)


def begin(kind: str) -> tuple[str, dict[str, Any], Path]:
    """The start every benchmark shares: signal handling, run stamp, machine info (printed
    with the source state) and the run's log folder."""
    install_signal_handlers()
    run_stamp = stamp()
    info = machine_info()
    say(describe_source(info["source"]))
    compile_sources()
    return run_stamp, info, log_dir_for(kind, run_stamp)


def compile_sources(src: Path = REPO_ROOT / "src") -> None:
    """Byte-compile funchost's sources under `src`, as installing a package does, so that no
    server pays for compiling them (with PYTHONDONTWRITEBYTECODE set, every start compiled all
    of them: about 75 ms of a cold start)."""
    import compileall

    compileall.compile_dir(str(src / "funchost"), quiet=1)


@contextlib.contextmanager
def source_at(revision: str) -> Iterator[tuple[str, Path]]:
    """funchost's sources at git `revision`, checked out into a temporary worktree and
    byte-compiled: (the commit's short hash, the folder to put on PYTHONPATH). A server run
    with that PYTHONPATH is the same app served by that commit's funchost, measured in the
    same run as today's (a same-run baseline for "no regression" targets)."""
    found = subprocess.run(
        ["git", "rev-parse", "--short=12", "--verify", f"{revision}^{{commit}}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        raise BenchError(f"--baseline: {revision!r} is not a commit of this repository")
    commit = found.stdout.strip()
    with temp_dir("funchost-bench-baseline-") as parent:
        tree = parent / commit
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(tree), commit],
            cwd=REPO_ROOT,
            check=True,
        )
        try:
            compile_sources(tree / "src")
            yield commit, tree / "src"
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=REPO_ROOT, check=False
            )


def warm_up(url: str, args: Any) -> WrkResult:
    """A wrk run of `args.warmup` seconds with the run's connections and threads."""
    return run_wrk(
        url,
        duration=args.warmup,
        connections=args.connections,
        threads=args.threads,
        latency=False,
    )


def warn_unclean(key: str, server: Server, alive: bool, returncode: int | None, when: str) -> None:
    """Say, with the log's tail, that a server died or did not stop cleanly."""
    say(
        f"  [{key}] WARNING: server died or did not stop cleanly (alive after {when}: "
        f"{alive}, exit {returncode}, killed {server.killed}); log {server.log_path}"
    )
    say(server.log_tail())
