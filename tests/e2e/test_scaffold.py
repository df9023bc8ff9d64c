"""`funchost init`, `templates list`, `new` and `--version`, run as a developer runs them: the real
command in temporary folders, then the app it made under `funchost start` and `serve`, and the
tests `new` wrote under pytest."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from funchost import __version__
from tests.conftest import StartHost, run_cli

TEMPLATES = {
    "HTTP trigger": "hello",
    "Timer trigger": "tick",
    "Azure Queue Storage trigger": "on_message",
    "Azure Blob Storage trigger": "on_blob",
}


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = run_cli(*args, env=env, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def usage_error(done: subprocess.CompletedProcess[str], command: str, line: str) -> None:
    """argparse's usage, then one line naming the bad value; exit 2, no traceback."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"usage: funchost {command} ")
    assert done.stderr.splitlines()[-1] == f"funchost {command}: error: {line}"
    assert "Traceback" not in done.stderr


def run_generated_tests(app: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # As a developer runs them: pytest in the app folder; each TestHost gets its own store.
    env = {k: v for k, v in env.items() if k != "FUNCHOST_STATE_DIR"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


# -- init ------------------------------------------------------------------------------------------


def test_init_writes_a_v2_app_by_default(host_env: dict[str, str], tmp_path: Path) -> None:
    done = cli("init", "app", env=host_env, cwd=tmp_path)
    app = tmp_path / "app"
    for name in ("host.json", "local.settings.json", "requirements.txt", "function_app.py"):
        assert f"Writing {name}" in done.stdout.splitlines()
    host = json.loads((app / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"] == {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    }
    local = json.loads((app / "local.settings.json").read_text())
    assert local == {
        "IsEncrypted": False,
        "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": ""},
    }
    assert "azure-functions" in (app / "requirements.txt").read_text().splitlines()
    funcignore = (app / ".funcignore").read_text().splitlines()
    for entry in (".git*", ".vscode", "local.settings.json", "test", ".venv"):
        assert entry in funcignore
    gitignore = (app / ".gitignore").read_text().splitlines()
    for entry in (".venv", "local.settings.json", ".funchost/", "__pycache__/"):
        assert entry in gitignore
    assert "app = func.FunctionApp()" in (app / "function_app.py").read_text()
    assert not (app / "Dockerfile").exists()


def test_init_in_the_current_folder_with_core_tools_spellings(
    host_env: dict[str, str], tmp_path: Path
) -> None:
    cli("init", "--worker-runtime", "Python", "-m", "V1", env=host_env, cwd=tmp_path)
    assert (tmp_path / "host.json").is_file()
    assert not (tmp_path / "function_app.py").exists()  # v1: function folders come with `new`
    other = tmp_path / "other"
    cli(
        "init",
        str(other),
        "--model",
        "v2",
        "--worker-runtime",
        "python",
        env=host_env,
        cwd=tmp_path,
    )
    assert (other / "function_app.py").is_file()


def test_init_skips_existing_files_and_never_overwrites_them(
    host_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "host.json").write_text('{"version": "2.0", "mine": true}')
    (tmp_path / "function_app.py").write_text("# my app\n")
    done = cli("init", ".", env=host_env, cwd=tmp_path)
    lines = done.stdout.splitlines()
    assert "host.json already exists. Skipped!" in lines
    assert "function_app.py already exists. Skipped!" in lines
    assert "Writing local.settings.json" in lines
    assert (tmp_path / "host.json").read_text() == '{"version": "2.0", "mine": true}'
    assert (tmp_path / "function_app.py").read_text() == "# my app\n"
    again = cli("init", ".", "--docker", env=host_env, cwd=tmp_path)
    assert "local.settings.json already exists. Skipped!" in again.stdout.splitlines()
    assert "Writing Dockerfile" in again.stdout.splitlines()


def test_init_docker_serves_the_app_as_a_non_root_user(
    host_env: dict[str, str], tmp_path: Path
) -> None:
    cli("init", "app", "--docker", env=host_env, cwd=tmp_path)
    dockerfile = (tmp_path / "app" / "Dockerfile").read_text()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"FROM python:{version}-slim\n" in dockerfile
    assert "RUN pip install -r requirements.txt\n" in dockerfile
    assert 'RUN pip install "$FUNCHOST"\n' in dockerfile
    user = dockerfile.index("\nUSER app\n")
    assert user < dockerfile.index('\nCMD ["funchost", "serve"')
    assert "local.settings.json" in (tmp_path / "app" / ".dockerignore").read_text()


def test_bad_init_arguments_are_refused_in_one_line(
    host_env: dict[str, str], tmp_path: Path
) -> None:
    node = run_cli("init", "--worker-runtime", "node", env=host_env, cwd=tmp_path)
    usage_error(
        node,
        "init",
        "argument --worker-runtime: unsupported worker runtime 'node': "
        "funchost runs Python function apps only",
    )
    model = run_cli("init", "-m", "v3", env=host_env, cwd=tmp_path)
    usage_error(model, "init", "argument --model/-m: invalid model 'v3' (choose from 'v1', 'v2')")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "taken").write_text("a file")
    on_a_file = run_cli("init", "taken", env=host_env, cwd=tmp_path)
    assert on_a_file.returncode == 2
    assert on_a_file.stderr == f"funchost: error: File exists: {tmp_path / 'taken'}\n"


# -- templates, new ----------------------------------------------------------------------------


def test_templates_list_names_every_template(host_env: dict[str, str], tmp_path: Path) -> None:
    lines = cli("templates", "list", env=host_env, cwd=tmp_path).stdout.splitlines()
    assert lines[0] == "Python Templates:"
    for name in TEMPLATES:
        assert any(line.strip().startswith(name) for line in lines[1:]), name


@pytest.mark.parametrize("model", ["v1", "v2"])
def test_init_new_start_request_and_the_generated_tests_pass(
    model: str, start_host: StartHost, host_env: dict[str, str], tmp_path: Path
) -> None:
    app = tmp_path / "app"
    cli("init", str(app), "--model", model, env=host_env, cwd=tmp_path)
    spellings = {
        "Azure Queue Storage trigger": "queue TRIGGER",
        "Azure Blob Storage trigger": "Blob trigger",
    }
    for template, name in TEMPLATES.items():
        done = cli(
            "new", "-t", spellings.get(template, template), "-n", name, env=host_env, cwd=app
        )
        assert done.stdout.splitlines()[-1] == (
            f'The function "{name}" was created successfully from the "{template}" template.'
        )
        assert (app / "tests" / f"test_{name}.py").is_file()
    if model == "v1":
        bindings = json.loads((app / "hello" / "function.json").read_text())["bindings"]
        assert bindings[0]["authLevel"] == "function"
        assert (app / "on_message" / "__init__.py").is_file()
    else:
        assert "auth_level=func.AuthLevel.FUNCTION" in (app / "function_app.py").read_text()
        assert not (app / "hello").exists()

    host = start_host(app)
    out = host.wait_for_output("Functions:")
    host.wait_for_output("on_blob: blobTrigger")
    assert "No job functions found." not in out
    methods = "GET,POST" if model == "v1" else "GET,POST,DELETE,HEAD,PATCH,PUT,OPTIONS"
    assert f"\thello: [{methods}] http://localhost:{host.port}/api/hello\n" in host.output()
    r = host.client.get("/api/hello", params={"name": "Ada"})
    assert r.status_code == 200
    assert r.text == "Hello, Ada. This HTTP triggered function executed successfully."
    host.stop()

    tests = run_generated_tests(app, host_env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "5 passed" in tests.stdout


def test_generated_tests_fail_when_the_function_fails(
    host_env: dict[str, str], tmp_path: Path
) -> None:
    app = tmp_path / "app"
    cli("init", str(app), "-m", "v1", env=host_env, cwd=tmp_path)
    for template, name in TEMPLATES.items():
        if template != "HTTP trigger":
            cli("new", "-t", template, "-n", name, "--app", str(app), env=host_env, cwd=tmp_path)
            with open(app / name / "__init__.py", "a") as f:
                f.write("    raise RuntimeError('broken')\n")
    tests = run_generated_tests(app, host_env)
    assert tests.returncode == 1
    assert "3 failed" in tests.stdout, tests.stdout


def test_new_v2_keeps_every_line_and_adds_only_the_imports_it_lacks(
    start_host: StartHost, host_env: dict[str, str], tmp_path: Path
) -> None:
    cli("init", ".", env=host_env, cwd=tmp_path)
    original = (
        '"""My app."""\n'
        "import json\n"
        "import azure.functions as af\n"
        "\n"
        "app = af.FunctionApp(http_auth_level=af.AuthLevel.ANONYMOUS)\n"
        "\n"
        "\n"
        '@app.function_name(name="Status")\n'
        '@app.route(route="status")\n'
        "def status(req: af.HttpRequest) -> af.HttpResponse:\n"
        '    return af.HttpResponse(json.dumps({"ok": True}))\n'
        "# the end, without a newline"
    )
    (tmp_path / "function_app.py").write_text(original)
    cli("new", "-t", "http trigger", "-n", "greet", "-a", "ANONYMOUS", env=host_env, cwd=tmp_path)
    text = (tmp_path / "function_app.py").read_text()
    lines = text.splitlines()
    old = original.splitlines()
    # Every existing line is there, in its order; `logging` was the only import missing.
    rest = iter(lines)
    assert all(any(line == kept for line in rest) for kept in old)
    added = [line for line in lines if line.strip() and line not in old]
    assert added[0] == "import logging"
    assert lines.index("import logging") == old.index("import azure.functions as af") + 1
    assert not any(line.startswith(("import", "from")) for line in added[1:])
    assert '@app.route(route="greet", auth_level=af.AuthLevel.ANONYMOUS)' in lines
    assert "def greet(req: af.HttpRequest) -> af.HttpResponse:" in lines

    host = start_host(tmp_path)
    assert host.client.get("/api/status").json() == {"ok": True}
    assert host.client.get("/api/greet", params={"name": "Bo"}).text.startswith("Hello, Bo.")


def test_new_with_file_writes_a_blueprint_registered_once(
    start_host: StartHost, host_env: dict[str, str], tmp_path: Path
) -> None:
    cli("init", ".", env=host_env, cwd=tmp_path)
    cli("new", "-t", "HTTP trigger", "-n", "one", "--file", "routes.py", env=host_env, cwd=tmp_path)
    cli(
        "new",
        "-l",
        "Python",
        "-t",
        "HTTP trigger",
        "-n",
        "two",
        "-f",
        "routes",
        env=host_env,
        cwd=tmp_path,
    )
    app_text = (tmp_path / "function_app.py").read_text()
    assert app_text.count("import routes\n") == 1
    assert app_text.count("app.register_functions(routes.bp)\n") == 1
    blueprint = (tmp_path / "routes.py").read_text()
    assert "bp = func.Blueprint()" in blueprint
    assert blueprint.count("@bp.route(") == 2
    host = start_host(tmp_path)
    for name in ("one", "two"):
        assert host.client.get(f"/api/{name}", params={"name": "x"}).status_code == 200


def test_a_name_in_use_is_refused_and_nothing_changes(
    host_env: dict[str, str], tmp_path: Path
) -> None:
    v2 = tmp_path / "v2"
    cli("init", str(v2), env=host_env, cwd=tmp_path)
    cli("new", "-t", "Timer trigger", "-n", "Nightly", env=host_env, cwd=v2)
    before = (v2 / "function_app.py").read_text()
    taken = run_cli("new", "-t", "HTTP trigger", "-n", "nightly", env=host_env, cwd=v2)
    usage_error(
        taken, "new", "argument --name/-n: a function named 'Nightly' exists in function_app.py"
    )
    assert (v2 / "function_app.py").read_text() == before
    v1 = tmp_path / "v1"
    cli("init", str(v1), "-m", "v1", env=host_env, cwd=tmp_path)
    cli("new", "-t", "Queue trigger", "-n", "work", env=host_env, cwd=v1)
    again = run_cli("new", "-t", "Timer trigger", "-n", "Work", env=host_env, cwd=v1)
    usage_error(again, "new", f"argument --name/-n: 'work' already exists in {v1}")
    assert json.loads((v1 / "work" / "function.json").read_text())["bindings"][0]["type"] == (
        "queueTrigger"
    )


def test_bad_new_arguments_are_refused_in_one_line(
    host_env: dict[str, str], tmp_path: Path
) -> None:
    cli("init", ".", env=host_env, cwd=tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    cases = [
        (
            ["-t", "Cosmos trigger", "-n", "x"],
            "argument --template/-t: unknown template 'Cosmos trigger' (see 'funchost templates list')",
        ),
        (
            ["-t", "HTTP trigger", "-n", "x", "-a", "system"],
            "argument --authlevel/--auth-level/-a: invalid auth level 'system' "
            "(choose from 'anonymous', 'function', 'admin')",
        ),
        (
            ["-t", "Timer trigger", "-n", "x", "--auth-level", "admin"],
            "argument --authlevel/--auth-level/-a: the Timer trigger template has no auth level "
            "(HTTP trigger only)",
        ),
        (
            ["-t", "HTTP trigger", "-n", "my-function"],
            "argument --name/-n: invalid function name 'my-function': "
            "a v2 function's name is a Python name",
        ),
        (
            ["-t", "HTTP trigger", "-n", "9lives"],
            "argument --name/-n: invalid function name '9lives': "
            "a letter, then letters, digits, '_' or '-'",
        ),
        (
            ["-t", "HTTP trigger", "-n", "x", "--file", "my-routes"],
            "argument --file/-f: invalid module name 'my-routes': use a Python name",
        ),
    ]
    for args, line in cases:
        usage_error(run_cli("new", *args, env=host_env, cwd=tmp_path), "new", line)
    language = run_cli(
        "new", "-l", "node", "-t", "HTTP trigger", "-n", "x", env=host_env, cwd=tmp_path
    )
    usage_error(
        language,
        "new",
        "argument --language/-l: unsupported language 'node': funchost runs Python function apps only",
    )
    missing = run_cli("new", "-t", "HTTP trigger", env=host_env, cwd=tmp_path)
    assert missing.returncode == 2
    assert "the following arguments are required: --name/-n" in missing.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before

    empty = tmp_path / "not-an-app"
    empty.mkdir()
    outside = run_cli("new", "-t", "HTTP trigger", "-n", "x", "--app", str(empty), env=host_env)
    assert outside.returncode == 2
    assert outside.stderr == (
        f"funchost: error: {empty}: no host.json; create the app first with 'funchost init'\n"
    )


# -- an app without functions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "command"), [("v1", "start"), ("v2", "start"), ("v1", "serve"), ("v2", "serve")]
)
def test_a_new_app_without_functions_starts_and_answers_the_admin_api(
    model: str, command: str, start_host: StartHost, host_env: dict[str, str], tmp_path: Path
) -> None:
    app = tmp_path / "app"
    cli("init", str(app), "-m", model, env=host_env, cwd=tmp_path)
    master = "scaffold-test-master-key"
    cli("keys", "set", "master", "master", master, env=host_env, cwd=app)
    host = start_host(app, command=command)
    out = host.wait_for_output("No job functions found.")
    warning = next(line for line in out.splitlines() if "No job functions found." in line)
    assert warning.endswith("] No job functions found.")  # a time-stamped host log line
    assert "Functions:" not in out
    status = host.client.get("/admin/host/status", headers={"x-functions-key": master})
    assert status.status_code == 200
    assert status.json()["state"] == "Running"
    listed = host.client.get("/admin/functions", headers={"x-functions-key": master})
    assert listed.json() == []
    assert host.client.get("/api/anything").status_code == 404


# -- --version ---------------------------------------------------------------------------------


def test_version_names_funchost_azure_functions_and_python(
    host_env: dict[str, str], tmp_path: Path
) -> None:
    lines = cli("--version", env=host_env, cwd=tmp_path).stdout.splitlines()
    assert lines[0] == f"funchost {__version__}"
    assert lines[1] == f"azure-functions {metadata.version('azure-functions')}"
    assert lines[2].startswith(f"Python {platform.python_version()} (")
