"""function.json, host.json and local.settings.json with comments and trailing commas, read
as the real host and Core Tools read them (JSON.NET), by a real `funchost start`."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import StartHost, write_app

COMMENTED_FUNCTION_JSON = """{
  // An HTTP function, commented as the templates of other tools leave it.
  "scriptFile": "__init__.py", /* the default */
  "bindings": [
    {
      "authLevel": "anonymous",
      "type": "httpTrigger",
      "direction": "in",
      "name": "req",
      "methods": ["get", "post",],
    },
    {"type": "http", "direction": "out", "name": "$return"},
  ],
}
"""

ECHO_SETTING = (
    "import os\n\n"
    "def main(req):\n"
    "    return os.environ.get(req.params.get('name', ''), '<unset>')\n"
)


def test_v1_function_json_with_comments_and_trailing_commas_loads(
    start_host: StartHost, tmp_path: Path
) -> None:
    app = write_app(
        tmp_path / "app",
        {"F/function.json": COMMENTED_FUNCTION_JSON, "F/__init__.py": ECHO_SETTING},
    )
    host = start_host(app)
    assert host.client.get("/api/F", params={"name": "NOPE"}).text == "<unset>"
    assert host.client.post("/api/F").status_code == 200
    assert "F: [GET,POST]" in host.output()


def test_host_json_with_comments_and_trailing_commas_is_honoured(
    start_host: StartHost, tmp_path: Path
) -> None:
    host_json = """{
      "version": "2.0", // required
      /* serve functions under /fn rather than /api */
      "extensions": {"http": {"routePrefix": "fn",},},
    }"""
    app = write_app(
        tmp_path / "app",
        {
            "host.json": host_json,
            "F/function.json": COMMENTED_FUNCTION_JSON,
            "F/__init__.py": ECHO_SETTING,
        },
    )
    host = start_host(app)
    assert host.client.get("/fn/F").status_code == 200
    assert host.client.get("/api/F").status_code == 404


def test_local_settings_with_comments_and_trailing_commas_works_under_start(
    start_host: StartHost, tmp_path: Path
) -> None:
    settings = """{
      "IsEncrypted": false,
      "Values": {
        // a comment, and markers inside a value that must stay
        "GREETING": "hello // not /* a */ comment",
        "FUNCTIONS_WORKER_RUNTIME": "python", /* the runtime */
      },
    }"""
    app = write_app(
        tmp_path / "app",
        {
            "local.settings.json": settings,
            "F/function.json": COMMENTED_FUNCTION_JSON,
            "F/__init__.py": ECHO_SETTING,
        },
    )
    host = start_host(app)
    r = host.client.get("/api/F", params={"name": "GREETING"})
    assert r.text == "hello // not /* a */ comment"
