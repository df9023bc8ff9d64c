"""What reaches the console: host.json log levels by category, `--verbose`, records from
threads a function starts, and `print()` output in order with the log lines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT, RunningHost, StartHost, free_port, write_app

LEVELS_APP = """
import logging
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
named = logging.getLogger("my function")


def log_all(prefix: str, logger: logging.Logger = logging.getLogger()) -> None:
    logger.debug(f"{prefix} debug")
    logger.info(f"{prefix} info")
    logger.warning(f"{prefix} warning")
    logger.error(f"{prefix} error")


@app.route(route="plain")
def plain(req: func.HttpRequest) -> str:
    log_all("plain")
    return "ok"


@app.route(route="named")
def chatty(req: func.HttpRequest) -> str:
    log_all("chatty", named)
    return "ok"


@app.route(route="sdk")
def sdk(req: func.HttpRequest) -> str:
    log_all("sdk_logger", logging.getLogger("azure.functions"))
    log_all("sdk_submodule_logger", logging.getLogger("azure.functions.submodule"))
    log_all("disguised_logger", logging.getLogger("azure_functions_worker"))
    return "ok"
"""


def levels_app(tmp_path: Path, levels: str | None) -> Path:
    logging = f', "logging": {{"logLevel": {levels}}}' if levels is not None else ""
    return write_app(
        tmp_path / "app",
        {"host.json": f'{{"version": "2.0"{logging}}}', "function_app.py": LEVELS_APP},
    )


def shown(out: str, function: str, message: str) -> bool:
    """Whether `message` is on the console as a record of `function` (with its tag)."""
    return re.search(rf"\] \[{function}\] (WARNING: |ERROR: )?{message}$", out, re.M) is not None


def call_all(client: httpx.Client, *paths: str) -> None:
    for path in paths:
        assert client.get(f"/api/{path}").text == "ok"


def test_debug_records_are_hidden_at_the_levels_the_worker_tests_use(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = levels_app(tmp_path, '{"default": "Information"}')
    host = start_host(app, env={"PYTHON_ENABLE_DEBUG_LOGGING": "1"})
    call_all(host.client, "plain", "named")
    out = host.wait_for_output("Executed 'Functions.chatty'")
    for function, prefix in (("plain", "plain"), ("chatty", "chatty")):
        for level in ("info", "warning", "error"):
            assert shown(out, function, f"{prefix} {level}"), out
        assert f"{prefix} debug" not in out


def test_library_and_worker_loggers_never_reach_the_console(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = levels_app(tmp_path, '{"default": "Trace"}')
    host = start_host(app, env={"PYTHON_ENABLE_DEBUG_LOGGING": "1"})
    call_all(host.client, "sdk")
    out = host.wait_for_output("Executed 'Functions.sdk'")
    for logger in ("sdk_logger", "sdk_submodule_logger", "disguised_logger"):
        assert logger not in out


def test_debug_records_need_the_setting_and_a_host_level_that_shows_them(
    start_host: StartHost, tmp_path: Path
) -> None:
    # The worker makes DEBUG records only with PYTHON_ENABLE_DEBUG_LOGGING, and the host shows
    # them only where a rule lowers the level below Information.
    app = levels_app(tmp_path / "trace", '{"default": "Trace"}')
    host = start_host(app)
    call_all(host.client, "plain")
    out = host.wait_for_output("Executed 'Functions.plain'")
    assert shown(out, "plain", "plain info") and "plain debug" not in out

    app = levels_app(tmp_path / "rule", '{"Function.Chatty.User": "Debug"}')
    host = start_host(app, env={"PYTHON_ENABLE_DEBUG_LOGGING": "1"})
    call_all(host.client, "plain", "named")
    out = host.wait_for_output("Executed 'Functions.chatty'")
    assert shown(out, "chatty", "chatty debug"), out
    assert shown(out, "plain", "plain info") and "plain debug" not in out


def test_the_longest_matching_category_wins(start_host: StartHost, tmp_path: Path) -> None:
    app = levels_app(
        tmp_path,
        '{"default": "Error", "Function": "Warning", "function.chatty": "Information",'
        ' "Function.chatty.User": "Error"}',
    )
    host = start_host(app)
    call_all(host.client, "plain", "named")
    out = host.wait_for_output("Executed 'Functions.chatty'")
    # Function.chatty: its Executing/Executed lines; Function.chatty.User: errors only.
    assert "Executing 'Functions.chatty'" in out
    assert shown(out, "chatty", "chatty error") and "chatty warning" not in out
    # Function.plain falls under "Function": warnings, and no Executing/Executed lines.
    assert shown(out, "plain", "plain warning") and "plain info" not in out
    assert "Executing 'Functions.plain'" not in out


def test_host_categories_have_their_own_levels(start_host: StartHost, tmp_path: Path) -> None:
    # Loading functions logs under Host.Startup; a rule for it beats one for all of Host.
    warning = "--functions: no function named 'nope'"
    app = levels_app(tmp_path / "off", '{"Host.Startup": "None"}')
    host = start_host(app, "--functions", "plain", "nope")
    call_all(host.client, "plain")
    assert warning not in host.wait_for_output("Executed 'Functions.plain'")

    app = levels_app(tmp_path / "on", '{"Host": "None", "Host.Startup": "Warning"}')
    host = start_host(app, "--functions", "plain", "nope")
    host.wait_for_output(warning)


def test_a_level_the_host_rejects_stops_the_host(start_host: StartHost, tmp_path: Path) -> None:
    app = levels_app(tmp_path, '{"Function": "Verbose"}')
    host = start_host(app, "--no-reload", wait=False)
    assert host.proc.wait(30) != 0
    assert "Configuration value 'Verbose' for category 'Function' is unsupported." in (
        host.output()
    )


def test_host_information_lines_show_under_serve_and_start_verbose(
    start_host: StartHost, tmp_path: Path
) -> None:
    # Core Tools shows the host's own records from Warning (Information with --verbose); the
    # host itself, from Information. Creating the key files is such a record.
    created = "created host keys in"
    app = levels_app(tmp_path, None)
    runs = (("start", "--enable-auth"), ("start", "--enable-auth", "--verbose"), ("serve",))
    for i, (command, *args) in enumerate(runs):
        keys = {"FUNCTIONS_SECRETS_PATH": str(tmp_path / f"keys-{i}")}
        host = start_host(app, *args, command=command, env=keys)
        call_all(host.client, "plain")
        out = host.wait_for_output("Executed 'Functions.plain'")
        assert (created in out) == (runs[i] != runs[0]), (runs[i], out)
        host.stop()


def test_verbose_shows_function_debug_records_unless_host_json_sets_their_level(
    start_host: StartHost, tmp_path: Path
) -> None:
    host = start_host(levels_app(tmp_path / "unset", None), "--verbose")
    call_all(host.client, "plain")
    out = host.wait_for_output("Executed 'Functions.plain'")
    assert shown(out, "plain", "plain debug"), out

    host = start_host(levels_app(tmp_path / "set", '{"Function": "Information"}'), "--verbose")
    call_all(host.client, "plain")
    out = host.wait_for_output("Executed 'Functions.plain'")
    assert shown(out, "plain", "plain info") and "plain debug" not in out


THREADS_APP = """
import asyncio
import concurrent.futures
import logging
import threading
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def named_thread(context: func.Context, message: str) -> None:
    context.thread_local_storage.invocation_id = context.invocation_id
    logging.info(message)


