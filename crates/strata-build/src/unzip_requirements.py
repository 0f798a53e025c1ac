"""Unpacks the packages strata zipped into .requirements.zip (`zip: true`).

Import it before anything else in the handler (`import unzip_requirements`), as with
serverless-python-requirements: on the first import in a Lambda sandbox the archive beside
this file is extracted to /tmp/sls-py-req, which is then searched right after the code.
"""

import os
import shutil
import sys
import zipfile

PACKAGES = "/tmp/sls-py-req"

# After the code's own directory (sys.path[0]), before the runtime's packages.
if PACKAGES not in sys.path:
    sys.path.insert(1, PACKAGES)


def _code_root():
    # `IS_LOCAL=true` is how `serverless invoke local` says the code is in the current
    # directory rather than at LAMBDA_TASK_ROOT.
    if os.environ.get("IS_LOCAL") == "true":
        return os.getcwd()
    return os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())


if not os.path.exists(PACKAGES):
    staging = PACKAGES + ".partial-%d" % os.getpid()
    if os.path.exists(staging):
        shutil.rmtree(staging)
    with zipfile.ZipFile(os.path.join(_code_root(), ".requirements.zip")) as archive:
        archive.extractall(staging)
    try:
        # A rename is atomic: a concurrent import sees no folder or a complete one.
        os.rename(staging, PACKAGES)
    except OSError:
        if not os.path.isdir(PACKAGES):
            raise
        shutil.rmtree(staging, ignore_errors=True)
