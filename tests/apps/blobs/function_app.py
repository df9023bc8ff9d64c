"""Blob-triggered functions and blob inputs and outputs, recording what they saw."""

import json
import os
import time

import azure.functions as func

app = func.FunctionApp()
STORAGE = "AzureWebJobsStorage"


def record(log: str, **data) -> None:
    data["pid"] = os.getpid()
    data["at"] = time.time()
    with open(os.path.join(os.environ["RECORD_DIR"], f"{log}.jsonl"), "a") as f:
        f.write(json.dumps(data) + "\n")


@app.blob_trigger(arg_name="blob", path="images/{name}.{ext}", connection=STORAGE)
@app.blob_output(arg_name="thumb", path="thumbs/{name}-small.{ext}", connection=STORAGE)
def resize(blob: func.InputStream, thumb: func.Out[bytes]) -> None:
    data = blob.read()
    record(
        "resize",
        name=blob.name,
        length=blob.length,
        uri=blob.uri,
        properties=blob.blob_properties,
        metadata=blob.metadata,
        data=data.decode(),
    )
    thumb.set(data[:4])  # written only if the function succeeds
    if blob.name.rsplit("/", 1)[-1].startswith("bad"):
        raise ValueError("cannot resize a bad image")


@app.blob_trigger(arg_name="text", path="notes/{folder}/{file}", connection=STORAGE)
def note(text: str) -> None:
    record("note", text=text, kind=type(text).__name__)


@app.route(route="docs/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@app.blob_input(arg_name="doc", path="docs/{name}", connection=STORAGE)
def get_doc(req: func.HttpRequest, doc: str) -> func.HttpResponse:
    if doc is None:
        return func.HttpResponse("no such document", status_code=404)
    return func.HttpResponse(doc)


@app.route(route="upload", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.blob_output(arg_name="out", path="uploads/{name}", connection=STORAGE)
def upload(req: func.HttpRequest, out: func.Out[str]) -> str:
    out.set(req.get_json()["content"])
    return "stored"
