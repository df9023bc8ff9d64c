"""TestHost's virtual clock: timers, retry delays and queue visibility timeouts go by
`host.clock`, so minutes of schedule pass in milliseconds of real time, in v1 and v2 apps."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from funchost.testing import TestHost
from tests.conftest import write_app

STORAGE = {"AzureWebJobsStorage": ""}

V2_APP = {
    "function_app.py": """\
import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer")
@app.queue_output(arg_name="$return", queue_name="ticks", connection="AzureWebJobsStorage")
def every_five_minutes(timer: func.TimerRequest) -> str:
    return "tick"


@app.retry(strategy="fixed_delay", max_retry_count="2", delay_interval="00:10:00")
@app.queue_trigger(arg_name="msg", queue_name="retried", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="$return", queue_name="retried-done", connection="AzureWebJobsStorage")
def retried(msg: str, context: func.Context) -> str:
    if context.retry_context.retry_count == 0:
        raise RuntimeError("the first attempt fails")
    return f"{msg} on retry {context.retry_context.retry_count}"


@app.queue_trigger(arg_name="msg", queue_name="hidden", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="$return", queue_name="hidden-done", connection="AzureWebJobsStorage")
def hidden(msg: func.QueueMessage) -> str:
    if msg.dequeue_count == 1:
        raise RuntimeError("the first delivery fails")
    return f"{msg.get_body().decode()} delivered {msg.dequeue_count} times"
""",
    "host.json": '{"version": "2.0", "extensions": {"queues": {"visibilityTimeout": "00:05:00"}}}',
}

V1_APP = {
    "EveryFiveMinutes/function.json": """{"bindings": [
        {"name": "timer", "type": "timerTrigger", "direction": "in",
         "schedule": "0 */5 * * * *"},
        {"name": "$return", "type": "queue", "direction": "out", "queueName": "ticks",
         "connection": "AzureWebJobsStorage"}]}""",
    "EveryFiveMinutes/__init__.py": "def main(timer) -> str:\n    return 'tick'\n",
    "Retried/function.json": """{"bindings": [
        {"name": "msg", "type": "queueTrigger", "direction": "in", "queueName": "retried",
         "connection": "AzureWebJobsStorage"},
        {"name": "$return", "type": "queue", "direction": "out", "queueName": "retried-done",
         "connection": "AzureWebJobsStorage"}],
      "retry": {"strategy": "fixedDelay", "maxRetryCount": 2, "delayInterval": "00:10:00"}}""",
    "Retried/__init__.py": """\
import azure.functions as func


def main(msg: str, context: func.Context) -> str:
    if context.retry_context.retry_count == 0:
        raise RuntimeError("the first attempt fails")
    return f"{msg} on retry {context.retry_context.retry_count}"
""",
    "Hidden/function.json": """{"bindings": [
        {"name": "msg", "type": "queueTrigger", "direction": "in", "queueName": "hidden",
         "connection": "AzureWebJobsStorage"},
        {"name": "$return", "type": "queue", "direction": "out", "queueName": "hidden-done",
         "connection": "AzureWebJobsStorage"}]}""",
    "Hidden/__init__.py": """\
import azure.functions as func


def main(msg: func.QueueMessage) -> str:
    if msg.dequeue_count == 1:
        raise RuntimeError("the first delivery fails")
    return f"{msg.get_body().decode()} delivered {msg.dequeue_count} times"
""",
    "host.json": '{"version": "2.0", "extensions": {"queues": {"visibilityTimeout": "00:05:00"}}}',
}


def outcomes(host: TestHost, function: str) -> list[str]:
    """The outcomes of one function's invocations (the five-minute timer fires too)."""
    return [i.outcome for i in host.invocations if i.function.lower() == function]


@pytest.fixture(params=["v1", "v2"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return write_app(tmp_path / request.param, V1_APP if request.param == "v1" else V2_APP)


def test_a_five_minute_timer_fires_when_the_clock_passes_its_occurrence(app: Path) -> None:
    with TestHost(app, settings=STORAGE) as host:
        started = time.monotonic()
        host.run_until_idle()  # the timer waits for its next occurrence: nothing to do
        assert host.invocations == []
        host.clock.advance(timedelta(minutes=5))
        host.run_until_idle()
        assert [(i.trigger, i.outcome) for i in host.invocations] == [("timerTrigger", "succeeded")]
        assert host.queue("ticks").peek() == ["tick"]
        host.clock.advance(300)
        host.run_until_idle()
        assert host.queue("ticks").peek() == ["tick", "tick"]
        assert time.monotonic() - started < 2  # ten minutes of schedule


def test_a_retry_delay_ends_when_the_clock_passes_it(app: Path) -> None:
    with TestHost(app, settings=STORAGE) as host:
        host.queue("retried").send("job")
        # The first attempt failed and the retry waits ten minutes: idle until the clock moves.
        host.run_until_idle()
        assert outcomes(host, "retried") == []  # the invocation is in its retry delay
        assert host.queue("retried-done").peek() == []
        host.clock.advance(timedelta(minutes=9))
        host.run_until_idle()
        assert host.queue("retried-done").peek() == []
        host.clock.advance(timedelta(minutes=1))
        host.run_until_idle()
        assert host.queue("retried-done").peek() == ["job on retry 1"]
        assert outcomes(host, "retried") == ["succeeded"]
        # Two attempts, one message: the jumps did not hand the message, still hidden while
        # its invocation waited, to a second invocation.
        attempts = [
            r
            for r in host.logs
            if r.getMessage().lower().startswith("executing 'functions.retried'")
        ]
        assert len(attempts) == 2
        assert host.queue("retried").peek() == []


def test_a_failed_message_comes_back_when_its_visibility_timeout_has_passed(app: Path) -> None:
    with TestHost(app, settings=STORAGE) as host:
        before = host.clock.now()
        host.queue("hidden").send("parcel")
        host.run_until_idle()
        assert outcomes(host, "hidden") == ["failed"]
        assert host.queue("hidden").peek() == []  # hidden for five minutes
        host.clock.advance(timedelta(minutes=4, seconds=59))
        host.run_until_idle()
        assert outcomes(host, "hidden") == ["failed"]
        host.clock.advance(2)
        (message,) = host.queue("hidden").messages()
        assert message.dequeue_count == 1
        assert message.next_visible_time - before >= timedelta(minutes=5)
        host.run_until_idle()
        assert outcomes(host, "hidden") == ["failed", "succeeded"]
        assert host.queue("hidden-done").peek() == ["parcel delivered 2 times"]
        assert host.clock.now() - before >= timedelta(minutes=5, seconds=1)


def test_the_clock_only_moves_forward(tmp_path: Path) -> None:
    with TestHost(write_app(tmp_path / "app", V2_APP), settings=STORAGE) as host:
        before = host.clock.now()
        with pytest.raises(ValueError, match="only moves forward"):
            host.clock.advance(-1)
        assert host.clock.now() - before < timedelta(seconds=1)


def test_a_host_stopping_in_a_retry_delay_does_not_wait_for_it(tmp_path: Path) -> None:
    host = TestHost(write_app(tmp_path / "app", V2_APP), settings=STORAGE)
    with host:
        host.queue("retried").send("job")
        host.run_until_idle()
        stopping = time.monotonic()
    # The delay is cancelled, not waited for (the host's drain time is 30 s).
    assert time.monotonic() - stopping < 5
    assert outcomes(host, "retried") == []
