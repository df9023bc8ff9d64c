"""kill -9 of the storage endpoint in the middle of uploads and queue traffic, then a restart:
every acknowledged blob reads back byte for byte, no half-written blob or uncommitted block
list is visible, and no acknowledged message is lost."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from tests.azurite import ACCOUNT, DEV_KEY
from tests.endpoint.conftest import Endpoint

# Writes blobs (small, multi-chunk in one put, and as staged blocks) and queue messages until
# the endpoint dies, recording each before it is tried and once it is acknowledged.
WRITER = """
import hashlib, json, os, random, sys
from azure.storage.blob import BlobClient, BlobBlock
from azure.storage.queue import QueueClient

blob_url, queue_url, key, record = sys.argv[1:5]
credential = {"account_name": "devstoreaccount1", "account_key": key}
queue = QueueClient(queue_url, "crash", credential=credential, retry_total=0)
rng = random.Random(int(sys.argv[5]))

def note(**entry):
    with open(record, "a") as f:
        f.write(json.dumps(entry) + "\\n")

try:
    for i in range(100000):
        name = f"w{sys.argv[5]}-{i:05d}"
        size = rng.choice([100, 300 * 1024, 5 * 1024 * 1024 + 17])
        data = os.urandom(size)
        digest = hashlib.sha256(data).hexdigest()
        blob = BlobClient(blob_url, "crash", name, credential=credential, retry_total=0,
                          max_single_put_size=64 * 1024 * 1024)
        note(kind="try", name=name, digest=digest)
        if i % 3 == 2:
            ids = []
            for n, start in enumerate(range(0, size, 1024 * 1024)):
                block_id = f"{n:06d}".encode().hex()
                blob.stage_block(block_id, data[start:start + 1024 * 1024])
                ids.append(BlobBlock(block_id))
            blob.commit_block_list(ids)
        else:
            blob.upload_blob(data, overwrite=True)
        note(kind="blob", name=name, digest=digest)
        text = f"message {name}"
        queue.send_message(text)
        note(kind="message", text=text)
except Exception as exc:
    note(kind="stopped", error=type(exc).__name__)
"""


def test_a_killed_endpoint_loses_nothing_acknowledged_and_shows_nothing_half_written(
    tmp_path: Path,
) -> None:
    location = tmp_path / "data"
    endpoint = Endpoint(location)
    credential = {"account_name": ACCOUNT, "account_key": DEV_KEY}
    BlobServiceClient(endpoint.blob_url, credential=credential).create_container("crash")
    QueueClient(endpoint.queue_url, "crash", credential=credential).create_queue()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    records = [tmp_path / f"writer{n}.jsonl" for n in range(2)]
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                endpoint.blob_url,
                endpoint.queue_url,
                DEV_KEY,
                str(record),
                str(n),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n, record in enumerate(records)
    ]
    try:
        time.sleep(4)
        endpoint.proc.send_signal(signal.SIGKILL)
        endpoint.proc.wait(10)
        for writer in writers:
            writer.wait(30)
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()

    entries = [json.loads(line) for r in records for line in r.read_text().splitlines()]
    tried = {e["name"]: e["digest"] for e in entries if e["kind"] == "try"}
    acknowledged = {e["name"]: e["digest"] for e in entries if e["kind"] == "blob"}
    messages = {e["text"] for e in entries if e["kind"] == "message"}
    assert len(acknowledged) >= 2 and messages, "the writers got some work done first"

    ports = (endpoint.blob_port, endpoint.queue_port, endpoint.table_port)
    again = Endpoint(location, ports)
    try:
        container = BlobServiceClient(again.blob_url, credential=credential).get_container_client(
            "crash"
        )
        present = {}
        for name in container.list_blob_names():
            data = container.download_blob(name).readall()
            present[name] = hashlib.sha256(data).hexdigest()
        for name, digest in acknowledged.items():
            assert present.get(name) == digest, f"acknowledged blob {name} lost or changed"
        for name, digest in present.items():
            # A blob is visible whole, as it was written, or not at all.
            assert tried.get(name) == digest, f"blob {name} is half-written"
        queue = QueueClient(again.queue_url, "crash", credential=credential)
        found = set()
        while True:
            batch = list(queue.receive_messages(messages_per_page=32, visibility_timeout=60))
            if not batch:
                break
            found |= {m.content for m in batch}
        assert messages <= found
    finally:
        again.stop()
