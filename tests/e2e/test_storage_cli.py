"""`funchost queue ...` and `funchost blob ...` on both backends, with a host running on them."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import APPS, StartHost, run_cli
from tests.stores import Backend, copy_app, eventually


def test_queue_send_reaches_a_running_trigger_and_peek_and_list_show_messages(
    start_host: StartHost, backend: Backend, host_env: dict[str, str], tmp_path: Path
) -> None:
    app = copy_app(APPS / "queues", tmp_path / "queues")
    records = tmp_path / "records"
    records.mkdir()
    env = {**host_env, **backend.settings, "RECORD_DIR": str(records), "ROUTED_QUEUE": "q"}
    start_host(app, env=env)
    sent = run_cli("queue", "send", "orders", "first", "second", "--app", str(app), env=env)
    assert sent.returncode == 0, sent.stderr
    assert "Sent 2 message(s) to 'orders'." in sent.stdout
    store = backend.client(app)
    eventually(lambda: store.length("processed") == 2)
    peeked = run_cli("queue", "peek", "processed", "--app", str(app), env=env)
    assert sorted(line.split("\t")[-1] for line in peeked.stdout.splitlines()) == [
        "FIRST",
        "SECOND",
    ]
    listed = run_cli("queue", "list", "--app", str(app), env=env)
    assert "processed\t2" in listed.stdout.splitlines()


def test_blob_put_get_list_delete(
    backend: Backend, host_env: dict[str, str], tmp_path: Path
) -> None:
    app = copy_app(APPS / "blobs", tmp_path / "blobs")
    env = {**host_env, **backend.settings}
    source = tmp_path / "photo.bin"
    source.write_bytes(b"\x00\x01 picture")
    put = run_cli("blob", "put", "photos/2024/p.bin", str(source), "--app", str(app), env=env)
    assert put.returncode == 0 and "Stored photos/2024/p.bin (10 bytes" in put.stdout
    got = tmp_path / "back.bin"
    run_cli("blob", "get", "photos/2024/p.bin", "-o", str(got), "--app", str(app), env=env)
    assert got.read_bytes() == b"\x00\x01 picture"
    listing = run_cli("blob", "list", "photos", "--app", str(app), env=env)
    assert listing.stdout.split("\t")[:2] == ["2024/p.bin", "10"]
    assert "photos" in run_cli("blob", "list", "--app", str(app), env=env).stdout.split()
    deleted = run_cli("blob", "delete", "photos/2024/p.bin", "--app", str(app), env=env)
    assert deleted.returncode == 0
    missing = run_cli("blob", "get", "photos/2024/p.bin", "--app", str(app), env=env)
    assert missing.returncode == 1
    assert missing.stderr == "funchost: error: blob 'photos/2024/p.bin' does not exist\n"


def test_bad_names_get_one_line_errors(host_env: dict[str, str], tmp_path: Path) -> None:
    app = copy_app(APPS / "blobs", tmp_path / "blobs")
    escape = run_cli("blob", "get", "docs/../secret", "--app", str(app), env=host_env)
    assert escape.returncode == 1
    assert escape.stderr.startswith("funchost: error: Invalid blob name: '../secret'.")
    assert escape.stderr.count("\n") == 1
    queue = run_cli("queue", "send", "Bad_Queue", "x", "--app", str(app), env=host_env)
    assert queue.returncode == 1
    assert queue.stderr == 'funchost: error: Queue names must be all lower case - "Bad_Queue"\n'


def test_the_embedded_store_is_in_the_app_folder_by_default(
    start_host: StartHost, host_env: dict[str, str], tmp_path: Path
) -> None:
    app = copy_app(APPS / "queues", tmp_path / "queues")
    records = tmp_path / "records"
    records.mkdir()
    # FUNCHOST_STATE_DIR empty: the default place.
    env = {**host_env, "FUNCHOST_STATE_DIR": "", "RECORD_DIR": str(records), "ROUTED_QUEUE": "q"}
    host = start_host(app, env=env)
    host.wait_for_output(f"Storage: embedded store {app / '.funchost' / 'storage.db'}")
    run_cli("queue", "send", "orders", "from the cli", "--app", str(app), env=env)
    eventually(
        lambda: run_cli("queue", "peek", "processed", "--app", str(app), env=env).stdout.strip()
    )
    taken = run_cli("queue", "peek", "processed", "--app", str(app), env=env)
    assert taken.stdout.strip().endswith("FROM THE CLI")
