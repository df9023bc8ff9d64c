"""The function templates of `funchost new`: what each writes for a v1 folder and a v2 app.

Each template names its trigger's settings the way Core Tools' Python templates do (binding
names, defaults), with the connection set to `AzureWebJobsStorage`, so a new function runs at
once on the embedded store, and a test that drives it through `funchost.testing.TestHost`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

AUTH_LEVELS = ("anonymous", "function", "admin")
DEFAULT_AUTH_LEVEL = "function"

QUEUE_NAME = "python-queue-items"
BLOB_CONTAINER = "samples-workitems"
BLOB_PATH = BLOB_CONTAINER + "/{name}"
SCHEDULE = "0 */5 * * * *"
CONNECTION = "AzureWebJobsStorage"

_HTTP_BODY = """\
    logging.info("Python HTTP trigger function processed a request.")

    name = req.params.get("name")
    if not name:
        try:
            req_body = req.get_json()
        except ValueError:
            pass
        else:
            if isinstance(req_body, dict):
                name = req_body.get("name")

    if name:
        return {func}.HttpResponse(
            f"Hello, {{name}}. This HTTP triggered function executed successfully."
        )
    return {func}.HttpResponse(
        "This HTTP triggered function executed successfully. Pass a name in the query string "
        "or in the request body for a personalized response.",
        status_code=200,
    )
"""

_TIMER_BODY = """\
    if {arg}.past_due:
        logging.info("The timer is past due!")

    logging.info("Python timer trigger function ran.")
"""

_QUEUE_BODY = """\
    logging.info(
        "Python queue trigger function processed a queue item: %s",
        {arg}.get_body().decode("utf-8"),
    )
"""

_BLOB_BODY = """\
    logging.info(
        "Python blob trigger function processed blob %s (%s bytes)",
        {arg}.name,
        {arg}.length,
    )
"""

_TEST_HEAD = '''\
"""Tests of the {name} function: funchost's TestHost runs the app in-process (pytest)."""

from pathlib import Path

from funchost.testing import TestHost

