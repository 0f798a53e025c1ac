# strata invoke --local: runs one handler the way its cloud would call it, with the event
# strata gives it, and writes what it returned as JSON to the result file.
#
#   python3.X invoke_local.py <aws|azure|gcp> <module.function> <event.json> <result.json> <name> <memory MB>
#
# The handler's own prints go to stderr, so the result file is the only answer. A handler that
# raises prints its traceback and the runner exits 1.
import contextlib
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
import zipfile

cloud, handler, event_path, result_path, name, memory = sys.argv[1:7]
with open(event_path, encoding="utf-8") as stream:
    event = json.load(stream)
module_name, _, function_name = handler.rpartition(".")

# The built zips, unpacked as the cloud unpacks them: [zip, folder inside it to import from].
# The first is the function's code, which is also the working directory.
unpacked = tempfile.mkdtemp(prefix="strata-invoke-")
for index, (archive, inner) in enumerate(json.loads(os.environ["STRATA_INVOKE_ZIPS"])):
    target = os.path.join(unpacked, str(index))
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(target)
    sys.path.insert(index, os.path.join(target, inner))
code_dir = os.path.join(unpacked, "0")
os.chdir(code_dir)

# A Google source zip carries requirements.txt, not the packages (Google's build installs
# them): install them once per requirements and Python into strata's cache, as pip would.
requirements = os.path.join(code_dir, "requirements.txt")
deps_root = os.environ.get("STRATA_INVOKE_DEPS")
if cloud == "gcp" and deps_root and os.path.exists(requirements):
    with open(requirements, "rb") as stream:
        key = hashlib.sha256(stream.read() + sys.version.encode()).hexdigest()[:32]
    deps = os.path.join(deps_root, key)
    if not os.path.exists(os.path.join(deps, ".complete")):
        print(f"strata: installing {requirements} for the local run (once)", file=sys.stderr)
        partial = deps + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--target", partial, "-r", requirements],
            check=True, stdout=sys.stderr,
        )
        shutil.rmtree(deps, ignore_errors=True)
        os.replace(partial, deps)
        open(os.path.join(deps, ".complete"), "w").close()
    sys.path.append(deps)


def write_result(value):
    with open(result_path, "w", encoding="utf-8") as stream:
        json.dump({"result": value}, stream, default=str)


def as_bytes(value):
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")


def request_headers(event):
    """The request's headers; a JSON body says it is JSON unless the event says otherwise."""
    headers = dict(event.get("headers") or {})
    if isinstance(event.get("body"), (dict, list)) and not any(
        name.lower() == "content-type" for name in headers
    ):
        headers["Content-Type"] = "application/json"
    return headers


class LambdaContext:
    """The attributes Lambda's Python runtime gives handlers."""

    def __init__(self):
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:local:000000000000:function:{name}"
        self.memory_limit_in_mb = int(memory)
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._deadline = time.time() + 900

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.time()) * 1000))


def run_aws():
    module = importlib.import_module(module_name)
    return getattr(module, function_name)(event, LambdaContext())


def run_azure():
    import logging

    import azure.functions as func

    # The Functions host records a function's logging from INFO up; show the same here.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="[%(levelname)s] %(message)s")

    module = importlib.import_module(module_name)
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionApp)]
    if not apps:
        raise SystemExit(f"strata: {module_name}.py defines no azure.functions.FunctionApp")
    for function in apps[0].get_functions():
        user = function.get_user_function()
        if function_name in (user.__name__, function.get_function_name()):
            break
    else:
        raise SystemExit(f"strata: the function app in {module_name}.py has no function {function_name}")
    trigger = function.get_trigger()
    kind = trigger.get_binding_name()
    if kind == "httpTrigger":
        argument = func.HttpRequest(
            method=event.get("method", "GET"),
            url="http://localhost:7071/api/" + event.get("path", "").lstrip("/"),
            headers=request_headers(event),
            params=event.get("query", {}),
            route_params={},
            body=as_bytes(event.get("body")),
        )
    elif kind == "blobTrigger":
        from azure.functions.blob import InputStream

        data = as_bytes(event.get("data", ""))
        argument = InputStream(
            data=data, name=event.get("name", "samples/sample.txt"), uri=event.get("uri"), length=len(data)
        )
    elif kind == "queueTrigger":
        argument = func.QueueMessage(id=str(uuid.uuid4()), body=as_bytes(event.get("body", event)))
    elif kind == "timerTrigger":
        from azure.functions.timer import TimerRequest

        argument = TimerRequest(past_due=bool(event.get("past_due", False)))
    else:
        raise SystemExit(f"strata: {function_name} has a {kind} trigger, which invoke --local cannot build an argument for yet")
    answer = user(**{trigger.name: argument})
    if isinstance(answer, func.HttpResponse):
        return {
            "status": answer.status_code,
            "headers": dict(answer.headers),
            "body": answer.get_body().decode("utf-8", "replace"),
        }
    return answer


def run_gcp():
    import functions_framework

    app = functions_framework.create_app(target=function_name, source=f"{module_name}.py")
    client = app.test_client()
    if "specversion" in event:
        response = client.post(
            "/", data=json.dumps(event), headers={"Content-Type": "application/cloudevents+json"}
        )
    else:
        response = client.open(
            event.get("path", "/"),
            method=event.get("method", "GET"),
            query_string=event.get("query", {}),
            headers=request_headers(event),
            data=as_bytes(event.get("body")) if event.get("body") is not None else None,
        )
    return {
        "status": response.status_code,
        "headers": dict(response.headers),
        "body": response.get_data(as_text=True),
    }


try:
    with contextlib.redirect_stdout(sys.stderr):
        value = {"aws": run_aws, "azure": run_azure, "gcp": run_gcp}[cloud]()
except SystemExit:
    raise
except BaseException:
    traceback.print_exc()
    sys.exit(1)
write_result(value)
