#!/usr/bin/env bash
# GCP deploy benchmark against fake-gcs-server (shared, from `scripts/emulators`) and the Cloud
# Functions v2 contract fake (`cargo run --example gcp_fake -p strata-tests`): a 10-function
# stage is deployed once, then timed end to end (process start to exit) for
#   - a no-op `strata deploy` (nothing changed; median of 5 runs);
#   - a one-file change (median of 5 runs, each changing one function's handler again).
# These are emulator figures: Google's own Cloud Build takes minutes per changed function.
#
#   benches/gcp-deploy.sh                     build the release binary and measure
#   STRATA_BIN=path benches/gcp-deploy.sh     measure that binary instead
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
runs="${BENCH_RUNS:-5}"

binary="the release build"
if [ -z "${STRATA_BIN:-}" ]; then
  cargo build --release --quiet -j2 -p strata
  STRATA_BIN="$repo/target/release/strata"
else
  binary="\`$(basename "$STRATA_BIN")\` from STRATA_BIN"
fi
eval "$(scripts/emulators env)"
export STRATA_TEST_GCS_URL
cargo build --quiet -j2 -p strata-tests --example gcp_fake

work="$(mktemp -d)"
"$repo/target/debug/examples/gcp_fake" >"$work/fake.env" &
fake_pid=$!
cleanup() {
  kill "$fake_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 50); do
  [ -f "$work/fake.env" ] && [ "$(wc -l <"$work/fake.env")" -ge 2 ] && break
  sleep 0.1
done
if ! grep -q CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDFUNCTIONS "$work/fake.env" 2>/dev/null; then
  echo "benchmark: the contract fake did not start" >&2
  exit 1
fi
set -a
# shellcheck disable=SC1091
. "$work/fake.env"
set +a

service="bench$(date +%s)"
bucket="src-$service"
python3 - "$STRATA_TEST_GCS_URL" "$bucket" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1] + "/storage/v1/b?project=bench",
    data=json.dumps({"name": sys.argv[2]}).encode(), headers={"Content-Type": "application/json"})
urllib.request.urlopen(request, timeout=10)
PY
project="$work/project"
mkdir -p "$project"
{
  echo "service: $service"
  echo "runtime: python3.12"
  echo "gcp:"
  echo "  project: strata-bench"
  echo "  region: europe-west1"
  echo "  bucket: $bucket"
  echo "package:"
  echo "  individually: true"
  echo "  patterns:"
  echo "    - '!**'"
  echo "functions:"
  for i in $(seq -w 1 10); do
    echo "  fn$i:"
    echo "    handler: fn$i.handler"
    echo "    targets: [gcp]"
    echo "    package:"
    echo "      patterns:"
    echo "        - fn$i.py"
  done
} >"$project/strata.yml"
for i in $(seq -w 1 10); do
  printf 'def handler(request):\n    return "%s"\n' "$i" >"$project/fn$i.py"
done
export STRATA_CACHE_DIR="$work/cache" GCE_METADATA_HOST=127.0.0.1:9

strata() { (cd "$project" && "$STRATA_BIN" --quiet "$@" >/dev/null); }
time_ms() {
  local start end
  start=$(date +%s%N)
  # A failing command stops the whole script, not only this command substitution.
  "$@" || { echo "benchmark: \`$*\` failed" >&2; kill "$$"; exit 1; }
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

first=$(time_ms strata deploy)
noop=$(for _ in $(seq 1 "$runs"); do time_ms strata deploy; done | median)
change=$(for run in $(seq 1 "$runs"); do
  printf 'def handler(request):\n    return "changed %s"\n' "$run" >"$project/fn01.py"
  time_ms strata deploy
done | median)
strata remove --yes

cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //' || true)"
cat <<EOF
## GCP (emulator: fake-gcs-server and the Cloud Functions v2 contract fake)

\`benches/gcp-deploy.sh\`: a stage of 10 functions (one handler file each) against
fake-gcs-server and the contract fake on 127.0.0.1, timed end to end (process start to exit),
median of $runs runs, $binary. An emulator answers at once; on Google, a changed function
waits minutes for Cloud Build, so only the no-op figure carries over.

| scenario | time |
|---|---|
| first deploy (10 sources uploaded, 10 functions created) | ${first} ms |
| no-op \`strata deploy\` (no mutating call) | ${noop} ms |
| one file changed (one upload, one patch, operation polled) | ${change} ms |

Measured on $(nproc) CPUs${cpu:+ ($cpu)}, $(date -u +%Y-%m-%d).
EOF
