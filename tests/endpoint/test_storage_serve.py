"""`funchost storage serve`: the endpoint alone, as test suites and tools that expect Azurite
run it."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
from azure.storage.queue import QueueServiceClient

from tests.azurite import ACCOUNT, DEV_KEY
from tests.endpoint.conftest import ROOT, Endpoint


def test_it_names_its_endpoints_and_data_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    endpoint = Endpoint(tmp_path)
    try:
        client = QueueServiceClient(
            endpoint.queue_url, credential={"account_name": ACCOUNT, "account_key": DEV_KEY}
        )
        client.create_queue("kept").send_message("survives a restart")
    finally:
        assert endpoint.stop() == 0
    output = endpoint.log.read_text()
    assert f"Blob   http://127.0.0.1:{endpoint.blob_port}/{ACCOUNT}" in output
    assert f"Queue  http://127.0.0.1:{endpoint.queue_port}/{ACCOUNT}" in output
    assert f"Data   {tmp_path}" in output
    assert (tmp_path / "storage.db").exists()

    again = Endpoint(tmp_path)
    try:
        client = QueueServiceClient(
            again.queue_url, credential={"account_name": ACCOUNT, "account_key": DEV_KEY}
        )
        got = client.get_queue_client("kept").receive_message()
        assert got is not None and got.content == "survives a restart"
    finally:
        again.stop()


def test_a_port_in_use_is_one_line_naming_it(tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "funchost", "storage", "serve", "--blob-port", str(port),
             "--queue-port", "0", "--location", str(tmp_path)],
            capture_output=True, text=True, timeout=30, cwd=ROOT,
        )  # fmt: skip
    finally:
        taken.close()
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"Blob endpoint on 127.0.0.1:{port}" in lines[0] and "--blob-port" in lines[0]


def test_the_table_port_answers_that_tables_are_not_served(tmp_path: Path) -> None:
    endpoint = Endpoint(tmp_path)
    try:
        response = httpx.get(f"http://127.0.0.1:{endpoint.table_port}/{ACCOUNT}/Tables")
    finally:
        endpoint.stop()
    assert response.status_code == 501
    assert response.headers["x-ms-error-code"] == "NotImplemented"
    error = response.json()["odata.error"]
    assert error["code"] == "NotImplemented"
    assert "does not serve the Table service" in error["message"]["value"]
