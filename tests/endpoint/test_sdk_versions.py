"""The differential tests of the storage endpoint, run again with other SDKs and API versions.

test_blob_service.py and test_queue_service.py run in this process with the newest SDKs, which
.venv holds. Here they run in a child pytest: once with the older SDKs pinned in sdk-2022.txt
(which scripts/setup installs into .tools/sdk-2022) first on the path, and once with every
request carrying an `x-ms-version` from the future. Each run must pass whole, on funchost's
endpoint and on Azurite alike.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.endpoint.conftest import API_VERSION_VARIABLE, PINNED_SDKS_VARIABLE, ROOT

PINS = ROOT / "tests" / "endpoint" / "sdk-2022.txt"
SDK_2022 = ROOT / ".tools" / "sdk-2022"
DIFFERENTIAL = ["tests/endpoint/test_blob_service.py", "tests/endpoint/test_queue_service.py"]


def _run_differential(basetemp: Path, env: dict[str, str]) -> str:
    """Run the differential modules in a child pytest with `env` added; its output, once passed."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
         f"--basetemp={basetemp}", *DIFFERENTIAL],
        env={**os.environ, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert " passed" in output and "skipped" not in output, output[-6000:]
    return output


def test_the_differential_tests_pass_with_the_2022_sdks(tmp_path: Path) -> None:
    installed = SDK_2022 / PINS.name
    if not installed.is_file() or installed.read_text() != PINS.read_text():
        pytest.fail(
            f"the older storage SDKs of {PINS.relative_to(ROOT)} are not installed in "
            f"{SDK_2022.relative_to(ROOT)}; run scripts/setup"
        )
    pins = [line for line in PINS.read_text().splitlines() if line and not line.startswith("#")]
    path = os.pathsep.join(filter(None, [str(SDK_2022), os.environ.get("PYTHONPATH")]))
    # The child fails unless it imported exactly these versions (conftest.py checks).
    _run_differential(tmp_path, {"PYTHONPATH": path, PINNED_SDKS_VARIABLE: " ".join(pins)})


def test_the_differential_tests_pass_with_a_future_x_ms_version(tmp_path: Path) -> None:
    # The child checks that every request carried this version and funchost answered with it.
    _run_differential(tmp_path, {API_VERSION_VARIABLE: "2099-01-01"})
