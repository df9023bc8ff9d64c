"""A queue function and a timer, recording which process ran each invocation."""

import asyncio
import json
import os
import time

import azure.functions as func

app = func.FunctionApp()


def record(log: str, **data) -> None:
    data["pid"] = os.getpid()
    data["at"] = time.time()
    with open(os.path.join(os.environ["RECORD_DIR"], f"{log}.jsonl"), "a") as f:
        f.write(json.dumps(data) + "\n")


@app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
async def work(msg: str) -> None:
    # A little time per message, as a function that calls anything takes: a burst of 1,000
    # trivial messages is drained by one process in a tenth of a second, before the other
    # gets the store's write lock (SQLite's busy handler backs off), and nothing is shared.
    await asyncio.sleep(0.005)
    record("work", body=msg)


@app.timer_trigger(schedule="* * * * * *", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    record("tick")


@app.blob_trigger(arg_name="blob", path="drops/{name}", connection="AzureWebJobsStorage")
def drop(blob: func.InputStream) -> None:
    record("drop", name=blob.name)
