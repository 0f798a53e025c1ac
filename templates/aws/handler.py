"""AWS Lambda handler written by `strata init`."""
import json
import os


def hello(event, context):
    greeting = os.environ.get("GREETING", "Hello")
    name = (event or {}).get("name", "World")
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": f"{greeting} {name}!"}),
    }
