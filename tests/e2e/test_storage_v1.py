"""A function.json ("v1") app with queue, blob and timer bindings, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import APPS, StartHost
from tests.stores import Backend, copy_app, eventually


def test_v1_queue_timer_and_blob_functions_with_retry_and_outputs(
    start_host: StartHost, backend: Backend, tmp_path: Path
) -> None:
    app = copy_app(APPS / "storage_v1", tmp_path / "storage_v1")
    env = {**backend.settings, "V1_QUEUE": "v1-orders", "NIGHTLY": "0 30 2 * * *"}
    host = start_host(app, env=env)
    store = backend.client(app)

    # Queue trigger from a %setting%, blob output named by a JSON property, retry policy.
    store.send_json("v1-orders", {"OrderId": "A-17", "total": 3})
    receipt = eventually(lambda: store.get_blob("receipts", "A-17.json"))
    assert json.loads(receipt) == {
        "order": "A-17",
        "dequeue_count": 1,  # retried in the host, not through the queue
        "retry_count": 1,
        "max_retry_count": 2,
    }
    host.wait_for_output("RuntimeError: first attempt fails")

    # Timer with runOnStartup, $return to a queue named with {DateTime}.
    def nightly_queues() -> list[str]:
        return [q for q in store.run(store.storage.list_queues()) if q.startswith("nightly-")]

    (queue,) = eventually(nightly_queues)
    assert store.take(queue) == ["past_due=False"]

    # Blob trigger with dataType binary, $return to a queue.
    store.put_blob("v1-in", "pic.png", b"12345")
    assert eventually(lambda: store.take("thumbs-done")) == ["bytes:5"]
