#!/usr/bin/env python3
"""Writes the wheel seeds of the `wheel` fuzz target to seeds/wheel/ (standard library only).

Every seed is a valid wheel of demo 1.0, the name the target gives its input, so that
mutations start from wheels the verifier accepts. Fixed timestamps and compression levels
make the output the same on every run with the same zlib.
"""

import base64
import csv
import hashlib
import io
import pathlib
import zipfile

DIST_INFO = "demo-1.0.dist-info"
METADATA = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\nA seed.\n"
WHEEL = b"Wheel-Version: 1.0\nGenerator: strata-fuzz\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def record(files):
    """RECORD as pip writes it: Python's csv dialect, so names with commas are quoted."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        writer.writerow([name, f"sha256={digest}", len(data)])
    writer.writerow([f"{DIST_INFO}/RECORD", "", ""])
    return text.getvalue().encode()


def write_wheel(path, files, compression=zipfile.ZIP_DEFLATED, directories=(), modes=None):
    files = dict(files)
    files[f"{DIST_INFO}/METADATA"] = METADATA
    files[f"{DIST_INFO}/WHEEL"] = WHEEL
    files[f"{DIST_INFO}/RECORD"] = record(files)
    with zipfile.ZipFile(path, "w") as archive:
        for directory in directories:
            info = zipfile.ZipInfo(directory, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o40755 << 16) | 0x10
            archive.writestr(info, b"")
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            info.external_attr = ((modes or {}).get(name, 0o100644)) << 16
            archive.writestr(info, data, compresslevel=6)


def main():
    out = pathlib.Path(__file__).parent / "seeds" / "wheel"
    out.mkdir(parents=True, exist_ok=True)
    write_wheel(out / "pure.whl", {"demo/__init__.py": b"from .core import run\n",
                                   "demo/core.py": b"def run():\n    return 42\n" * 20})
    write_wheel(out / "stored-with-directories.whl",
                {"demo/__init__.py": b"", "demo/data.bin": bytes(range(256))},
                compression=zipfile.ZIP_STORED, directories=("demo/",))
    write_wheel(out / "data-schemes.whl", {
        "demo/__init__.py": b"VALUE = 1\n",
        "demo/tool.sh": b"#!/bin/sh\necho tool\n",
        "demo-1.0.data/scripts/demo-cli": b"#!python\nimport demo\n",
        "demo-1.0.data/purelib/demo_extra.py": b"EXTRA = True\n",
        "demo-1.0.data/platlib/demo_native.so": b"\x7fELF\x02\x01\x01",
        "demo-1.0.data/headers/demo.h": b"int demo;\n",
        "demo-1.0.data/data/share/demo.txt": b"shared\n",
    }, modes={"demo/tool.sh": 0o100755})
    write_wheel(out / "quoted-record-names.whl", {"demo/a,b.py": b"x = 1\n",
                                                  "demo/sp ace.py": b"y = 2\n"})


if __name__ == "__main__":
    main()
