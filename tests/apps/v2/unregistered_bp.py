import azure.functions as func

lonely = func.Blueprint()


@lonely.route(route="lonely", auth_level=func.AuthLevel.ANONYMOUS)
def lonely_fn(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("should not be served")
