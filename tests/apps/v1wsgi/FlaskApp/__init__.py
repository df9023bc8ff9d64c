import logging

import azure.functions as func
from flask import Flask

app = Flask("Test")


@app.route("/flask/hello/<name>", methods=["GET"])
def hello(name: str):
    return f"hello {name}"


def main(req: func.HttpRequest, context) -> func.HttpResponse:
    logging.info("Python HTTP trigger function processed a request.")
    return func.WsgiMiddleware(app).handle(req, context)
