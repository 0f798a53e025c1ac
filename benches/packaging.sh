#!/usr/bin/env bash
# Packaging benchmark: a Lambda layer (python3.12, x86_64, `python/` prefix) from the same
# requirements with strata, with `uv pip install --target` + `zip -r`, and with
# `pip install --target` + `zip -r`. Prints the median wall time of each and the ratios, and
# strata's peak RSS. Two rows resolve with strata's own resolver, with neither uv nor pip (nor
# any Python) on strata's PATH: cold (empty caches, no lock) and "a dependency added" (wheels
# and index pages cached from the set before, one requirement added, so the set is stale). Needs network access to PyPI, `uv` and `pip` on PATH (`scripts/test`
# installs the pinned ones into .tools/venv, which this script puts first on PATH), `zip`,
# and GNU time at /usr/bin/time.
#
#   benches/packaging.sh            # 5 runs of each, both requirement sets
#   RUNS=9 benches/packaging.sh
#   BIG=1 benches/packaging.sh      # also peak memory for a ~250 MB unzipped layer
#   SETS=pandas-numpy benches/packaging.sh   # only that set (pandas-numpy, example)
#
# Results and the machine they were measured on are recorded in docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${RUNS:-5}"
if [ -d "$root/.tools/venv/bin" ]; then
  export PATH="$root/.tools/venv/bin:$PATH"
fi
for tool in uv pip zip /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "benches/packaging.sh needs $tool" >&2; exit 2; }
done

if [ -z "${STRATA_BIN:-}" ]; then
  (cd "$root" && cargo build --release --locked -j2 -p strata >&2)
  STRATA_BIN="$root/target/release/strata"
fi
strata="$STRATA_BIN"

