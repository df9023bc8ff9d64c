"""Orders: an HTTP API, a queue, a blob and a timer, on funchost's embedded store.

    funchost start examples/orders
    curl -X POST localhost:7071/api/orders -d '{"id": "A-1", "item": "tea", "quantity": 2}'
    curl localhost:7071/api/orders/A-1
    funchost queue list --app examples/orders
    funchost blob list receipts --app examples/orders

With "AzureWebJobsStorage": "" the queue and the blobs live in examples/orders/.funchost/;
set it to "UseDevelopmentStorage=true" (and start Azurite) or to a real connection string to
run the same app on Azure Storage.
"""

import json
import logging

import azure.functions as func

app = func.FunctionApp()
STORAGE = "AzureWebJobsStorage"


@app.route(route="orders", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.queue_output(arg_name="order", queue_name="orders", connection=STORAGE)
def place_order(req: func.HttpRequest, order: func.Out[str]) -> func.HttpResponse:
    try:
        body = req.get_json()
    except ValueError:
        return func.HttpResponse("expected a JSON order", status_code=400)
    if not isinstance(body, dict) or not body.get("id"):
        return func.HttpResponse("an order needs an id", status_code=400)
    order.set(json.dumps(body))
    return func.HttpResponse(status_code=202)


@app.queue_trigger(arg_name="msg", queue_name="orders", connection=STORAGE)
@app.blob_output(arg_name="receipt", path="receipts/{id}.json", connection=STORAGE)
def fulfil_order(msg: func.QueueMessage, receipt: func.Out[str]) -> None:
    order = msg.get_json()
    logging.info("fulfilling order %s (attempt %d)", order["id"], msg.dequeue_count)
    receipt.set(json.dumps({"order": order, "status": "fulfilled"}))


@app.route(route="orders/{id}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@app.blob_input(arg_name="receipt", path="receipts/{id}.json", connection=STORAGE)
def get_order(req: func.HttpRequest, receipt: str) -> func.HttpResponse:
    if receipt is None:
        return func.HttpResponse("not fulfilled yet", status_code=404)
    return func.HttpResponse(receipt, mimetype="application/json")


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
def report(timer: func.TimerRequest) -> None:
    logging.info("five-minute report (past due: %s)", timer.past_due)
