"""Azure Functions app (Python v2 programming model) written by `strata init`."""
import os

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="hello", methods=["GET", "POST"])
def hello(req: func.HttpRequest) -> func.HttpResponse:
    greeting = os.environ.get("GREETING", "Hello")
    name = req.params.get("name", "World")
    return func.HttpResponse(f"{greeting} {name}!", status_code=200)
