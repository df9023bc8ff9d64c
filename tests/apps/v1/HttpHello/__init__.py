import logging

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    logging.info("Python HTTP trigger function processed a request.")
    name = req.params.get("name")
    if not name:
        try:
            name = req.get_json().get("name")
        except ValueError:
            pass
    if name:
        return func.HttpResponse(f"Hello, {name}!", headers={"my-http-header": "some-value"})
    return func.HttpResponse("Please pass a name", status_code=400)
