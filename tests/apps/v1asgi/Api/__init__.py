import contextlib
import os
import sys

import azure.functions as func
from fastapi import FastAPI

state = {"startups": 0}


@contextlib.asynccontextmanager
async def lifespan(app):
    state["startups"] += 1
    yield
    with open(os.environ["LIFESPAN_EVENTS_FILE"], "a") as f:
        f.write("shutdown\n")


app = FastAPI(lifespan=lifespan)


@app.get("/state")
async def get_state():
    return state


@app.get("/exit")
async def exit_app():
    sys.exit(3)


@app.get("/interrupt")
async def interrupt():
    raise KeyboardInterrupt


asgi = func.AsgiMiddleware(app)


async def main(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return await asgi.handle_async(req, context)