APP_DIR = Path(__file__).resolve().parent.parent
'''

_HTTP_TEST = """

def test_{ident}_greets_the_name_in_the_query_string() -> None:
    with TestHost(APP_DIR) as host:
        response = host.client.get("/api/{route}", params={{"name": "Ada"}})
    assert response.status_code == 200
    assert "Hello, Ada." in response.text


def test_{ident}_reads_the_name_from_a_json_body() -> None:
    with TestHost(APP_DIR) as host:
        response = host.client.post("/api/{route}", json={{"name": "Grace"}})
    assert response.status_code == 200
    assert "Hello, Grace." in response.text
"""

_TIMER_TEST = """

def test_{ident}_runs() -> None:
    with TestHost(APP_DIR) as host:
        # As `POST /admin/functions/{name}` runs it: now, whatever the schedule.
        result = host.invoke("{name}")
    assert result.succeeded, result.error
"""

_QUEUE_TEST = """

def test_{ident}_processes_a_message() -> None:
    with TestHost(APP_DIR) as host:
        # As `POST /admin/functions/{name}` runs it: the input is the message's body.
        result = host.invoke("{name}", "hello")
    assert result.succeeded, result.error
"""

_BLOB_TEST = """

def test_{ident}_processes_a_blob() -> None:
    import os

    from azure.storage.blob import BlobServiceClient

    with TestHost(APP_DIR) as host:
        # The app's embedded store, served as Azure Storage while the host runs.
        with BlobServiceClient.from_connection_string(os.environ["FUNCHOST_STORAGE"]) as service:
            container = service.get_container_client("{container}")
            if not container.exists():
                container.create_container()
            container.upload_blob("test.txt", b"hello", overwrite=True)
        # As `POST /admin/functions/{name}` runs it: the input is the blob's path.
        result = host.invoke("{name}", "{container}/test.txt")
    assert result.succeeded, result.error
"""


@dataclass(frozen=True)
class Template:
    """One template: its name, the other names it answers to, and what it writes."""

    name: str
    aliases: tuple[str, ...]
    trigger: str
    arg: str  # the trigger's parameter
    annotation: str  # the parameter's type, in azure.functions
    returns: str  # the v1/v2 return annotation ("" for none)
    body: str
    test: str

    @property
    def is_http(self) -> bool:
        return self.trigger == "httpTrigger"

    def matches(self, text: str) -> bool:
        wanted = " ".join(text.split()).casefold()
        return wanted in (n.casefold() for n in (self.name, *self.aliases))

    def bindings(self, auth_level: str) -> list[dict[str, Any]]:
        """The function.json bindings of a v1 function."""
        trigger: dict[str, Any] = {"name": self.arg, "type": self.trigger, "direction": "in"}
        if self.is_http:
            trigger = {"authLevel": auth_level, **trigger, "methods": ["get", "post"]}
            return [trigger, {"type": "http", "direction": "out", "name": "$return"}]
        if self.trigger == "timerTrigger":
            trigger["schedule"] = SCHEDULE
        elif self.trigger == "queueTrigger":
            trigger.update(queueName=QUEUE_NAME, connection=CONNECTION)
        else:
            trigger.update(path=BLOB_PATH, connection=CONNECTION)
        return [trigger]

    def function_json(self, auth_level: str) -> str:
        data = {"scriptFile": "__init__.py", "bindings": self.bindings(auth_level)}
        return json.dumps(data, indent=4) + "\n"

    def signature(self, function: str, func: str) -> str:
        returns = f"{func}.{self.returns}" if self.returns else "None"
        return f"def {function}({self.arg}: {func}.{self.annotation}) -> {returns}:\n"

    def v1_module(self) -> str:
        """The `__init__.py` of a v1 function."""
        return (
            "import logging\n\nimport azure.functions as func\n\n\n"
            + self.signature("main", "func")
            + self.body.format(func="func", arg=self.arg)
        )

    def decorator(self, owner: str, func: str, route: str, auth_level: str) -> str:
        """The v2 decorator of a function on `owner` (a FunctionApp or a Blueprint)."""
        if self.is_http:
            level = f"{func}.AuthLevel.{auth_level.upper()}"
            return _call(f"@{owner}.route", [f'route="{route}"', f"auth_level={level}"])
        if self.trigger == "timerTrigger":
            return _call(
                f"@{owner}.timer_trigger",
                [
                    f'schedule="{SCHEDULE}"',
                    f'arg_name="{self.arg}"',
                    "run_on_startup=False",
                    "use_monitor=False",
                ],
            )
        if self.trigger == "queueTrigger":
            return _call(
                f"@{owner}.queue_trigger",
                [
                    f'arg_name="{self.arg}"',
                    f'queue_name="{QUEUE_NAME}"',
                    f'connection="{CONNECTION}"',
                ],
            )
        return _call(
            f"@{owner}.blob_trigger",
            [f'arg_name="{self.arg}"', f'path="{BLOB_PATH}"', f'connection="{CONNECTION}"'],
        )

    def v2_function(self, owner: str, func: str, name: str, auth_level: str) -> str:
        """A decorated v2 function, ready to append to a module."""
        return (
            self.decorator(owner, func, name, auth_level)
            + self.signature(name, func)
            + self.body.format(func=func, arg=self.arg)
        )

    def test_module(self, name: str) -> str:
        ident = "".join(c if c.isalnum() else "_" for c in name)
        return _TEST_HEAD.format(name=name) + self.test.format(
            name=name, ident=ident, route=name, container=BLOB_CONTAINER
        )


TEMPLATES = (
    Template(
        "Azure Blob Storage trigger",
        ("Blob trigger", "BlobTrigger"),
        "blobTrigger",
        "myblob",
        "InputStream",
        "",
        _BLOB_BODY,
        _BLOB_TEST,
    ),
    Template(
        "Azure Queue Storage trigger",
        ("Queue trigger", "QueueTrigger"),
        "queueTrigger",
        "msg",
        "QueueMessage",
        "",
        _QUEUE_BODY,
        _QUEUE_TEST,
    ),
    Template(
        "HTTP trigger",
        ("HttpTrigger",),
        "httpTrigger",
        "req",
        "HttpRequest",
        "HttpResponse",
        _HTTP_BODY,
        _HTTP_TEST,
    ),
    Template(
        "Timer trigger",
        ("TimerTrigger",),
        "timerTrigger",
        "mytimer",
        "TimerRequest",
        "",
        _TIMER_BODY,
        _TIMER_TEST,
    ),
)


def _call(callee: str, args: list[str], width: int = 99) -> str:
    """`callee(args)` on one line, or wrapped with its arguments under the first one."""
    line = f"{callee}({', '.join(args)})"
    if len(line) <= width:
        return line + "\n"
    lines = [f"{callee}({args[0]}"]
    indent = " " * (len(callee) + 1)
    for arg in args[1:]:
        if len(lines[-1]) + len(arg) + 3 <= width:
            lines[-1] += f", {arg}"
        else:
            lines[-1] += ","
            lines.append(indent + arg)
    return "\n".join(lines) + ")\n"


def find_template(text: str) -> Template | None:
    for template in TEMPLATES:
        if template.matches(text):
            return template
    return None
