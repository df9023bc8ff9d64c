"""Response cookies as Azure sends them: every `Set-Cookie` header a function sets is parsed
into cookies (as the `azure.functions` converter and the worker parse them) and each cookie is
written back as a header of its own in the host's form and attribute order; a value the worker
cannot convert fails the invocation (500). The other headers survive beside them, one value per
name as in Azure. Under `start` and `serve`, v1 and v2 apps."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import HTTP_FUNCTION_JSON, RunningHost, StartHost, write_app
from tests.stores import Backend

COMMANDS = ["start", "serve"]

V2_APP = """
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def response(*set_cookies: str) -> func.HttpResponse:
    resp = func.HttpResponse("baked")
    for value in set_cookies:
        resp.headers.add("Set-Cookie", value)
    return resp


@app.route(route="two-cookies")
def two_cookies(req: func.HttpRequest) -> func.HttpResponse:
    resp = response(
        "session=abc; Domain=example.org; Expires=Fri, 03-Mar-2023 04:05:06 GMT; Path=/app; "
        "Max-Age=3600; Secure; HttpOnly",
        "theme=dark; HttpOnly; Path=/; SameSite=Lax; Max-Age=60; Domain=example.org",
    )
    resp.headers.add("X-Kept", "yes")
    return resp


@app.route(route="plain")
async def plain(req: func.HttpRequest) -> func.HttpResponse:
    return response("flavour=oat")


@app.route(route="two-in-one")
def two_in_one(req: func.HttpRequest) -> func.HttpResponse:
    return response("first=1; second=2; SameSite=Strict")


