"""`funchost serve --workers N` over real sockets: each new connection goes to the worker with
the least load, SIGTERM drains every worker's in-flight requests and exits 0, and a worker
that dies or stops on its own is replaced while the others serve.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningHost, StartHost, write_app

APP = """
import os, pathlib, time
import azure.functions as func
app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

@app.route(route="slow")
def slow(req: func.HttpRequest) -> str:
    started = os.environ.get("STARTED_DIR")
    if started:
        pathlib.Path(started, req.params["id"]).write_text(str(os.getpid()))
    time.sleep(float(req.params.get("s", "1")))
    return str(os.getpid())

@app.route(route="pid")
async def pid(req: func.HttpRequest) -> str:
    return str(os.getpid())
"""

# Enough tries to catch a stop that loses a request now and then (it lost about half).
DRAIN_TRIES = 10


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    return write_app(tmp_path / "app", {"function_app.py": APP})


def eventually(check: Callable[[], object], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.02)


def wait_for_started(folder: Path, count: int) -> None:
    """Wait until `count` requests to /api/slow have started (each writes a file there)."""
    eventually(lambda: len(list(folder.iterdir())) >= count, what=f"{count} requests to start")


def worker_pids(host: RunningHost) -> set[int]:
    """The supervisor's children (its workers)."""
    pid = host.proc.pid
    with contextlib.suppress(FileNotFoundError):
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return {int(p) for p in text.split()}
    return set()


