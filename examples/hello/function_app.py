import json
import logging
import os

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="hello", methods=["GET", "POST"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("Python HTTP trigger function processed a request.")
    name = req.params.get("name")
    if not name:
        try:
            name = req.get_json().get("name")
        except ValueError:
            name = None
    if not name:
        return func.HttpResponse(
            "Pass a name in the query string or in the request body.", status_code=400
        )
    return func.HttpResponse(f"{os.environ['GREETING']}, {name}!")


@app.route(route="items/{id:int}", methods=["GET"])
async def get_item(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    item = {"id": int(req.route_params["id"]), "invocation": context.invocation_id}
    return func.HttpResponse(json.dumps(item), mimetype="application/json")
