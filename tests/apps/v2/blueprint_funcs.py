import azure.functions as func

bp = func.Blueprint()


@bp.route(route="bp/hello", auth_level=func.AuthLevel.ANONYMOUS)
def bp_hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("from blueprint")
