"""Queue-trigger throughput on the embedded store in the configurations users run.

    .venv/bin/python bench/queue_configs.py [--messages 10000] [--rounds 1]

A trivial queue-triggered function drains `--messages` preloaded messages from the app's
embedded store, in each configuration (a fresh app and store each time):

  def-start          `def` function, default host.json, `funchost start` (reload on): what
                     `func new` and Core Tools users run; target >= 4,000 msg/s
  def-batch-start    `def`, host.json queues batchSize 16 / newBatchThreshold 8, `funchost start`
  async-batch-start  `async def`, the same host.json, `funchost start`
  async-serve        `async def`, default host.json, `funchost serve`; target >= 8,000 msg/s
  def-serve          `def`, default host.json, `funchost serve`: the baseline of def-start;
                     target: start costs at most 10% over serve (def-start / def-serve >= 0.9)

Throughput is messages drained per second, from the first message leaving the queue to the
queue being empty (its length read every 50 ms). Every configuration logs its
Executing/Executed lines, as users run it. With `--rounds N` the configurations run N times in
rotating order and the medians are compared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import harness as h

sys.path.insert(0, str(h.REPO_ROOT))

from storage_bench import drain_rate, preload

from funchost.storage.accounts import embedded_path
from funchost.storage.sqlite import SqliteStorage
from tests.stores import StoreClient

QUEUE = "bench-work"
BATCH_HOST_JSON = {
    "version": "2.0",
    "extensions": {"queues": {"batchSize": 16, "newBatchThreshold": 8}},
}
TARGET_DEF_START = 4000.0
TARGET_ASYNC_SERVE = 8000.0
TARGET_START_OVER_SERVE = 0.9


@dataclass(frozen=True)
class Config:
    key: str
    asynchronous: bool
    batch: bool
    command: str  # start | serve

    @property
    def label(self) -> str:
        kind = "async def" if self.asynchronous else "def"
        host_json = "batchSize 16, newBatchThreshold 8" if self.batch else "defaults"
        return f"{kind}, host.json {host_json}, funchost {self.command}"


CONFIGS = [
    Config("def-start", False, False, "start"),
    Config("def-batch-start", False, True, "start"),
    Config("async-batch-start", True, True, "start"),
    Config("async-serve", True, False, "serve"),
    Config("def-serve", False, False, "serve"),
]


def write_app(root: Path, config: Config) -> Path:
    root.mkdir(parents=True)
    keyword = "async def" if config.asynchronous else "def"
    (root / "function_app.py").write_text(
        "import azure.functions as func\n\n"
        "app = func.FunctionApp()\n\n\n"
        f"@app.queue_trigger(arg_name='msg', queue_name='{QUEUE}', "
        "connection='AzureWebJobsStorage')\n"
        f"{keyword} work(msg: str) -> None:\n"
        "    pass\n"
    )
    host_json = BATCH_HOST_JSON if config.batch else {"version": "2.0"}
    (root / "host.json").write_text(json.dumps(host_json))
    return root


def measure(config: Config, messages: int, work: Path, log_dir: Path, run: int) -> float:
    app = write_app(work / f"{config.key}-{run}", config)
    store = StoreClient(SqliteStorage(embedded_path(app / ".funchost")))
    try:
        preload(store, messages)
        spec = h.funchost_spec(
            config.key,
            config.label,
            app,
            command=config.command,
            secrets_dir=work / f"secrets-{config.key}-{run}",
            path="/admin/host/ping",
        )
        # The embedded store in the app folder, as users have it (no FUNCHOST_STATE_DIR).
        spec = replace(spec, env={**spec.env, "AzureWebJobsStorage": ""})
        with h.running(spec, log_dir / f"run{run}"):
            return drain_rate(store, messages, 0.05)
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    run_stamp, info, log_dir = h.begin("queue-configs")
    rates: dict[str, list[float]] = {c.key: [] for c in CONFIGS}
    with h.temp_dir("funchost-queue-configs-") as work:
        for run in range(args.rounds):
            shift = run % len(CONFIGS)
            for config in CONFIGS[shift:] + CONFIGS[:shift]:
                rate = measure(config, args.messages, work, log_dir, run + 1)
                rates[config.key].append(rate)
                h.say(f"  round {run + 1}: {config.label}: {rate:,.0f} msg/s")
    median = {key: statistics.median(values) for key, values in rates.items()}
    start_over_serve = median["def-start"] / median["def-serve"]
    checks = {
        "def-start": h.verdict(median["def-start"] >= TARGET_DEF_START),
        "async-serve": h.verdict(median["async-serve"] >= TARGET_ASYNC_SERVE),
        "start-over-serve": h.verdict(start_over_serve >= TARGET_START_OVER_SERVE),
    }
    h.say()
    h.say(
        h.text_table(
            ["configuration", "msg/s (median)"],
            [[c.label, f"{median[c.key]:,.0f}"] for c in CONFIGS],
        )
    )
    h.say(
        h.text_table(
            ["target", "got", "verdict"],
            [
                [
                    f"def, defaults, start >= {TARGET_DEF_START:,.0f} msg/s",
                    f"{median['def-start']:,.0f}",
                    checks["def-start"],
                ],
                [
                    f"async def, defaults, serve >= {TARGET_ASYNC_SERVE:,.0f} msg/s",
                    f"{median['async-serve']:,.0f}",
                    checks["async-serve"],
                ],
                [
                    "start costs <= 10% over serve (def, defaults): start/serve >= 0.90",
                    f"{start_over_serve:.2f}",
                    checks["start-over-serve"],
                ],
            ],
        )
    )
    data: dict[str, Any] = {
        "benchmark": "queue_configs",
        "machine": info,
        "params": vars(args),
        "configs": {c.key: c.label for c in CONFIGS},
        "rates": rates,
        "median": median,
        "start_over_serve": start_over_serve,
        "checks": checks,
    }
    md_rows = [
        [str(args.messages), str(args.rounds), c.label, f"{median[c.key]:,.0f}"] for c in CONFIGS
    ]
    md_headers = ["Messages", "Rounds", "Configuration", "msg/s (median)"]
    h.report("queue-configs", run_stamp, info, data, md_headers, md_rows)
    return 0


if __name__ == "__main__":
    h.run_main(main, "queue_configs")