work="$(mktemp -d "${TMPDIR:-/tmp}/strata-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Seconds (with ms) a command takes; its output is discarded, a failure stops the script.
seconds() {
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null 2>"$work/last-stderr" || { cat "$work/last-stderr" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%.3f\n' "$(echo "$end - $start" | bc)"
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# Peak RSS in MB of one `strata package` of the project in $1 with the cache $2.
peak_mb() {
  local dir="$1" cache="$2"
  (cd "$dir" && STRATA_CACHE_DIR="$cache" /usr/bin/time -f %M -o "$work/rss" \
    "$strata" package -q --layers-only --locked --out "$dir/out") >/dev/null 2>"$work/last-stderr" \
    || { cat "$work/last-stderr" >&2; exit 1; }
  echo "scale=1; $(tail -1 "$work/rss") / 1024" | bc
}

# A project whose only function uses the requirements layer, with its lock.
make_project() {
  local dir="$1" requirements="$2"
  mkdir -p "$dir"
  printf '%s\n' "$requirements" >"$dir/requirements.txt"
  cat >"$dir/serverless.yml" <<'YAML'
service: bench
provider:
  name: aws
  runtime: python3.12
  architecture: x86_64
functions:
  app:
    handler: handler.main
    layers:
      - Ref: PythonRequirementsLambdaLayer
plugins:
  - serverless-python-requirements
custom:
  pythonRequirements:
    layer: true
YAML
  printf 'def main(event, context):\n    return 1\n' >"$dir/handler.py"
  (cd "$dir" && STRATA_CACHE_DIR="$work/lock-cache" "$strata" lock -q >/dev/null)
}

# strata resolving itself: PATH holds nothing, so no uv, pip or Python can be what resolves.
strata_resolve_package() {
  local dir="$1" cache="$2"
  (cd "$dir" && env PATH="$work/empty-path" STRATA_CACHE_DIR="$cache" \
    "$strata" package -q --layers-only --out "$dir/out")
}

strata_package() {
  local dir="$1" cache="$2"
  (cd "$dir" && STRATA_CACHE_DIR="$cache" "$strata" package -q --layers-only --locked --out "$dir/out")
}

uv_layer() {
  local dir="$1" cache="$2" target="$work/uv-target"
  rm -rf "$target"
  UV_CACHE_DIR="$cache" uv pip install --quiet --target "$target/python" \
    --python-platform x86_64-manylinux_2_34 --python-version 3.12 --only-binary :all: \
    -r "$dir/requirements.txt"
  (cd "$target" && zip -qr -X layer.zip python)
}

pip_layer() {
  local dir="$1" cache="$2" target="$work/pip-target"
  rm -rf "$target"
  PIP_CACHE_DIR="$cache" pip install --quiet --disable-pip-version-check --target "$target/python" \
    --platform manylinux2014_x86_64 --python-version 3.12 --only-binary=:all: \
    --implementation cp -r "$dir/requirements.txt"
  (cd "$target" && zip -qr -X layer.zip python)
}

bench_set() {
  local label="$1" requirements="$2" added="$3"
  local dir="$work/$label" grown="$work/$label-added"
  make_project "$dir" "$requirements"
  mkdir -p "$work/empty-path"
  local -a s_cold=() s_warm=() s_same=() u_cold=() u_warm=() p_cold=() p_warm=()
  local -a n_cold=() n_added=() u_added=()
  local i rss_cold rss_warm
  for i in $(seq "$runs"); do
    echo "$label: run $i of $runs" >&2
    rm -rf "$work/sc" "$dir/out"
    s_cold+=("$(seconds strata_package "$dir" "$work/sc")")
    rm -rf "$work/sc/artifacts" "$dir/out"
    s_warm+=("$(seconds strata_package "$dir" "$work/sc")")
    s_same+=("$(seconds strata_package "$dir" "$work/sc")")

    rm -rf "$work/uc"
    u_cold+=("$(seconds uv_layer "$dir" "$work/uc")")
    u_warm+=("$(seconds uv_layer "$dir" "$work/uc")")

    rm -rf "$work/pc"
    p_cold+=("$(seconds pip_layer "$dir" "$work/pc")")
    p_warm+=("$(seconds pip_layer "$dir" "$work/pc")")

    # Native resolver, cold: no lock, empty cache (index pages, metadata, wheels).
    rm -rf "$work/nc" "$grown"
    cp -r "$dir" "$grown"
    rm -f "$grown/strata.lock"
    rm -rf "$grown/out"
    n_cold+=("$(seconds strata_resolve_package "$grown" "$work/nc")")
    # A dependency added: the caches hold the set before; the requirements gain one line.
    printf '%s\n' "$added" >>"$grown/requirements.txt"
    rm -rf "$grown/out"
    n_added+=("$(seconds strata_resolve_package "$grown" "$work/nc")")
    # uv + zip for the same change: its cache warmed with the set before.
    rm -rf "$work/ua"
    uv_layer "$dir" "$work/ua" >/dev/null
    u_added+=("$(seconds uv_layer "$grown" "$work/ua")")
  done
  rm -rf "$work/sc" "$dir/out"
  rss_cold=$(peak_mb "$dir" "$work/sc")
  rm -rf "$work/sc/artifacts" "$dir/out"
  rss_warm=$(peak_mb "$dir" "$work/sc")
  local layer unzipped
  layer=$(find "$dir/out" -name '*.zip' | head -1)
  unzipped=$(python3 -c "import sys, zipfile; print(round(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()) / 1e6, 1))" "$layer")

  local sc sw ss uc uw pc pw nc na ua
  sc=$(median "${s_cold[@]}"); sw=$(median "${s_warm[@]}"); ss=$(median "${s_same[@]}")
  nc=$(median "${n_cold[@]}"); na=$(median "${n_added[@]}"); ua=$(median "${u_added[@]}")
  uc=$(median "${u_cold[@]}"); uw=$(median "${u_warm[@]}")
  pc=$(median "${p_cold[@]}"); pw=$(median "${p_warm[@]}")
  ratio() { echo "scale=1; $1 / $2" | bc; }
  echo
  echo "## $label: $(echo "$requirements" | tr '\n' ' ')(layer $unzipped MB unzipped, median of $runs runs)"
  printf '%-38s %9s %12s %12s\n' "" "seconds" "uv+zip / x" "pip+zip / x"
  printf '%-38s %9s %12s %12s\n' "strata cold (empty cache, lock)" "$sc" "$(ratio "$uc" "$sc")" "$(ratio "$pc" "$sc")"
  printf '%-38s %9s %12s %12s\n' "strata warm (wheels cached)" "$sw" "$(ratio "$uw" "$sw")" "$(ratio "$pw" "$sw")"
  printf '%-38s %9s %12s %12s\n' "strata unchanged rebuild" "$ss" "$(ratio "$uw" "$ss")" "$(ratio "$pw" "$ss")"
  printf '%-38s %9s %12s\n' "strata resolving, cold (no lock)" "$nc" "$(ratio "$uc" "$nc")"
  printf '%-38s %9s %12s\n' "strata resolving, a dependency added" "$na" "$(ratio "$ua" "$na")"
  printf '%-38s %9s\n' "uv pip install --target + zip, cold" "$uc"
  printf '%-38s %9s\n' "uv pip install --target + zip, warm" "$uw"
  printf '%-38s %9s\n' "uv + zip, a dependency added" "$ua"
  printf '%-38s %9s\n' "pip install --target + zip, cold" "$pc"
  printf '%-38s %9s\n' "pip install --target + zip, warm" "$pw"
  echo "strata peak RSS: cold $rss_cold MB, warm $rss_warm MB"
  echo "ratios: warm $(ratio "$uw" "$sw")x (target >= 10x), unchanged $(ratio "$uw" "$ss")x (>= 50x), cold $(ratio "$uc" "$sc")x (>= 3x) faster than uv + zip"
  echo "resolving: cold $(ratio "$uc" "$nc")x (target >= 5x), a dependency added $(ratio "$ua" "$na")x (>= 10x) faster than uv + zip"
}

echo "strata $("$strata" --version | awk '{print $2}'), $(uv --version), $(pip --version | cut -d' ' -f1-2), $(nproc) cores, $(date -u +%Y-%m-%d)"
sets="${SETS:-pandas-numpy example}"
if [[ " $sets " == *" pandas-numpy "* ]]; then
  bench_set "pandas-numpy" $'pandas==2.2.3\nnumpy==2.1.3' "requests==2.32.3"
fi
# The example project's requirements without boto3 (the Lambda runtime provides it).
if [[ " $sets " == *" example "* ]]; then
  bench_set "example" "$(grep -v -e '^#' -e '^boto3' "$root/examples/python-app/requirements.txt")" "pyyaml==6.0.2"
fi

if [ "${BIG:-0}" = 1 ]; then
  dir="$work/big"
  make_project "$dir" $'pandas==2.2.3\nnumpy==2.1.3\npyarrow==18.1.0\nrequests==2.32.3'
  rm -rf "$work/bc"
  cold=$(peak_mb "$dir" "$work/bc")
  rm -rf "$work/bc/artifacts" "$dir/out"
  warm_seconds=$(seconds strata_package "$dir" "$work/bc")
  rm -rf "$work/bc/artifacts" "$dir/out"
  warm=$(peak_mb "$dir" "$work/bc")
  layer=$(find "$dir/out" -name '*.zip' | head -1)
  unzipped=$(python3 -c "import sys, zipfile; print(round(sum(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist()) / 1e6, 1))" "$layer")
  echo
  echo "## big layer: pandas, numpy, pyarrow, requests ($unzipped MB unzipped, $(du -m "$layer" | cut -f1) MB zipped)"
  echo "strata peak RSS: cold $cold MB, warm $warm MB (target < 200 MB); warm build $warm_seconds s"
fi