@app.route(route="constructor")
def constructor(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("baked", headers={"set-cookie": "lower=case; secure"})


@app.route(route="encoded")
def encoded(req: func.HttpRequest) -> func.HttpResponse:
    return response('note="a b,c"; SameSite=None; Secure', "odd=x; SameSite=sometimes")


@app.route(route="empty")
def empty(req: func.HttpRequest) -> func.HttpResponse:
    return response("")


@app.route(route="unknown-flag")
def unknown_flag(req: func.HttpRequest) -> func.HttpResponse:
    return response("crumb=1; Path=/; Crunchy; HttpOnly")


@app.route(route="bad-expires")
def bad_expires(req: func.HttpRequest) -> func.HttpResponse:
    return response("ok=1", "stale=1; Expires=someday")


@app.route(route="bad-max-age")
async def bad_max_age(req: func.HttpRequest) -> func.HttpResponse:
    return response("aged=1; Max-Age=forever")


@app.route(route="negative-max-age")
def negative_max_age(req: func.HttpRequest) -> func.HttpResponse:
    return response("aged=1; Max-Age=-5")


@app.route(route="twice")
def twice(req: func.HttpRequest) -> func.HttpResponse:
    resp = response("kept=1")
    resp.headers.add("X-Twice", "first")
    resp.headers.add("X-Twice", "second")
    resp.headers.add("X-Once", "only")
    return resp


@app.route(route="hello")
def hello(req: func.HttpRequest) -> str:
    return "hi"
"""

V1_COOKIES = """
import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    resp = func.HttpResponse("v1")
    resp.headers.add("Set-Cookie", "a=1; Path=/; Expires=Sun, 01 Jan 2034 00:00:00 GMT")
    resp.headers.add("Set-Cookie", "b=2; HttpOnly")
    return resp
"""

V1_BAD_EXPIRES = """
import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    resp = func.HttpResponse("v1")
    resp.headers.add("Set-Cookie", "c=3; Expires=never")
    return resp
"""


FASTAPI_APP = """
import azure.functions as func
from fastapi import FastAPI, Response

api = FastAPI()


@api.get("/api/login")
async def login(response: Response) -> dict[str, bool]:
    response.set_cookie("token", "t 1", max_age=30, httponly=True)
    response.set_cookie("seen", "yes")
    return {"ok": True}


app = func.AsgiFunctionApp(app=api, http_auth_level=func.AuthLevel.ANONYMOUS)
"""


def v2_host(start_host: StartHost, tmp_path: Path, command: str) -> RunningHost:
    return start_host(write_app(tmp_path / "app", {"function_app.py": V2_APP}), command=command)


def set_cookies(host: RunningHost, path: str) -> tuple[httpx.Response, list[str]]:
    """The response and its `Set-Cookie` header lines as they came over the wire."""
    r = host.client.get(path)
    return r, [value.decode() for name, value in r.headers.raw if name.lower() == b"set-cookie"]


@pytest.mark.parametrize("command", COMMANDS)
def test_each_cookie_is_a_header_of_its_own_in_the_hosts_form(
    start_host: StartHost, tmp_path: Path, backend: Backend, command: str
) -> None:
    host = start_host(
        write_app(tmp_path / "app", {"function_app.py": V2_APP}),
        command=command,
        env=backend.settings,
    )
    r, cookies = set_cookies(host, "/api/two-cookies")
    assert (r.status_code, r.text) == (200, "baked")
    assert cookies == [
        "session=abc; expires=Fri, 03 Mar 2023 04:05:06 GMT; max-age=3600; "
        "domain=example.org; path=/app; secure; httponly",
        "theme=dark; max-age=60; domain=example.org; path=/; samesite=lax; httponly",
    ]
    assert r.headers["x-kept"] == "yes"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("command", COMMANDS)
def test_cookies_keep_empty_defaults_and_split_as_the_worker_parses_them(
    start_host: StartHost, tmp_path: Path, command: str
) -> None:
    host = v2_host(start_host, tmp_path, command)
    assert set_cookies(host, "/api/plain")[1] == ["flavour=oat; domain=; path="]
    assert set_cookies(host, "/api/two-in-one")[1] == [
        "first=1; domain=; path=",
        "second=2; domain=; path=; samesite=strict",
    ]
    assert set_cookies(host, "/api/constructor")[1] == ["lower=case; domain=; path=; secure"]
    # The value percent-encoded as the host does; an unknown SameSite value is left out.
    assert set_cookies(host, "/api/encoded")[1] == [
        "note=a%20b%2Cc; domain=; path=; secure; samesite=none",
        "odd=x; domain=; path=",
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_header_set_twice_keeps_its_last_value(
    start_host: StartHost, tmp_path: Path, command: str
) -> None:
    host = v2_host(start_host, tmp_path, command)
    r, cookies = set_cookies(host, "/api/twice")
    assert cookies == ["kept=1; domain=; path="]
    assert r.headers.get_list("x-twice") == ["second"]
    assert r.headers.get_list("x-once") == ["only"]


@pytest.mark.parametrize("command", COMMANDS)
def test_empty_or_unparsable_set_cookie_sends_no_cookie(
    start_host: StartHost, tmp_path: Path, command: str
) -> None:
    host = v2_host(start_host, tmp_path, command)
    for path in ("/api/empty", "/api/unknown-flag"):
        r, cookies = set_cookies(host, path)
        assert (r.status_code, r.text, cookies) == (200, "baked", [])


@pytest.mark.parametrize("command", COMMANDS)
def test_unconvertible_cookie_attributes_fail_the_invocation(
    start_host: StartHost, tmp_path: Path, command: str
) -> None:
    host = v2_host(start_host, tmp_path, command)
    r, cookies = set_cookies(host, "/api/bad-expires")
    assert (r.status_code, r.content, cookies) == (500, b"", [])
    out = host.wait_for_output("Exception: ParserError: Unknown string format: someday")
    assert "Can not parse value someday of expires in the cookie due to invalid format." in out
    assert "Executed 'Functions.bad_expires' (Failed" in host.wait_for_output(
        "Executed 'Functions.bad_expires'"
    )
    r, cookies = set_cookies(host, "/api/bad-max-age")
    assert (r.status_code, cookies) == (500, [])
    host.wait_for_output(
        "Exception: TypeError: Cannot parse value forever of 'cookie.maxAge' to float."
    )
    # The host cannot write a negative max-age.
    assert set_cookies(host, "/api/negative-max-age")[0].status_code == 500
    assert host.client.get("/api/hello").text == "hi"


@pytest.mark.parametrize("command", COMMANDS)
def test_v1_function_cookies(start_host: StartHost, tmp_path: Path, command: str) -> None:
    app = write_app(
        tmp_path / "app",
        {
            "Cookies/function.json": HTTP_FUNCTION_JSON,
            "Cookies/__init__.py": V1_COOKIES,
            "BadExpires/function.json": HTTP_FUNCTION_JSON,
            "BadExpires/__init__.py": V1_BAD_EXPIRES,
        },
    )
    host = start_host(app, command=command)
    r, cookies = set_cookies(host, "/api/Cookies")
    assert (r.status_code, r.text) == (200, "v1")
    assert cookies == [
        "a=1; expires=Sun, 01 Jan 2034 00:00:00 GMT; domain=; path=/",
        "b=2; domain=; path=; httponly",
    ]
    r, cookies = set_cookies(host, "/api/BadExpires")
    assert (r.status_code, cookies) == (500, [])
    host.wait_for_output("Exception: ParserError: Unknown string format: never")


@pytest.mark.parametrize("command", COMMANDS)
def test_cookies_an_asgi_framework_sets(
    start_host: StartHost, tmp_path: Path, command: str
) -> None:
    app = write_app(tmp_path / "app", {"function_app.py": FASTAPI_APP})
    r, cookies = set_cookies(start_host(app, command=command), "/api/login")
    assert r.json() == {"ok": True}
    assert cookies == [
        "token=t%201; max-age=30; domain=; path=/; samesite=lax; httponly",
        "seen=yes; domain=; path=/; samesite=lax",
    ]