def running(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent to reap it has exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def serving_pids(host: RunningHost, count: int, timeout: float = 60) -> set[int]:
    """Wait until `count` different workers have answered (each new connection goes to the
    least-loaded ready worker, so an idle pool rotates); their pids."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen & worker_pids(host)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {seen} answered:\n{host.output()}")
        with contextlib.suppress(httpx.TransportError):
            seen.add(int(httpx.get(f"{host.base_url}/api/pid", timeout=10).text))
    return seen & worker_pids(host)


class Burst:
    """Requests sent at the same moment, each on a fresh connection of its own."""

    def __init__(self, urls: list[str]) -> None:
        self.responses: list[httpx.Response | BaseException | None] = [None] * len(urls)
        self.barrier = threading.Barrier(len(urls) + 1)
        self.threads = [
            threading.Thread(target=self._get, args=(i, url), daemon=True)
            for i, url in enumerate(urls)
        ]
        for thread in self.threads:
            thread.start()
        self.barrier.wait()
        self.sent_at = time.monotonic()

    def _get(self, index: int, url: str) -> None:
        try:
            with httpx.Client(timeout=60) as client:
                self.barrier.wait()
                self.responses[index] = client.get(url)
        except BaseException as exc:
            self.responses[index] = exc

    def wait(self) -> tuple[list[httpx.Response], float]:
        """The responses (failing on any error) and the seconds until the last arrived."""
        for thread in self.threads:
            thread.join(90)
        elapsed = time.monotonic() - self.sent_at
        errors = [r for r in self.responses if not isinstance(r, httpx.Response)]
        assert not errors, errors
        return [r for r in self.responses if isinstance(r, httpx.Response)], elapsed


@pytest.mark.parametrize("workers", [2, 4])
def test_sigterm_drains_the_in_flight_requests_of_every_worker_then_exits_0(
    start_host: StartHost, app_dir: Path, tmp_path: Path, workers: int
) -> None:
    for attempt in range(DRAIN_TRIES):
        started = tmp_path / f"started-{attempt}"
        started.mkdir()
        host = start_host(
            app_dir, "--workers", str(workers), command="serve", env={"STARTED_DIR": str(started)}
        )
        serving_pids(host, workers)
        burst = Burst([f"{host.base_url}/api/slow?id={i}&s=1" for i in range(workers)])
        wait_for_started(started, workers)
        host.proc.send_signal(signal.SIGTERM)
        responses, _ = burst.wait()
        assert [r.status_code for r in responses] == [200] * workers
        assert host.proc.wait(40) == 0, host.output()
        assert "Failed" not in host.output()


def test_signals_to_the_supervisor_and_its_workers_at_once_still_drain(
    start_host: StartHost, app_dir: Path, tmp_path: Path
) -> None:
    """As systemd stops a service: every process of it gets SIGTERM at the same moment."""
    for attempt in range(3):
        started = tmp_path / f"started-{attempt}"
        started.mkdir()
        host = start_host(
            app_dir, "--workers", "2", command="serve", env={"STARTED_DIR": str(started)}
        )
        pids = serving_pids(host, 2)
        burst = Burst([f"{host.base_url}/api/slow?id={i}&s=1" for i in range(2)])
        wait_for_started(started, 2)
        for pid in (host.proc.pid, *pids):
            os.kill(pid, signal.SIGTERM)
        responses, _ = burst.wait()
        assert [r.status_code for r in responses] == [200, 200]
        assert host.proc.wait(40) == 0, host.output()
        assert "Failed" not in host.output()


def test_a_second_sigterm_stops_at_once(
    start_host: StartHost, app_dir: Path, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    started.mkdir()
    host = start_host(app_dir, "--workers", "2", command="serve", env={"STARTED_DIR": str(started)})
    burst = Burst([f"{host.base_url}/api/slow?id=long&s=60"])
    wait_for_started(started, 1)
    host.proc.send_signal(signal.SIGTERM)
    host.wait_for_output("signal again to stop at once")
    stopped_at = time.monotonic()
    host.proc.send_signal(signal.SIGTERM)
    host.proc.wait(30)
    assert time.monotonic() - stopped_at < 15
    burst.threads[0].join(30)
    assert not isinstance(burst.responses[0], httpx.Response)  # cut off


@pytest.mark.parametrize("workers", [2, 4])
def test_four_concurrent_def_requests_are_spread_evenly_over_the_workers(
    start_host: StartHost, app_dir: Path, workers: int
) -> None:
    host = start_host(
        app_dir,
        "--workers",
        str(workers),
        command="serve",
        env={"PYTHON_THREADPOOL_THREAD_COUNT": "1"},
    )
    serving_pids(host, workers)
    for attempt in range(5):
        burst = Burst([f"{host.base_url}/api/slow?id={attempt}-{i}&s=1" for i in range(4)])
        responses, elapsed = burst.wait()
        assert [r.status_code for r in responses] == [200] * 4
        per_worker = collections.Counter(r.text for r in responses)
        # One thread per worker: 2 workers need 2 rounds of 1 s, only with a 2-2 split.
        assert sorted(per_worker.values()) == [4 // workers] * workers, per_worker
        assert elapsed <= 2.5, f"{elapsed:.2f} s with {per_worker}"
    assert host.stop() == 0


def test_a_worker_killed_with_sigkill_is_replaced_and_the_load_still_shared(
    start_host: StartHost, app_dir: Path, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    started.mkdir()
    env = {"PYTHON_THREADPOOL_THREAD_COUNT": "1", "STARTED_DIR": str(started)}
    host = start_host(app_dir, "--workers", "2", command="serve", env=env)
    first = serving_pids(host, 2)
    # Each worker has a request in flight; one of them dies with its connection.
    burst = Burst([f"{host.base_url}/api/slow?id=k{i}&s=3" for i in range(2)])
    wait_for_started(started, 2)
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    burst.threads[0].join(30)
    burst.threads[1].join(30)
    answered = [r for r in burst.responses if isinstance(r, httpx.Response)]
    assert [r.text for r in answered] == [str(max(first))]  # the other worker's

    pids = serving_pids(host, 2)
    assert victim not in pids and max(first) in pids
    assert "exited with code -9; starting a new one" in host.output()
    # The new worker and the old one take two requests each: nothing of the dead worker's
    # load is left over.
    responses, elapsed = Burst([f"{host.base_url}/api/slow?id=a{i}&s=1" for i in range(4)]).wait()
    assert sorted(collections.Counter(r.text for r in responses).values()) == [2, 2]
    assert elapsed <= 2.5
    assert host.stop() == 0


def test_a_worker_that_stops_on_its_own_drains_and_is_replaced_while_the_others_serve(
    start_host: StartHost, app_dir: Path, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    started.mkdir()
    host = start_host(app_dir, "--workers", "2", command="serve", env={"STARTED_DIR": str(started)})
    first = serving_pids(host, 2)
    burst = Burst([f"{host.base_url}/api/slow?id={i}&s=2" for i in range(2)])
    wait_for_started(started, 2)
    leaving = min(first)
    os.kill(leaving, signal.SIGTERM)
    # While it drains, new connections go to the other worker and to its replacement.
    host.wait_for_output(f"Worker {leaving} is stopping; starting a new one")
    answered_by: set[int] = set()
    while any(thread.is_alive() for thread in burst.threads):
        answered_by.add(int(httpx.get(f"{host.base_url}/api/pid", timeout=10).text))
    assert answered_by and leaving not in answered_by
    responses, _ = burst.wait()
    assert [r.status_code for r in responses] == [200, 200]
    pids = serving_pids(host, 2)
    assert leaving not in pids
    assert host.stop() == 0
    assert "Failed" not in host.output()


def test_the_workers_of_a_killed_supervisor_finish_their_requests_and_exit(
    start_host: StartHost, app_dir: Path, tmp_path: Path
) -> None:
    started = tmp_path / "started"
    started.mkdir()
    host = start_host(app_dir, "--workers", "2", command="serve", env={"STARTED_DIR": str(started)})
    pids = serving_pids(host, 2)
    try:
        burst = Burst([f"{host.base_url}/api/slow?id={i}&s=1" for i in range(2)])
        wait_for_started(started, 2)
        host.proc.kill()
        responses, _ = burst.wait()
        assert [r.status_code for r in responses] == [200, 200]
        eventually(lambda: not any(running(pid) for pid in pids), what="the workers to exit")
    finally:
        for pid in pids:  # never leave them serving the port
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
