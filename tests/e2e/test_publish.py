"""`funchost publish` to a live `funchost serve`, run as a user runs them: versions, a version
that fails to load, the switch under load, rollback, keys, hostile packages, `--workers`,
the remote build, and a restart. One server per group of tests (module-scoped), so the
module stays fast; each test reads the state it starts from rather than assuming it."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningHost, StartHost, free_port, launch, run_cli, write_app
from tests.e2e.test_pack import make_wheel

MASTER_KEY = "publish-test-master-key-0123456789abcdef"
FUNCTION_KEY = "publish-test-function-key-0123456789"

HOST_JSON = '{"version": "2.0"}'


def hello_app(marker: str, extra: str = "") -> str:
    """A v2 app whose `hello` (function-level auth) answers `marker`."""
    return (
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        '@app.route(route="hello")\n'
        "def hello(req: func.HttpRequest) -> func.HttpResponse:\n"
        f"    return func.HttpResponse({marker!r})\n" + extra
    )


PEEK_FUNCTION = """
import os
import signal
from azure.storage.queue import QueueClient
@app.route(route="peek")
def peek(req: func.HttpRequest) -> func.HttpResponse:
    queue = QueueClient.from_connection_string(os.environ["FUNCHOST_STORAGE"], "kept")
    return func.HttpResponse(",".join(m.content for m in queue.peek_messages(max_messages=32)))
"""


@dataclass
class Server:
    """One `funchost serve` of an app, and how to publish to it."""

    app: Path
    work: Path
    env: dict[str, str]
    args: tuple[str, ...]
    running: RunningHost | None = None

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.base_url

    @property
    def versions(self) -> Path:
        return self.app / ".funchost" / "versions"

    def start(self) -> None:
        port = free_port() if self.running is None else self.running.port
        command = [sys.executable, "-m", "funchost", "serve", str(self.app), "--port", str(port)]
        command += ["--host", "127.0.0.1", *self.args]
        log = self.work / f"serve-{time.monotonic_ns()}.log"
        self.running = launch(command, self.env, log, port)
        self.running.wait_until_ready()

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()

    def get(self, path: str = "/api/hello") -> httpx.Response:
        # A fresh connection each time: see `load`.
        return httpx.get(f"{self.url}{path}", headers={"x-functions-key": FUNCTION_KEY}, timeout=30)

    def answer(self) -> str:
        response = self.get()
        assert response.status_code == 200, response.text
        return response.text

    def publish(self, *args: str, key: str | None = MASTER_KEY) -> subprocess.CompletedProcess[str]:
        command = ["publish", self.url, *args]
        if key is not None:
            command += ["--master-key", key]
        return run_cli(*command, env=self.env, cwd=self.work)

    def publish_app(self, name: str, files: dict[str, str], *args: str) -> str:
        """Publish an app made of `files`; the client's output."""
        folder = write_app(self.work / name, {"host.json": HOST_JSON, **files})
        result = self.publish(str(folder), "--build", "none", *args)
        assert result.returncode == 0, (result.stdout, result.stderr, self.running_output())
        return result.stdout

    def current(self) -> dict[str, object]:
        response = httpx.get(
            f"{self.url}/admin/funchost/versions", headers={"x-functions-key": MASTER_KEY}
        )
        assert response.status_code == 200
        result: dict[str, object] = response.json()
        return result

    def running_output(self) -> str:
        return self.running.output() if self.running is not None else ""


