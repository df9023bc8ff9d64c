import sys

import azure.functions as func
from flask import Flask, request

flask_app = Flask(__name__)


@flask_app.route("/hello/<name>", methods=["GET"])
def hello(name: str):
    return f"hello {name}"


@flask_app.route("/echo", methods=["POST"])
def echo():
    return {"json": request.get_json(), "query": request.args.get("q")}


@flask_app.route("/exit", methods=["GET"])
def exit_app():
    sys.exit(3)


@flask_app.route("/interrupt", methods=["GET"])
def interrupt():
    raise KeyboardInterrupt


app = func.WsgiFunctionApp(app=flask_app.wsgi_app, http_auth_level=func.AuthLevel.ANONYMOUS)
