"""TestHost's overhead per invocation, beside calling the function directly.

    .venv/bin/python bench/testhost_bench.py [--calls 2000] [--messages 200] [--starts 10]

One in-process `funchost.testing.TestHost` on a generated v2 app, as a test suite drives it:
  direct       the developer reference's unit test: build a `func.HttpRequest`, call the
               function (the baseline, in the same run)
  http         `host.client.get("/api/hello")`: the whole host, through httpx and ASGI
  invoke       `host.invoke("tick")`: a timer function run as the admin API runs it, with its
               `Invocation` record and logs
  queue        `host.queue("inbox").send(...)` then `host.run_until_idle()`: a queue-triggered
               function with a queue output, from the send to the app being idle again
  start        `TestHost(app)` started and stopped (an empty embedded store of its own each)
Each is timed over `--calls` calls (`--messages` round trips, `--starts` starts), after a
warm-up; the figures are medians of five equal slices, in microseconds per call (milliseconds
for start). Targets: http <= 2 ms, invoke <= 1 ms, queue round trip <= 10 ms, start <= 300 ms.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import azure.functions as func
import harness as h

from funchost.testing import TestHost

TARGETS = {"http": 2000.0, "invoke": 1000.0, "queue": 10_000.0, "start": 300.0}
SLICES = 5

APP = """\
import azure.functions as func

app = func.FunctionApp()


@app.route(route="hello", auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("Hello, " + req.params.get("name", "world"))


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    pass


@app.queue_trigger(arg_name="msg", queue_name="inbox", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="$return", queue_name="outbox", connection="AzureWebJobsStorage")
def relay(msg: str) -> str:
    return msg
"""


def per_call(op: Callable[[], Any], calls: int) -> tuple[float, list[float]]:
    """The median over SLICES slices of the time per call, in microseconds, and the slices."""
    size = max(1, calls // SLICES)
    slices = []
    for _ in range(SLICES):
        began = time.perf_counter()
        for _ in range(size):
            op()
        slices.append((time.perf_counter() - began) / size * 1e6)
    return statistics.median(slices), slices


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--starts", type=int, default=10)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    run_stamp, info, _ = h.begin("testhost")
    # The host's Executing/Executed records at INFO: kept by TestHost, not printed here.
    logging.getLogger().handlers.clear()
    results: dict[str, float] = {}
    samples: dict[str, list[float]] = {}
    settings = {"AzureWebJobsStorage": ""}
    with h.temp_dir("funchost-bench-testhost-") as tmp:
        app = tmp / "app"
        app.mkdir()
        (app / "host.json").write_text('{"version": "2.0"}')
        (app / "function_app.py").write_text(APP)
        with TestHost(app, settings=settings) as host:
            spec = host.host.index.get("hello")
            assert spec is not None
            function = spec.callable

            def direct() -> None:
                req = func.HttpRequest(
                    method="GET", body=None, url="/api/hello", params={"name": "x"}
                )
                function(req)

            def http() -> None:
                host.client.get("/api/hello", params={"name": "x"})

            def invoke() -> None:
                host.invoke("tick")

            queue = host.queue("inbox")

            def round_trip() -> None:
                queue.send("m")
                host.run_until_idle()

            for name, op, calls in (
                ("direct", direct, args.calls),
                ("http", http, args.calls),
                ("invoke", invoke, args.calls),
                ("queue", round_trip, args.messages),
            ):
                per_call(op, max(SLICES, calls // 10))  # warm-up
                results[name], samples[name] = per_call(op, calls)
                h.say(f"  {name}: {results[name]:.1f} us per call")
            outputs = len(host.queue("outbox").peek())

        def start() -> None:
            with TestHost(app, settings=settings):
                pass

        start_us, start_samples = per_call(start, max(SLICES, args.starts))
        results["start"], samples["start"] = start_us / 1000, [s / 1000 for s in start_samples]
        h.say(f"  start: {results['start']:.1f} ms")

    h.say()
    rows = [
        ["direct call (baseline)", f"{results['direct']:.1f} us", "", ""],
        [
            "host.client.get",
            f"{results['http']:.1f} us",
            f"{results['http'] - results['direct']:.1f} us",
            h.verdict(results["http"] <= TARGETS["http"]),
        ],
        [
            "host.invoke (timer)",
            f"{results['invoke']:.1f} us",
            f"{results['invoke'] - results['direct']:.1f} us",
            h.verdict(results["invoke"] <= TARGETS["invoke"]),
        ],
        [
            "queue send + run_until_idle",
            f"{results['queue']:.1f} us",
            f"{results['queue'] - results['direct']:.1f} us",
            h.verdict(results["queue"] <= TARGETS["queue"]),
        ],
        [
            "TestHost start + stop",
            f"{results['start']:.1f} ms",
            "",
            h.verdict(results["start"] <= TARGETS["start"]),
        ],
    ]
    h.say(h.text_table(["per call", "median", "over direct", "target"], rows))
    data: dict[str, Any] = {
        "benchmark": "testhost",
        "machine": info,
        "params": vars(args),
        "results": results,
        "slices": samples,
        "queue_outputs": outputs,
        "targets": TARGETS,
    }
    h.report(
        "testhost",
        run_stamp,
        info,
        data,
        ["direct (us)", "client.get (us)", "invoke (us)", "queue round trip (us)", "start (ms)"],
        [
            [
                f"{results['direct']:.1f}",
                f"{results['http']:.0f}",
                f"{results['invoke']:.0f}",
                f"{results['queue']:.0f}",
                f"{results['start']:.0f}",
            ]
        ],
    )
    return 0


if __name__ == "__main__":
    h.run_main(main, "testhost")
