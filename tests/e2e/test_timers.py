"""Timer triggers through the running host, on both storage backends."""

from __future__ import annotations

import itertools
import json
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import APPS, StartHost
from tests.stores import Backend, copy_app, eventually, records

STATUS = "timers/timers/Host.Functions.yearly/status"  # the host id is the app folder's name


@pytest.fixture
def app(tmp_path: Path) -> Path:
    return copy_app(APPS / "timers", tmp_path / "timers")


@pytest.fixture
def record_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "records"
    folder.mkdir()
    return folder


def settings(backend: Backend, record_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **backend.settings,
        "RECORD_DIR": str(record_dir),
        "TICK_SCHEDULE": "*/1 * * * * *",
        **extra,
    }


def test_a_timer_fires_on_schedule_within_100_ms_of_its_due_time(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    start_host(app, env=settings(backend, record_dir))
    ticks = eventually(
        lambda: records(record_dir, "tick")[1:5] if len(records(record_dir, "tick")) >= 5 else []
    )
    for t in ticks:
        assert t["at"] - math.floor(t["at"]) < 0.1, t
        assert t["past_due"] is False
    starts = [t["at"] for t in ticks]
    assert all(0.8 < b - a < 1.2 for a, b in itertools.pairwise(starts))


def test_invocations_of_one_timer_never_overlap(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    start_host(app, env=settings(backend, record_dir, TICK_SECONDS="1.5"))
    eventually(lambda: len(records(record_dir, "tick_end")) >= 3, timeout=20)
    starts = [t["at"] for t in records(record_dir, "tick")]
    ends = [t["at"] for t in records(record_dir, "tick_end")]
    for end, next_start in zip(ends, starts[1:], strict=False):
        assert next_start >= end


def test_an_exception_never_stops_the_schedule(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=settings(backend, record_dir, TICK_FAILS="1"))
    eventually(lambda: len(records(record_dir, "tick")) >= 3)
    assert "RuntimeError: tick failed" in host.output()


def test_run_on_startup_runs_once_and_the_status_is_saved(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    started = time.time()
    start_host(app, env=settings(backend, record_dir, WEBSITE_TIME_ZONE="UTC"))
    (run,) = eventually(lambda: records(record_dir, "yearly"))
    assert run["past_due"] is False and run["at"] - started < 10
    store = backend.client(app)
    status = json.loads(eventually(lambda: store.get_blob("azure-webjobs-hosts", STATUS)) or b"")
    assert datetime.fromisoformat(status["Next"]) == datetime(
        datetime.now(UTC).year + 1, 1, 1, tzinfo=UTC
    )
    assert datetime.fromisoformat(status["Last"]) <= datetime.now(UTC)
    time.sleep(1)
    assert len(records(record_dir, "yearly")) == 1


def test_a_run_missed_while_the_host_was_down_runs_at_start_as_past_due(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    store = backend.client(app)
    missed = datetime.now(UTC) - timedelta(hours=1)
    status = {
        "Last": (missed - timedelta(days=365)).isoformat(),
        "Next": missed.isoformat(),
        "LastUpdated": (missed - timedelta(days=365)).isoformat(),
    }
    store.put_blob("azure-webjobs-hosts", STATUS, json.dumps(status).encode())
    start_host(app, env=settings(backend, record_dir))
    (run,) = eventually(lambda: records(record_dir, "yearly"))
    assert run["past_due"] is True  # instead of the runOnStartup run
    assert datetime.fromisoformat(run["status"]["Next"]) == missed


def test_an_invalid_schedule_fails_the_function_with_the_hosts_message(
    start_host: StartHost, backend: Backend, app: Path, record_dir: Path
) -> None:
    host = start_host(app, env=settings(backend, record_dir, TICK_SCHEDULE="every minute"))
    out = host.wait_for_output("Functions that failed to load")
    assert (
        "The schedule expression 'every minute' was not recognized as a valid cron expression "
        "or timespan string." in out
    )
    eventually(lambda: records(record_dir, "yearly"))  # the other timer still runs
