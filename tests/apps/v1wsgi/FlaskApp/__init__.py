import logging
import sys

import azure.functions as func
from flask import Flask

app = Flask("Test")


@app.route("/flask/hello/<name>", methods=["GET"])
def hello(name: str):
    return f"hello {name}"


@app.route("/flask/exit", methods=["GET"])
def exit_app():
    sys.exit(3)


@app.route("/flask/interrupt", methods=["GET"])
def interrupt():
    raise KeyboardInterrupt


def main(req: func.HttpRequest, context) -> func.HttpResponse:
    logging.info("Python HTTP trigger function processed a request.")
    return func.WsgiMiddleware(app).handle(req, context)
