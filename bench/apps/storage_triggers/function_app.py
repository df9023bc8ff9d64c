"""The storage benchmark's app: a trivial queue-triggered function, and a blob-triggered one
that records when it ran (for upload-to-invocation latency)."""

import os
import time

import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="bench-work", connection="AzureWebJobsStorage")
async def work(msg: str) -> None:
    pass


@app.blob_trigger(arg_name="blob", path="bench-uploads/{name}", connection="AzureWebJobsStorage")
def uploaded(blob: func.InputStream) -> None:
    with open(os.path.join(os.environ["BENCH_RECORD_DIR"], "blobs.txt"), "a") as f:
        f.write(f"{blob.name} {time.time()}\n")
