"""funchost's storage endpoint for the tests, in a process of its own, beside Azurite.

The endpoint's process is tests/endpoint_server.py's `Endpoint`. The differential tests
(test_blob_service.py, test_queue_service.py) also run in a child pytest (test_sdk_versions.py)
with the older SDKs of tests/endpoint/sdk-2022.txt first on the path, or with every request
carrying a future `x-ms-version`; two environment variables say which.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse

from tests.endpoint_server import Endpoint

ROOT = Path(__file__).resolve().parent.parent.parent

# Set by test_sdk_versions.py for its child pytest: the `name==version` pins the child must have
# imported, and the `x-ms-version` every SDK client of the differential tests must send.
PINNED_SDKS_VARIABLE = "FUNCHOST_TEST_STORAGE_SDKS"
API_VERSION_VARIABLE = "FUNCHOST_TEST_X_MS_VERSION"


def code(error: HttpResponseError) -> str | None:
    """The storage error code the SDK read from the answer."""
    return getattr(error, "error_code", None)


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    server = Endpoint(tmp_path_factory.mktemp("endpoint"))
    yield server
    server.stop()


@pytest.fixture(autouse=True, scope="session")
def _pinned_sdks_are_imported() -> None:
    """In a child pytest run for pinned SDKs, fail unless those very versions were imported."""
    for pin in os.environ.get(PINNED_SDKS_VARIABLE, "").split():
        name, version = pin.split("==")
        module = importlib.import_module(name.replace("-", "."))  # azure-core: azure.core
        if module.__version__ != version:
            pytest.fail(f"{pin} expected, {module.__version__} imported from {module.__file__}")


class ApiVersions:
    """The `x-ms-version` of each request the differential tests' SDK clients send, and of its answer.

    With `forced` set every request carries that version instead of the SDK's own: the SDKs refuse
    an `api_version=` they do not know, so their `raw_request_hook` writes it over theirs, before
    the request is signed. funchost's endpoint answers with the request's version, as Azure does;
    Azurite answers with its own, and sends none on some errors.
    """

    def __init__(self, forced: str | None) -> None:
        self.forced = forced
        self.exchanges: list[tuple[str | None, str | None]] = []  # (sent, answered)

    @property
    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for every SDK client of the differential tests."""
        options: dict[str, Any] = {"raw_response_hook": self._answered}
        if self.forced is not None:
            options["raw_request_hook"] = self._send
        return options

    def _send(self, request: PipelineRequest[Any]) -> None:
        request.http_request.headers["x-ms-version"] = self.forced

    def _answered(self, response: PipelineResponse[Any, Any]) -> None:
        self.exchanges.append(
            (
                response.http_request.headers.get("x-ms-version"),
                response.http_response.headers.get("x-ms-version"),
            )
        )

    def check(self, server: str) -> None:
        """Every request carried the forced version, if any; funchost answered each with it."""
        sent = {s for s, _ in self.exchanges}
        if self.forced is not None:
            assert sent == {self.forced}, f"{server} was sent {sent}, not {self.forced}"
        if server == "funchost":
            echoed = [(s, a) for s, a in self.exchanges if s != a]
            assert not echoed, f"funchost answered other versions (sent, answered): {echoed}"


@pytest.fixture
def api_versions() -> ApiVersions:
    return ApiVersions(os.environ.get(API_VERSION_VARIABLE))
