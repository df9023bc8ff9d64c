"""The pytest plugin: `function_host` is a started TestHost for the app named by the
`funchost_app` ini option or marker, the factory it always was otherwise; a function's exception
is reported from the user's frames. Each case is a pytest run of its own (pytester, in a
subprocess, with the plugin loaded from its entry point as users get it)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

APP = {
    "app/host.json": '{"version": "2.0"}',
    "app/function_app.py": """\
import azure.functions as func

from helpers import parse

app = func.FunctionApp()


@app.route(route="hello", auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> str:
    return "Hello, " + req.params.get("name", "you")


@app.queue_trigger(arg_name="msg", queue_name="numbers", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="$return", queue_name="doubled", connection="AzureWebJobsStorage")
def double(msg: str) -> str:
    return str(parse(msg) * 2)
""",
    "app/helpers.py": """\
def parse(text: str) -> int:
    return int(text)
""",
}

TEST_WITH_HOST = """\
def test_http(function_host):
    assert function_host.client.get("/api/hello?name=Ada").text == "Hello, Ada"


def test_queue(function_host):
    function_host.queue("numbers").send("21")
    function_host.run_until_idle()
    assert function_host.queue("doubled").peek() == ["42"]
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=120)


def test_the_ini_option_names_the_app_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest="[pytest]\nfunchost_app = app\n")
    for path, text in APP.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    tests = pytester.path / "tests" / "deep"
    tests.mkdir(parents=True)
    (tests / "test_app.py").write_text(TEST_WITH_HOST)
    result = run(pytester, "tests")
    result.assert_outcomes(passed=2)


def test_the_marker_names_the_app_relative_to_the_test_file(pytester: pytest.Pytester) -> None:
    for path, text in APP.items():
        target = pytester.path / "project" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    tests = pytester.path / "project" / "tests"
    tests.mkdir()
    (tests / "test_app.py").write_text(
        "import pytest\n\n"
        "pytestmark = pytest.mark.funchost_app('../app', settings={'GREETING': 'x'})\n\n"
        + TEST_WITH_HOST
        + "\n\ndef test_options(function_host):\n"
        "    import os\n"
        "    assert os.environ['GREETING'] == 'x'\n"
    )
    result = run(pytester, str(tests))
    result.assert_outcomes(passed=3)


def test_without_either_the_fixture_is_the_factory(pytester: pytest.Pytester) -> None:
    for path, text in APP.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    pytester.makepyfile(
        test_factory="""\
from pathlib import Path


def test_factory(function_host):
    host = function_host(Path(__file__).parent / "app")
    assert host.client.get("/api/hello").text == "Hello, you"
"""
    )
    run(pytester).assert_outcomes(passed=1)


def test_a_missing_app_is_one_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest="[pytest]\nfunchost_app = nowhere\n")
    pytester.makepyfile(test_it="def test_it(function_host):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*funchost_app: no app folder at */nowhere*"])
    assert "Traceback" not in result.stdout.str()


def test_a_users_exception_is_reported_from_the_users_frames(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest="[pytest]\nfunchost_app = app\n")
    for path, text in APP.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    pytester.makepyfile(
        test_fails="""\
def test_bad_number(function_host):
    function_host.invoke("double", "twenty").raise_error()
"""
    )
    result = run(pytester)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    failure = out[out.index("test_bad_number") : out.index("Captured log call")]
    # The test's line, then the user's function and helper; no host frame at all (the host's
    # own log line about the failure, in the captured log, has its stack as the host logs it).
    result.stdout.fnmatch_lines(
        [
            '*function_host.invoke("double", "twenty").raise_error()',
            "*function_app.py:16: in double",
            "*return str(parse(msg) * 2)*",
            "*return int(text)",
            "E *ValueError: invalid literal for int() with base 10: 'twenty'",
            "app/helpers.py:2: ValueError",
        ]
    )
    host_frames = [line for line in failure.splitlines() if "funchost" in line and ".py:" in line]
    assert host_frames == [], host_frames


def test_the_documented_timer_test_passes(pytester: pytest.Pytester) -> None:
    pytester.makefile(".ini", pytest="[pytest]\nfunchost_app = .\n")
    pytester.path.joinpath("host.json").write_text('{"version": "2.0"}')
    pytester.path.joinpath("function_app.py").write_text(
        "import azure.functions as func\n\n"
        "app = func.FunctionApp()\n\n\n"
        '@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")\n'
        "def every_five_minutes(timer: func.TimerRequest) -> None:\n"
        "    pass\n"
    )
    tests = pytester.path / "tests"
    tests.mkdir()
    (tests / "test_timer.py").write_text(
        """\
from datetime import timedelta


def test_the_five_minute_timer(function_host):
    function_host.clock.advance(timedelta(minutes=5))   # `0 */5 * * * *` is due
    function_host.run_until_idle()                      # it ran, in milliseconds
    assert [i.function for i in function_host.invocations] == ["every_five_minutes"]
"""
    )
    run(pytester, "tests").assert_outcomes(passed=1)
