"""Queue-triggered functions and queue outputs, recording what they saw in RECORD_DIR."""

import json
import os
import time

import azure.functions as func

app = func.FunctionApp()


def record(name: str, **data) -> None:
    data["pid"] = os.getpid()
    data["at"] = time.time()
    with open(os.path.join(os.environ["RECORD_DIR"], f"{name}.jsonl"), "a") as f:
        f.write(json.dumps(data) + "\n")


@app.queue_trigger(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="processed", connection="AzureWebJobsStorage")
def process_order(msg: func.QueueMessage, out: func.Out[str]) -> None:
    body = msg.get_body().decode()
    record(
        "process_order",
        id=msg.id,
        body=body,
        dequeue_count=msg.dequeue_count,
        pop_receipt=msg.pop_receipt,
        insertion_time=msg.insertion_time.isoformat() if msg.insertion_time else None,
        expiration_time=msg.expiration_time.isoformat() if msg.expiration_time else None,
        time_next_visible=msg.time_next_visible.isoformat() if msg.time_next_visible else None,
    )
    out.set(body.upper())


@app.queue_trigger(arg_name="msg", queue_name="doomed", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="never-written", connection="AzureWebJobsStorage")
def always_fails(msg: str, out: func.Out[str]) -> None:
    record("always_fails", body=msg)
    out.set("this must never be sent")
    raise RuntimeError(f"cannot handle {msg}")


@app.queue_trigger(arg_name="msg", queue_name="%ROUTED_QUEUE%", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="routed-{kind}", connection="AzureWebJobsStorage")
def route_by_kind(msg: func.QueueMessage, out: func.Out[str]) -> None:
    payload = msg.get_json()
    out.set(json.dumps({"id": payload["id"], "dequeue": msg.dequeue_count}))


@app.queue_trigger(arg_name="msg", queue_name="fanout", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="$return", queue_name="fanned", connection="AzureWebJobsStorage")
def fan_out(msg: str):
    # A list returned to a queue output: one message per element.
    return [f"{msg}-{i}" for i in range(3)]


@app.route(route="enqueue", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, msg: func.Out[str]) -> func.HttpResponse:
    msg.set(req.get_body().decode())
    return func.HttpResponse(status_code=202)


@app.route(route="send/{target}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="msg", queue_name="{target}-{Query.suffix}", connection="AzureWebJobsStorage")
def send_to(req: func.HttpRequest, msg: func.Out[bytes]) -> str:
    msg.set(req.get_body())
    return "sent"


@app.route(route="fail-after-output", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="msg", queue_name="orders", connection="AzureWebJobsStorage")
def fail_after_output(req: func.HttpRequest, msg: func.Out[str]) -> str:
    msg.set("must not be sent")
    raise ValueError("failed after setting the output")


@app.queue_trigger(arg_name="msg", queue_name="slow", connection="AzureWebJobsStorage")
def slow(msg: str) -> None:
    record("slow_start", body=msg)
    time.sleep(float(os.environ.get("SLOW_SECONDS", "3")))
    record("slow_end", body=msg)


@app.queue_trigger(arg_name="msg", queue_name="raw-bytes", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="out", queue_name="bytes-seen", connection="AzureWebJobsStorage")
def raw_bytes(msg: bytes, out: func.Out[str]) -> None:
    out.set(f"{type(msg).__name__}:{msg!r}")
