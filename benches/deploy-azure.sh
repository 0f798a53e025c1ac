#!/usr/bin/env bash
# Azure deploy benchmark against emulators: the seed's function app (crates/strata/tests/fixtures/azure)
# with one requirement is deployed once to the Azure contract fake (ARM, Kudu, Entra ID;
# `strata_tests::azure_fake`) whose storage account is the real Azurite, then timed end to end
# (process start to exit) for
#   - a no-op `strata deploy` (nothing changed; median of BENCH_RUNS runs);
#   - a one-file change (function_app.py edited again each run: new package, upload, publish,
#     poll, settings write, verify; median of BENCH_RUNS runs).
# These are emulator figures: no network latency, and Kudu's deployment answers at once.
#
#   benches/deploy-azure.sh                  debug build of strata and the fake, measure
#   STRATA_BIN=path benches/deploy-azure.sh  measure that binary instead
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
runs="${BENCH_RUNS:-5}"

cargo build --quiet -j2 -p strata-tests --bin azure-fake
if [ -z "${STRATA_BIN:-}" ]; then
  cargo build --quiet -j2 -p strata
  STRATA_BIN="$repo/target/debug/strata"
fi
eval "$(scripts/emulators env)"
export STRATA_TEST_AZURITE_URL="${STRATA_TEST_AZURITE_URL:-http://127.0.0.1:10000}"

work="$(mktemp -d)"
mkfifo "$work/fake-in"
"$repo/target/debug/azure-fake" <"$work/fake-in" >"$work/fake-out" &
fake_pid=$!
exec 3>"$work/fake-in"
cleanup() {
  exec 3>&-
  wait "$fake_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 50); do [ -s "$work/fake-out" ] && break; sleep 0.1; done
arm="$(sed -n 's/^ARM=//p' "$work/fake-out")"
scm="$(sed -n 's/^SCM=//p' "$work/fake-out")"

service="azb$(date +%s)"
project="$work/project"
mkdir -p "$project"
cp crates/strata-manifest/tests/fixtures/valid/three-clouds/function_app.py "$project/"
# One pure-Python wheel from a throwaway local index keeps the run offline.
mkdir -p "$work/wheels/tinydep"
python3 - "$work/wheels" <<'PY'
import base64, hashlib, sys, zipfile, pathlib
root = pathlib.Path(sys.argv[1])
name = "tinydep-1.0-py3-none-any.whl"
files = {"tinydep/__init__.py": b"VALUE = 1\n",
         "tinydep-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: tinydep\nVersion: 1.0\n",
         "tinydep-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
record = "".join(f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b'=').decode()},{len(d)}\n" for p, d in files.items())
record += "tinydep-1.0.dist-info/RECORD,,\n"
with zipfile.ZipFile(root / "tinydep" / name, "w") as wheel:
    for p, d in files.items():
        wheel.writestr(p, d)
    wheel.writestr("tinydep-1.0.dist-info/RECORD", record)
PY
: >"$work/index.log"
(cd "$work/wheels" && python3 -m http.server 0 --bind 127.0.0.1 >"$work/index.log" 2>&1 &
 echo $! >"$work/index.pid")
for _ in $(seq 50); do grep -q "Serving HTTP" "$work/index.log" && break; sleep 0.1; done
index_port="$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$work/index.log" | head -1)"
trap 'kill "$(cat "$work/index.pid")" 2>/dev/null || true; cleanup' EXIT
echo "tinydep==1.0" >"$project/requirements.txt"
{
  echo "service: $service"
  echo "runtime: python3.12"
  echo "provider:"
  echo "  name: aws"
  echo "  stage: bench"
  echo "azure:"
  echo "  subscriptionId: 00000000-0000-0000-0000-000000000001"
  echo "  resourceGroup: $service-rg"
  echo "  functionApp: $service-bench"
  echo "  storageAccount: ${service}sa"
  echo "  plan: flexConsumption"
  echo "functions:"
  for name in hello_function blob_trigger_function queue_trigger_function timer_trigger_function; do
    echo "  $name:"
    echo "    handler: function_app.$name"
    echo "    targets: [azure]"
  done
} >"$project/strata.yml"

export PIP_INDEX_URL="http://127.0.0.1:$index_port/" STRATA_CACHE_DIR="$work/cache"
export AZURE_RESOURCE_MANAGER_ENDPOINT="$arm" STRATA_AZURE_SCM_ENDPOINT="$scm" AZURE_AUTHORITY_HOST="$arm"
export AZURE_TENANT_ID=tenant AZURE_CLIENT_ID=client AZURE_CLIENT_SECRET=fake-client-secret-canary-5b2e
export IMDS_ENDPOINT=http://127.0.0.1:9

strata() { (cd "$project" && "$STRATA_BIN" --quiet "$@" >/dev/null); }
time_ms() {
  local start end
  start=$(date +%s%N)
  "$@"
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

first=$(time_ms strata deploy --stage bench)
noop=$(for _ in $(seq "$runs"); do time_ms strata deploy --stage bench; done | median)
change=$(for i in $(seq "$runs"); do
  echo "# change $i" >>"$project/function_app.py"
  time_ms strata deploy --stage bench
done | median)
echo "first deploy (app created): ${first} ms"
echo "no-op deploy (median of $runs): ${noop} ms"
echo "one-file change (median of $runs): ${change} ms"
