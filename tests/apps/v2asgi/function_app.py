import asyncio
import contextlib
import os
import sys

import azure.functions as func
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

EVENTS_FILE = os.environ.get("LIFESPAN_EVENTS_FILE")
state = {"startups": 0, "in_flight": 0, "max_in_flight": 0}


def record(event: str) -> None:
    if EVENTS_FILE:
        with open(EVENTS_FILE, "a") as f:
            f.write(event + "\n")


@contextlib.asynccontextmanager
async def lifespan(app):
    state["startups"] += 1
    record("startup")
    yield
    record("shutdown")


fastapi_app = FastAPI(lifespan=lifespan)


@fastapi_app.get("/hello/{name}")
async def get_name(name: str):
    return {"name": name, "startups": state["startups"]}


@fastapi_app.get("/wait")
async def wait(s: float = 0.5):
    state["in_flight"] += 1
    state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
    await asyncio.sleep(s)
    state["in_flight"] -= 1
    return {"max_in_flight": state["max_in_flight"]}


@fastapi_app.get("/exit")
async def exit_app():
    sys.exit(3)


@fastapi_app.get("/interrupt")
async def interrupt():
    raise KeyboardInterrupt


@fastapi_app.get("/stream-exit")
async def stream_exit():
    # StreamingResponse runs its body in a task of its own.
    async def body():
        yield b"partial"
        sys.exit(4)

    return StreamingResponse(body())


app = func.AsgiFunctionApp(app=fastapi_app, http_auth_level=func.AuthLevel.ANONYMOUS)
