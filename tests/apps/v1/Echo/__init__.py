import json

import azure.functions as func


def main(req: func.HttpRequest) -> func.HttpResponse:
    try:
        body_json = req.get_json()
    except ValueError:
        body_json = "<invalid>"
    result = {
        "method": req.method,
        "url": req.url,
        "headers": dict(req.headers),
        "params": dict(req.params),
        "route_params": dict(req.route_params),
        "body_length": len(req.get_body()),
        "body_text": req.get_body()[:200].decode("utf-8", "replace"),
        "json": body_json,
        "form": {k: req.form.getlist(k) for k in req.form} if req.method == "POST" else {},
        "files": {k: f.read().decode() for k, f in req.files.items()} if req.method == "POST" else {},
    }
    return func.HttpResponse(json.dumps(result), mimetype="application/json")
