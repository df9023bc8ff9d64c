"""The endpoint benchmark's queue-trigger app: one plain `def` queue-triggered function, as users
write them. A message whose body starts with "t:" carries the time it was sent (time.time()); the
function appends "<sent> <started>" to BENCH_RECORD_DIR/latency.txt. Other messages do nothing."""

import os
import time

import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="bench-trigger", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage) -> None:
    started = time.time()
    body = msg.get_body()
    if body.startswith(b"t:"):
        with open(os.path.join(os.environ["BENCH_RECORD_DIR"], "latency.txt"), "a") as f:
            f.write(f"{body[2:].decode()} {started}\n")
