import asyncio
import contextvars
import json
import threading
import time

import azure.functions as func

from blueprint_funcs import bp
from unregistered_bp import lonely  # noqa: F401  (imported but never registered)

app = func.FunctionApp()  # default auth level: FUNCTION
app.register_functions(bp)


@app.route(route="hello", auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"Hello, {req.params.get('name', 'world')}!")


@app.route(auth_level=func.AuthLevel.ANONYMOUS)
def default_route(req: func.HttpRequest) -> str:
    return "default route is the function name"


@app.function_name(name="Renamed")
@app.route(route="renamed", auth_level=func.AuthLevel.ANONYMOUS, methods=["POST"])
def renamed_impl(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(req.get_json()), mimetype="application/json")


@app.route(route="secure")
def secure(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("secure ok")


@app.route(route="slow-async", auth_level=func.AuthLevel.ANONYMOUS)
async def slow_async(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(float(req.params.get("s", "0.5")))
    return func.HttpResponse(threading.current_thread().name)


@app.route(route="slow-sync", auth_level=func.AuthLevel.ANONYMOUS)
def slow_sync(req: func.HttpRequest) -> func.HttpResponse:
    time.sleep(float(req.params.get("s", "0.5")))
    return func.HttpResponse(threading.current_thread().name)


@app.route(route="ctx", auth_level=func.AuthLevel.ANONYMOUS)
def ctx(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"function_directory": context.function_directory,
                    "function_name": context.function_name}),
        mimetype="application/json",
    )


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False)
def yearly(timer: func.TimerRequest) -> None:
    pass


@app.route(route="framing", auth_level=func.AuthLevel.ANONYMOUS)
def framing(req: func.HttpRequest) -> func.HttpResponse:
    # Framing headers a function sets are not the host's to trust: it frames the body itself.
    return func.HttpResponse(
        "framed by the host", headers={"Content-Length": "999", "Transfer-Encoding": "chunked"}
    )


REQUEST_MARK: contextvars.ContextVar[str] = contextvars.ContextVar("request_mark")


@app.route(route="context-isolation", auth_level=func.AuthLevel.ANONYMOUS)
async def context_isolation(req: func.HttpRequest) -> func.HttpResponse:
    seen = REQUEST_MARK.get("unset")
    REQUEST_MARK.set(req.params.get("mark", ""))
    return func.HttpResponse(seen)
