"""The sample apps under examples/ run as their docstrings say."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import ROOT, StartHost, run_cli
from tests.stores import copy_app, eventually


def test_orders_example_goes_from_http_to_queue_to_blob(
    start_host: StartHost, host_env: dict[str, str], tmp_path: Path
) -> None:
    app = copy_app(ROOT / "examples" / "orders", tmp_path / "orders")
    # The sample's own settings: the embedded store in the app folder.
    env = {**host_env, "FUNCHOST_STATE_DIR": ""}
    host = start_host(app, env=env)
    host.wait_for_output(f"Storage: embedded store {app / '.funchost' / 'storage.db'}")
    order = {"id": "A-1", "item": "tea", "quantity": 2}
    assert host.client.post("/api/orders", json=order).status_code == 202
    assert host.client.post("/api/orders", content=b"not json").status_code == 400

    def fulfilled() -> httpx.Response | None:
        response = host.client.get("/api/orders/A-1")
        return response if response.status_code == 200 else None

    receipt = eventually(fulfilled).json()
    assert receipt == {"order": order, "status": "fulfilled"}
    assert host.client.get("/api/orders/B-2").status_code == 404
    listed = run_cli("blob", "list", "receipts", "--app", str(app), env=env)
    assert listed.stdout.startswith("A-1.json\t")
    host.wait_for_output("[fulfil_order] fulfilling order A-1 (attempt 1)")
