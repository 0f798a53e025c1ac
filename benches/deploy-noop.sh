#!/usr/bin/env bash
# Deploy benchmark against moto: a 10-function stage is deployed once, then timed end to end
# (process start to exit) for
#   - a no-op `strata deploy` (nothing changed; median of 5 runs), goal: under one second;
#   - a one-function code change (median of 5 runs, each changing the handler again).
# The figures are written into the "## Deploy (AWS, moto)" section of docs/benchmarks.md.
#
#   benches/deploy-noop.sh            build the release binary, start moto if needed, measure
#   STRATA_BIN=path benches/deploy-noop.sh   measure that binary instead
#   BENCH_RUNS=9 benches/deploy-noop.sh      more runs per figure
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

# Use the moto that answers already, else start one and stop it afterwards. (Its dashboard
# is the cheap liveness check: /moto-api/data.json fails once moto holds Lambda functions.)
eval "$(scripts/emulators env)"
started_moto=no
if ! python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2)' \
  "$STRATA_TEST_MOTO_URL" 2>/dev/null; then
  scripts/emulators start
  started_moto=yes
fi

work="$(mktemp -d)"
cleanup() {
  rm -rf "$work"
  if [ "$started_moto" = yes ]; then scripts/emulators stop; fi
}
trap cleanup EXIT
service="bench$(date +%s)"
project="$work/project"
mkdir -p "$project"
{
  echo "service: $service"
  echo "provider:"
  echo "  name: aws"
  echo "  runtime: python3.12"
  echo "  stage: bench"
  echo "  environment:"
  echo "    LOG_LEVEL: info"
  echo "package:"
  echo "  individually: true"
  echo "  patterns:"
  echo "    - '!**'"
  echo "functions:"
  for i in $(seq -w 1 10); do
    echo "  fn$i:"
    echo "    handler: fn$i.handler"
    echo "    package:"
    echo "      patterns:"
    echo "        - fn$i.py"
  done
} >"$project/serverless.yml"
for i in $(seq -w 1 10); do
  printf 'def handler(event, context):\n    return %s\n' "$i" >"$project/fn$i.py"
done

export AWS_ENDPOINT_URL="$STRATA_TEST_MOTO_URL" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true STRATA_CACHE_DIR="$work/cache"
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials"

strata() { (cd "$project" && "$STRATA_BIN" --quiet "$@" >/dev/null); }

# Milliseconds one command takes, process start to exit.
time_ms() {
  local start end
  start=$(date +%s%N)
  "$@"
  end=$(date +%s%N)
  echo $(((end - start) / 1000000))
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

first=$(time_ms strata deploy)

noop=$(for _ in $(seq 1 "$runs"); do time_ms strata deploy; done | median)

change=$(for run in $(seq 1 "$runs"); do
  printf 'def handler(event, context):\n    return "changed %s"\n' "$run" >"$project/fn01.py"
  time_ms strata deploy
done | median)

strata remove --yes

cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //' || true)"
section="$work/section.md"
cat >"$section" <<EOF
## Deploy (AWS, moto)

\`benches/deploy-noop.sh\`: a stage of 10 functions (one handler file each, packaged
individually) against moto server on 127.0.0.1, timed end to end (process start to exit,
manifest, cached build, credentials, every AWS read), median of $runs runs, $binary.

| scenario | time |
|---|---|
| first deploy (10 functions created, role created) | ${first} ms |
| no-op \`strata deploy\` (no mutating call) | ${noop} ms |
| one function's code changed (upload, wait, publish, alias) | ${change} ms |

Goal: the no-op under 1000 ms. Measured on $(nproc) CPUs${cpu:+ ($cpu)}, moto $(
  "$repo/.tools/venv/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null || echo '?'
), $(date -u +%Y-%m-%d).
EOF

# Replace our section of docs/benchmarks.md (up to the next `## ` heading), or append it;
# other sections of the file are left as they are.
doc="$repo/docs/benchmarks.md"
if [ ! -f "$doc" ]; then
  printf '# Benchmarks\n\n' >"$doc"
fi
python3 - "$doc" "$section" <<'PY'
import sys
doc_path, section_path = sys.argv[1], sys.argv[2]
doc = open(doc_path).read()
section = open(section_path).read().rstrip("\n") + "\n"
heading = "## Deploy (AWS, moto)"
start = doc.find(heading)
if start < 0:
    doc = doc.rstrip("\n") + "\n\n" + section
else:
    end = doc.find("\n## ", start + len(heading))
    doc = doc[:start] + section + (doc[end:] if end >= 0 else "")
open(doc_path, "w").write(doc)
PY
cat "$section"