def make_server(
    factory: pytest.TempPathFactory, name: str, *args: str, env: dict[str, str] | None = None
) -> Server:
    work = factory.mktemp(name)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FUNCTIONS_", "AzureWebJobs"))}
    base.pop("FUNCHOST_STATE_DIR", None)  # the app's own state folder: it must stay the app's
    base.update(
        XDG_DATA_HOME=str(work / "xdg-data"),
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
        # pip in the remote build: no index, only what requirements.txt names by path.
        PIP_NO_INDEX="1",
        PIP_CONFIG_FILE=os.devnull,
        **(env or {}),
    )
    app = write_app(
        work / "app", {"function_app.py": hello_app("v0", PEEK_FUNCTION), "host.json": HOST_JSON}
    )
    for scope, key_name, value in (
        ("master", "master", MASTER_KEY),
        ("host", "test", FUNCTION_KEY),
    ):
        result = run_cli("keys", "set", scope, key_name, value, "--app", str(app), env=base)
        assert result.returncode == 0, result.stderr
    server = Server(app, work, base, args)
    server.start()
    return server


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = make_server(
        tmp_path_factory,
        "single",
        env={"FUNCHOST_PUBLISH_MAX_PACKAGE": "200000", "FUNCHOST_PUBLISH_MAX_UNPACKED": "1000000"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = make_server(tmp_path_factory, "pool", "--workers", "2", "--keep-versions", "2")
    yield server
    server.stop()


class Load:
    """Requests sent one after another from a thread, each on a fresh connection: HTTP/1.1
    lets a server close an idle kept-alive connection just as a client sends on it, and a
    client may only retry idempotent requests; a fresh connection waits in the listening
    socket's backlog instead, which is what clients of a switching server see."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.answers: list[str] = []
        self.failures: list[str] = []
        self.running = True
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while self.running:
            try:
                response = self.server.get()
            except httpx.HTTPError as exc:
                self.failures.append(repr(exc))
                continue
            if response.status_code != 200:
                self.failures.append(f"{response.status_code} {response.text}")
            else:
                self.answers.append(response.text)

    def __enter__(self) -> Load:
        self.thread.start()
        while not self.answers and not self.failures:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join(60)


def switch_under_load(server: Server, name: str) -> None:
    before = server.answer()
    headers = {"x-functions-key": FUNCTION_KEY}
    with Load(server) as load, httpx.Client(base_url=server.url, headers=headers) as kept:
        assert kept.get("/api/hello").text == before  # a kept-alive connection, now idle
        server.publish_app(name, {"function_app.py": hello_app(name, PEEK_FUNCTION)})
        sent = len(load.answers)
        # Once publish has returned, only the new version answers: on new connections, and
        # on the kept-alive one, which the old version has closed (httpx opens another).
        after = [server.answer() for _ in range(10)]
        after_kept = [kept.get("/api/hello").text for _ in range(3)]
        time.sleep(0.2)
    assert load.failures == []
    assert set(load.answers) <= {before, name}, set(load.answers)
    assert after == [name] * 10
    assert after_kept == [name] * 3
    assert load.answers[-1] == name
    assert sent > 1 and load.answers[0] == before


def zip_of(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("host.json", HOST_JSON)
        for name, data in entries.items():
            archive.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.create_system = 3
            info.external_attr = (0o120777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def leftovers(server: Server) -> list[str]:
    """What a publish left in the versions folder besides versions, the pointer and the lock."""
    return [
        p.name for p in server.versions.iterdir() if p.name.startswith(".") and p.name != ".lock"
    ]


def post_package(server: Server, data: bytes, key: str | None = MASTER_KEY) -> httpx.Response:
    headers = {"x-functions-key": key} if key is not None else {}
    return httpx.post(
        f"{server.url}/admin/funchost/publish?build=none", headers=headers, content=data
    )


# One process


def test_publish_switches_to_the_new_code_and_keeps_the_apps_keys_and_store(
    single: Server,
) -> None:
    sent = run_cli(
        "queue", "send", "kept", "before", "--raw", "--app", str(single.app), env=single.env
    )
    assert sent.returncode == 0, sent.stderr
    out = single.publish_app("v1", {"function_app.py": hello_app("v1", PEEK_FUNCTION)})
    number = single.current()["current"]
    assert f"Version {number} is serving at {single.url}. Functions:\n    hello\n    peek\n" in out
    # The function key made for the app before still opens the new version's function.
    assert single.answer() == "v1"
    # The embedded store is the app's: a message sent before the publish is still there.
    assert single.get("/api/peek").text == "before"
    # The version lives in the app's state folder; the app folder's code is untouched.
    assert (single.versions / str(number) / "function_app.py").is_file()
    assert "v0" in (single.app / "function_app.py").read_text()
    assert MASTER_KEY not in single.running_output() + out


def test_a_version_that_fails_to_load_does_not_replace_the_running_one(single: Server) -> None:
    before, state = single.answer(), single.current()
    folder = write_app(single.work / "broken", {"function_app.py": "def broken(:\n"})
    result = single.publish(str(folder), "--build", "none")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "funchost: error: the new version did not load; the current one keeps serving" in (
        result.stderr
    )
    assert "SyntaxError" in result.stderr
    assert single.answer() == before
    assert single.current() == state
    assert not leftovers(single)


def test_the_switch_under_load_fails_no_request(single: Server) -> None:
    switch_under_load(single, "loaded")


@pytest.mark.parametrize("key", [None, "not-the-master-key", FUNCTION_KEY])
def test_a_wrong_or_missing_key_gets_401_and_changes_nothing(
    single: Server, key: str | None
) -> None:
    before, state = single.answer(), single.current()
    package = zip_of({"function_app.py": hello_app("intruder").encode()})
    assert post_package(single, package, key).status_code == 401
    rollback = httpx.post(
        f"{single.url}/admin/funchost/rollback",
        headers={"x-functions-key": key} if key else {},
    )
    assert rollback.status_code == 401
    assert single.answer() == before
    assert single.current() == state


def test_the_client_says_in_one_line_when_the_key_is_refused_or_missing(single: Server) -> None:
    folder = write_app(single.work / "keyless", {"function_app.py": hello_app("keyless")})
    refused = single.publish(str(folder), key="wrong")
    assert refused.returncode == 1
    assert refused.stderr == (
        f"funchost: error: {single.url} refused the master key (401): check --master-key or "
        "FUNCHOST_MASTER_KEY\n"
    )
    missing = single.publish(str(folder), key=None)
    assert missing.returncode == 2
    assert missing.stderr.startswith("funchost: error: no master key: pass --master-key KEY")
    assert len(missing.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("package", "problem"),
    [
        (zip_of({"../x": b"out"}), "entry '../x': '..' is not allowed in a path"),
        (zip_of({"/tmp/x": b"out"}), "entry '/tmp/x': absolute paths are not allowed"),
        (zip_of({"C:/x": b"out"}), "entry 'C:/x': absolute paths are not allowed"),
        (zip_of({}, symlink="link"), "entry 'link': symbolic links are not allowed"),
        (zip_of({"big.bin": bytes(2_000_000)}), "the package unpacks to 2000018 bytes; at most"),
        (b"not a zip at all", "the package is not a valid zip file"),
    ],
)
def test_hostile_packages_get_400_and_change_nothing(
    single: Server, package: bytes, problem: str
) -> None:
    before, state = single.answer(), single.current()
    response = post_package(single, package)
    assert response.status_code == 400
    assert response.json()["error"].startswith(problem)
    assert single.answer() == before
    assert single.current() == state
    assert not leftovers(single)
    assert not (single.work / "x").exists() and not Path("/tmp/x").exists()


def test_a_package_over_the_size_limit_gets_413(single: Server) -> None:
    state = single.current()
    response = post_package(single, zip_of({"noise.bin": os.urandom(250_000)}))
    assert response.status_code == 413
    assert "FUNCHOST_PUBLISH_MAX_PACKAGE" in response.json()["error"]
    assert single.current() == state


def test_build_remote_installs_requirements_for_the_new_version(single: Server) -> None:
    folder = single.work / "remote"
    make_wheel(folder / "wheels")
    write_app(
        folder,
        {
            # Relative paths, in a nested file too, mean what they mean in the app folder.
            "requirements.txt": "azure-functions\n-r more-requirements.txt\n",
            "more-requirements.txt": "wheels/tinypkg-1.0-py3-none-any.whl\n",
            "function_app.py": hello_app("remote") + "import tinypkg\n"
            '@app.route(route="value")\n'
            "def value(req: func.HttpRequest) -> func.HttpResponse:\n"
            "    return func.HttpResponse(str(tinypkg.VALUE))\n",
        },
    )
    result = single.publish(str(folder))  # --build remote is the default
    assert result.returncode == 0, result.stderr
    assert "built remotely" in result.stdout
    number = single.current()["current"]
    site = single.versions / str(number) / ".python_packages/lib/site-packages"
    assert (site / "tinypkg/__init__.py").is_file()
    assert not (site / "azure").exists()  # the host's own azure-functions, never a copy
    assert single.get("/api/value").text == "42"
    assert not (folder / ".python_packages").exists()


def test_a_failed_remote_build_prints_pips_last_lines_and_switches_nothing(
    single: Server,
) -> None:
    before, state = single.answer(), single.current()
    folder = write_app(
        single.work / "unbuildable",
        {"requirements.txt": "no-such-package-anywhere==1.0\n", "function_app.py": hello_app("x")},
    )
    result = single.publish(str(folder))
    assert result.returncode == 1
    assert "funchost: error: pip could not install requirements.txt" in result.stderr
    assert "no-such-package-anywhere" in result.stderr
    assert single.answer() == before
    assert single.current() == state


def test_rollback_returns_to_the_previous_version_and_then_to_the_app_folder(
    single: Server,
) -> None:
    single.publish_app("r1", {"function_app.py": hello_app("r1")})
    single.publish_app("r2", {"function_app.py": hello_app("r2")})
    assert single.answer() == "r2"
    result = single.publish("--rollback")
    assert result.returncode == 0, result.stderr
    assert single.answer() == "r1"
    while single.current()["current"] != 0:
        assert single.publish("--rollback").returncode == 0
    assert single.answer() == "v0"  # version 0: the app folder given to serve
    nothing = single.publish("--rollback")
    assert nothing.returncode == 1
    assert nothing.stderr == (
        "funchost: error: version 0 is the first version: there is nothing to roll back to (409)\n"
    )
    assert single.answer() == "v0"


def test_a_restarted_serve_serves_the_current_version(single: Server) -> None:
    single.publish_app("lasting", {"function_app.py": hello_app("lasting")})
    number = single.current()["current"]
    single.stop()
    # What a publishing process that died left behind goes at the next start.
    gone = subprocess.Popen(["true"])
    gone.wait()
    leftovers = [
        single.versions / f".incoming-{gone.pid}-0",
        single.versions / f".package-{gone.pid}-x",
    ]
    leftovers[0].mkdir()
    leftovers[1].write_bytes(b"partial")
    single.start()
    assert single.answer() == "lasting"
    assert not any(path.exists() for path in leftovers)
    assert f"Serving version {number} published to this app" in single.running_output()


# serve --workers 2


def test_publish_under_load_with_workers(pool: Server) -> None:
    switch_under_load(pool, "w1")
    switch_under_load(pool, "w2")
    assert pool.publish("--rollback").returncode == 0
    assert [pool.answer() for _ in range(6)] == ["w1"] * 6


def test_workers_keep_the_versions_asked_for_and_never_the_current_or_previous(
    pool: Server,
) -> None:
    for name in ("k1", "k2", "k3"):
        pool.publish_app(name, {"function_app.py": hello_app(name)})
    current = pool.current()
    kept = current["versions"]
    assert isinstance(kept, list) and len(kept) == 2
    assert sorted(int(p.name) for p in pool.versions.iterdir() if p.name.isdigit()) == kept
    assert pool.publish("--rollback").returncode == 0
    assert pool.answer() == "k2"


def test_start_does_not_take_packages(
    tmp_path: Path, start_host: StartHost, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": hello_app("dev")})
    running = start_host(app)
    result = run_cli("publish", running.base_url, str(app), "--master-key", "k", env=host_env)
    assert result.returncode == 1
    assert result.stderr == (
        f"funchost: error: {running.base_url} does not take packages (404): publish to a host "
        "run by 'funchost serve'\n"
    )


@pytest.mark.parametrize("server_name", ["single", "pool"])
def test_once_publish_returns_kept_alive_connections_get_the_new_version(
    request: pytest.FixtureRequest, server_name: str
) -> None:
    server: Server = request.getfixturevalue(server_name)
    headers = {"x-functions-key": FUNCTION_KEY}
    name = f"kept-{server_name}"
    package = zip_of({"function_app.py": hello_app(name).encode()})
    with httpx.Client(base_url=server.url, headers=headers) as kept:
        for _ in range(4):  # under --workers, kept-alive connections on each worker
            kept.get("/api/hello")
        with httpx.Client(base_url=server.url, headers=headers) as other:
            other.get("/api/hello")
            assert post_package(server, package).status_code == 200
            # At once, on the connections kept alive before: the old version closed them.
            assert other.get("/api/hello").text == name
            assert kept.get("/api/hello").text == name


def test_a_signal_during_the_switch_stops_serve_instead_of_restarting_it(
    tmp_path: Path, start_host: StartHost, host_env: dict[str, str]
) -> None:
    slow = (
        "import time\n"
        '@app.route(route="slow", auth_level=func.AuthLevel.ANONYMOUS)\n'
        "def slow(req: func.HttpRequest) -> func.HttpResponse:\n"
        "    time.sleep(1.5)\n"
        '    return func.HttpResponse("slow done")\n'
    )
    app = write_app(tmp_path / "app", {"function_app.py": hello_app("v0", slow)})
    keys = run_cli("keys", "set", "master", "master", MASTER_KEY, "--app", str(app), env=host_env)
    assert keys.returncode == 0, keys.stderr
    running = start_host(app, command="serve")
    answers: list[str] = []
    thread = threading.Thread(
        target=lambda: answers.append(httpx.get(f"{running.base_url}/api/slow", timeout=30).text)
    )
    thread.start()
    time.sleep(0.3)  # the slow request is in flight: the switch drains it
    package = zip_of({"function_app.py": hello_app("v1").encode()})
    response = httpx.post(
        f"{running.base_url}/admin/funchost/publish?build=none",
        headers={"x-functions-key": MASTER_KEY},
        content=package,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(10) == 0
    thread.join(10)
    assert answers == ["slow done"]


def test_an_unreachable_server_or_a_bad_url_is_one_line(
    tmp_path: Path, host_env: dict[str, str]
) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": hello_app("nowhere")})
    url = f"http://127.0.0.1:{free_port()}"
    unreachable = run_cli("publish", url, str(app), "--master-key", "k", env=host_env)
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith(f"funchost: error: cannot reach {url}: ")
    assert len(unreachable.stderr.splitlines()) == 1
    bad = run_cli("publish", "127.0.0.1:8080", str(app), "--master-key", "k", env=host_env)
    assert bad.returncode == 2
    assert bad.stderr == (
        "funchost: error: invalid URL '127.0.0.1:8080': expected http://HOST[:PORT]\n"
    )


def test_build_local_sends_the_packages_installed_here_with_the_key_from_the_environment(
    single: Server,
) -> None:
    folder = single.work / "local"
    make_wheel(folder / "wheels", name="localpkg")
    write_app(
        folder,
        {
            "requirements.txt": "wheels/localpkg-1.0-py3-none-any.whl\n",
            "function_app.py": hello_app("local") + "import localpkg\n"
            '@app.route(route="local")\n'
            "def local(req: func.HttpRequest) -> func.HttpResponse:\n"
            "    return func.HttpResponse(str(localpkg.VALUE))\n",
        },
    )
    env = {**single.env, "FUNCHOST_MASTER_KEY": MASTER_KEY}
    result = run_cli("publish", single.url, str(folder), "--build", "local", env=env)
    assert result.returncode == 0, result.stderr
    assert "built remotely" not in result.stdout
    assert single.get("/api/local").text == "42"
    assert not (folder / ".python_packages").exists()
