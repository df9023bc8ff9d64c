"""HTTP scenarios of the real Python worker's own test suite that funchost once answered
differently, each run through `funchost start` with an app of funchost's own."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import StartHost, write_app

UNPRINTABLE_ERROR_APP = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("this message cannot be built")


@app.route(route="unprintable")
def unprintable(req: func.HttpRequest) -> str:
    raise Unprintable("hidden")
"""


def test_exception_whose_str_raises_is_reported_with_the_workers_wording(
    tmp_path: Path, start_host: StartHost
) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": UNPRINTABLE_ERROR_APP})
    host = start_host(app)
    assert host.client.get("/api/unprintable").status_code == 500
    out = host.wait_for_output("Executed 'Functions.unprintable' (Failed")
    assert (
        "Exception: Unhandled exception in function. "
        "Could not serialize original exception message." in out
    )
    assert "Logging error" not in out
    assert host.client.get("/api/unprintable").status_code == 500
