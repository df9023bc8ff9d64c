import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    resp = func.HttpResponse("cookies", mimetype="text/html", charset="latin-1")
    resp.headers.add("Set-Cookie", "a=1; Path=/")
    resp.headers.add("Set-Cookie", "b=2; HttpOnly")
    return resp
