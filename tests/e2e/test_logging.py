"""What reaches the console: host.json log levels by category, and `--verbose`."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.conftest import StartHost, write_app

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
