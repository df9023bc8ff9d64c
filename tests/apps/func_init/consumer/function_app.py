import datetime
import logging

import azure.functions as func

app = func.FunctionApp()


@app.route(route="http_trigger", auth_level=func.AuthLevel.FUNCTION)
def http_trigger(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("http_trigger received a request.")
    name = req.params.get("name")
    if not name:
        try:
            name = req.get_json().get("name")
        except ValueError:
            name = None
    if name:
        return func.HttpResponse(f"Hello, {name}.")
    return func.HttpResponse("Pass a name in the query string or in the request body.")


@app.queue_trigger(arg_name="azqueue", queue_name="orders", connection="AzureWebJobsStorage")
@app.queue_output(arg_name="receipt", queue_name="receipts", connection="AzureWebJobsStorage")
def queue_trigger(azqueue: func.QueueMessage, receipt: func.Out[str]) -> None:
    order = azqueue.get_body().decode("utf-8")
    logging.info("queue_trigger processed order %s", order)
    receipt.set(f"paid {order}")


@app.blob_trigger(arg_name="myblob", path="uploads/{name}", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="processed", path="processed/{name}", connection="AzureWebJobsStorage")
def blob_trigger(myblob: func.InputStream, processed: func.Out[str]) -> None:
    logging.info("blob_trigger processed blob %s of %s bytes", myblob.name, myblob.length)
    processed.set(f"{myblob.length} bytes: " + myblob.read().decode("utf-8").upper())


@app.timer_trigger(schedule="* * * * * *", arg_name="myTimer", run_on_startup=False,
                   use_monitor=False)
@app.blob_output(arg_name="heartbeat", path="heartbeats/consumer.txt",
                 connection="AzureWebJobsStorage")
def timer_trigger(myTimer: func.TimerRequest, heartbeat: func.Out[str]) -> None:
    if myTimer.past_due:
        logging.info("The timer is past due!")
    logging.info("timer_trigger executed.")
    heartbeat.set(datetime.datetime.now(datetime.timezone.utc).isoformat())
