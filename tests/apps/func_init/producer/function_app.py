import logging

import azure.functions as func

app = func.FunctionApp()


@app.route(route="http_trigger", auth_level=func.AuthLevel.FUNCTION)
@app.queue_output(arg_name="order", queue_name="orders", connection="AzureWebJobsStorage")
def http_trigger(req: func.HttpRequest, order: func.Out[str]) -> func.HttpResponse:
    logging.info("http_trigger received a request.")
    name = req.params.get("name")
    if not name:
        return func.HttpResponse("Pass an order name in the query string.", status_code=400)
    order.set(name)
    return func.HttpResponse(f"Queued {name}.")
