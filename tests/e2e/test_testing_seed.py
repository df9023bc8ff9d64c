"""The developer reference's unit test keeps working: a test that builds a `func.HttpRequest`
and calls the function's `main` directly, in a project laid out as the reference lays it out
and run as it says (`pytest tests` from the project root, the funchost plugin installed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from funchost.testing import TestHost
from tests.conftest import write_app

SEED_PROJECT = {
    "my_second_function/function.json": """\
{
  "scriptFile": "__init__.py",
  "entryPoint": "main",
  "bindings": [
    {
      "authLevel": "function",
      "type": "httpTrigger",
      "direction": "in",
      "name": "req",
      "methods": [
        "get",
        "post"
      ]
    },
    {
      "type": "http",
      "direction": "out",
      "name": "$return"
    }
  ]
}
""",
    "my_second_function/__init__.py": """\
# <project_root>/my_second_function/__init__.py
import azure.functions as func
import logging

# Use absolute import to resolve shared_code modules
from shared_code import my_second_helper_function

# Define an HTTP trigger that accepts the ?value=<int> query parameter
# Double the value and return the result in HttpResponse
def main(req: func.HttpRequest) -> func.HttpResponse:
    logging.info('Executing my_second_function.')

    initial_value: int = int(req.params.get('value'))
    doubled_value: int = my_second_helper_function.double(initial_value)

    return func.HttpResponse(
      body=f"{initial_value} * 2 = {doubled_value}",
      status_code=200
    )
""",
    "shared_code/__init__.py": """\
# <project_root>/shared_code/__init__.py
# Empty __init__.py file marks shared_code folder as a Python package
""",
    "shared_code/my_second_helper_function.py": """\
# <project_root>/shared_code/my_second_helper_function.py

def double(value: int) -> int:
  return value * 2
""",
    "tests/test_my_second_function.py": """\
# <project_root>/tests/test_my_second_function.py
import unittest

import azure.functions as func
from my_second_function import main

class TestFunction(unittest.TestCase):
    def test_my_second_function(self):
        # Construct a mock HTTP request.
        req = func.HttpRequest(
            method='GET',
            body=None,
            url='/api/my_second_function',
            params={'value': '21'})

        # Call the function.
        resp = main(req)

        # Check the output.
        self.assertEqual(
            resp.get_body(),
            b'21 * 2 = 42',
        )
""",
    "local.settings.json": '{"IsEncrypted": false, "Values": {"FUNCTIONS_WORKER_RUNTIME": "python"}}',
}


def test_the_reference_unit_test_passes_under_pytest(tmp_path: Path) -> None:
    project = write_app(tmp_path / "project", SEED_PROJECT)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_the_same_function_answers_the_same_through_the_host(tmp_path: Path) -> None:
    project = write_app(tmp_path / "project", SEED_PROJECT)
    with TestHost(project) as host:
        response = host.client.get("/api/my_second_function", params={"value": "21"})
        assert response.status_code == 200
        assert response.content == b"21 * 2 = 42"
        assert [r.getMessage() for r in host.logs if r.name == "root"] == [
            "Executing my_second_function."
        ]
