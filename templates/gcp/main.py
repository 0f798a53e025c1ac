"""Google Cloud Functions (2nd gen) entry point written by `strata init`."""
import os

import functions_framework


@functions_framework.http
def hello(request):
    greeting = os.environ.get("GREETING", "Hello")
    name = request.args.get("name", "World")
    return f"{greeting} {name}!"
