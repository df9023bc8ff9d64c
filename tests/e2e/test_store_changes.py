"""A write to the embedded store by anyone else (another process, another app, the storage
endpoint) wakes the host's listeners at once, however long they have been idle."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import StartHost, write_app
from tests.stores import Backend, eventually

APP = {
    "function_app.py": (
        "import json, os, time\n"
        "import azure.functions as func\n"
        "app = func.FunctionApp()\n"
        "@app.queue_trigger(arg_name='msg', queue_name='jobs', connection='AzureWebJobsStorage')\n"
        "def job(msg: str) -> None:\n"
        "    with open(os.path.join(os.environ['RECORD_DIR'], 'jobs.jsonl'), 'a') as f:\n"
        "        f.write(json.dumps({'body': msg, 'at': time.time()}) + '\\n')\n"
    )
}


def test_a_message_from_another_process_is_taken_at_once_after_idle_polling_slowed(
    start_host: StartHost, tmp_path: Path, host_env: dict[str, str]
) -> None:
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    app = write_app(tmp_path / "app", APP)
    start_host(app, command="serve", env={"RECORD_DIR": str(record_dir), "AzureWebJobsStorage": ""})
    store = Backend("embedded", None, Path(host_env["FUNCHOST_STATE_DIR"])).client(app)
    store.run(store.storage.create_queue("jobs"))
    log = record_dir / "jobs.jsonl"
    delays = []
    for round_no in range(3):
        time.sleep(5)  # idle: polling backs off to seconds between receives
        sent = time.time()
        store.send("jobs", f"job {round_no}")
        eventually(lambda n=round_no: log.exists() and len(log.read_text().splitlines()) > n)
        taken = json.loads(log.read_text().splitlines()[round_no])["at"]
        delays.append(taken - sent)
    store.close()
    assert max(delays) < 1.0, delays
