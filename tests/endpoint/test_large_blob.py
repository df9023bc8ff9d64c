"""A 1 GiB blob through `funchost storage serve` with the SDK's defaults: it comes back byte for
byte, and the serving process's peak memory (its own VmHWM) grows by at most 64 MiB."""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from tests.endpoint_server import Endpoint

SIZE = 1 << 30
PIECE = 1 << 20
GROWTH_LIMIT_MIB = 64


class Generated(io.RawIOBase):
    """`size` bytes made on the fly: a random MiB, each copy stamped with its index (so a
    piece out of place changes the digest), never held whole."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.base = os.urandom(PIECE)
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.position >= self.size:
            return 0
        index, offset = divmod(self.position, PIECE)
        piece = index.to_bytes(8, "big") + self.base[8:]
        count = min(len(buffer), PIECE - offset, self.size - self.position)
        data = piece[offset : offset + count]
        buffer[:count] = data
        self.digest.update(data)
        self.position += count
        return count


def peak_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match is not None, status
    return int(match.group(1)) / 1024


def test_a_1_gib_blob_round_trips_in_bounded_memory(tmp_path: Path) -> None:
    endpoint = Endpoint(tmp_path / "endpoint")
    try:
        service = BlobServiceClient.from_connection_string(endpoint.connection_string)
        container = service.create_container("big")
        container.upload_blob("warm-up", b"x" * 1024)  # the store and the handlers loaded
        container.download_blob("warm-up").readall()
        before = peak_mib(endpoint.proc.pid)

        source = Generated(SIZE)
        container.upload_blob("one-gib", io.BufferedReader(source, PIECE), length=SIZE)
        assert container.get_blob_client("one-gib").get_blob_properties().size == SIZE
        received = hashlib.sha256()
        length = 0
        for chunk in container.download_blob("one-gib").chunks():
            received.update(chunk)
            length += len(chunk)

        assert length == SIZE
        assert received.hexdigest() == source.digest.hexdigest()
        growth = peak_mib(endpoint.proc.pid) - before
        assert growth <= GROWTH_LIMIT_MIB, f"the endpoint's peak memory grew by {growth:.1f} MiB"
    finally:
        assert endpoint.stop() == 0