def run_threads(context: func.Context, label: str) -> None:
    logging.info(f"{label}: before threads")
    threads = [
        threading.Thread(target=named_thread, args=(context, f"{label}: thread {i} used"))
        for i in range(3)
    ]
    threads.append(threading.Thread(target=logging.info, args=(f"{label}: unnamed thread",)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with concurrent.futures.ThreadPoolExecutor() as pool:
        pool.submit(named_thread, context, f"{label}: pool thread used").result()
    logging.info(f"{label}: after threads")


@app.route(route="sync")
def sync_threads(req: func.HttpRequest, context: func.Context) -> str:
    run_threads(context, "sync")
    return "ok"


@app.route(route="async")
async def async_threads(req: func.HttpRequest, context: func.Context) -> str:
    run_threads(context, "async")  # threads started from the event loop's thread
    await asyncio.sleep(0)
    return "ok"
"""


def test_threads_that_name_their_invocation_log_as_the_function(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": THREADS_APP})
    host = start_host(app)
    call_all(host.client, "sync", "async")
    out = host.wait_for_output("Executed 'Functions.async_threads'")
    for function, label in (("sync_threads", "sync"), ("async_threads", "async")):
        for i in range(3):
            assert shown(out, function, f"{label}: thread {i} used"), out
            assert len(re.findall(rf"\] {label}: thread {i} used$", out, re.M)) == 1
        assert shown(out, function, f"{label}: pool thread used"), out
        assert shown(out, function, f"{label}: after threads"), out
        # A thread that does not name its invocation logs without the function's tag.
        assert re.search(rf"^\[[^\]]+\] {label}: unnamed thread$", out, re.M), out


PRINT_APP = """
import logging
import sys
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
sys.stdout.reconfigure(errors="replace")  # as some apps do: the real stream's interface is there


@app.route(route="mixed")
def mixed(req: func.HttpRequest) -> str:
    for i in range(0, 20, 2):
        logging.info("line %d", i)
        print("line", i + 1)
    print("line", end=" ")
    print(20, flush=True)
    logging.info("line 21")
    return "ok"


@app.route(route="amixed")
async def amixed(req: func.HttpRequest) -> str:
    for i in range(0, 10, 2):
        logging.info("aline %d", i)
        sys.stdout.write(f"aline {i + 1}\\n")
    return "ok"
"""


def numbered(out: str, word: str) -> list[int]:
    return [int(n) for n in re.findall(rf"\b{word} (\d+)$", out, re.M)]


def test_print_output_keeps_its_order_with_log_lines_in_a_file(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": PRINT_APP})
    host = start_host(app)
    call_all(host.client, "mixed", "amixed")
    out = host.wait_for_output("Executed 'Functions.amixed'")
    assert numbered(out, "line") == list(range(22)), out
    assert numbered(out, "aline") == list(range(10)), out
    # print() output is written as it is; log records carry the function's tag.
    assert re.search(r"^line 1$", out, re.M) and shown(out, "mixed", "line 0")


def test_print_output_keeps_its_order_with_log_lines_in_a_pipe(
    host_env: dict[str, str], tmp_path: Path
) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": PRINT_APP})
    port = free_port()
    env = {k: v for k, v in host_env.items() if k != "PYTHONUNBUFFERED"}
    command = [sys.executable, "-m", "funchost", "serve", str(app), "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--host", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
    )
    host = RunningHost(proc, port, tmp_path / "no.log")  # its output is the pipe, read below
    host.log_path.write_text("")
    try:
        host.wait_until_ready()
        call_all(host.client, "mixed", "amixed")
    finally:
        host.stop()
    assert proc.stdout is not None
    with proc.stdout:
        out = proc.stdout.read().decode()
    assert "Executed 'Functions.amixed'" in out
    assert numbered(out, "line") == list(range(22)), out
    assert numbered(out, "aline") == list(range(10)), out
