#!/usr/bin/env bash
# The action's install step: puts strata on PATH for the rest of the job.
#
# 1. The version: INPUT_VERSION, else the version of the action's own source (its Cargo.toml).
# 2. The released archive for the runner (action/target.sh) and its .sha256 file are
#    downloaded from STRATA_RELEASE_BASE_URL (default: this version's GitHub release); the
#    archive's sha256 must match, or the step fails: a binary that does not match its checksum
#    is never run, and never silently replaced by a build.
# 3. Where no binary is published (another runner, or a version without release assets), strata
#    is built from the action's source with `cargo install --locked`.
#
# Outputs: `version`, `source` (release or cargo), `path` (the binary).
set -euo pipefail
action_dir="$(cd "$(dirname "$0")/.." && pwd)"

version="${INPUT_VERSION:-}"
version="${version#v}"
if [ -z "$version" ]; then
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$action_dir/Cargo.toml" | head -n 1)"
fi
if [ -z "$version" ]; then
  echo "::error title=strata install::cannot tell which strata version to install; set the action's 'version' input"
  exit 1
fi

root="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/strata/$version"
base_url="${STRATA_RELEASE_BASE_URL:-https://github.com/strata-deploy/strata/releases/download/v$version}"

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

from_release() {
  local target archive work expected actual
  target="$("$action_dir/action/target.sh")" || return 2
  archive="strata-$version-$target.tar.gz"
  work="$(mktemp -d)"
  # A missing asset (HTTP 404) means no binary for this runner: fall back to building.
  if ! curl --fail --silent --show-error --location --retry 3 -o "$work/$archive" "$base_url/$archive" \
    || ! curl --fail --silent --show-error --location --retry 3 -o "$work/$archive.sha256" "$base_url/$archive.sha256"; then
    rm -rf "$work"
    return 2
  fi
  expected="$(cut -d' ' -f1 <"$work/$archive.sha256")"
  actual="$(sha256_of "$work/$archive")"
  if [ "$expected" != "$actual" ]; then
    echo "::error title=strata install::$archive does not match its published sha256 (expected $expected, got $actual); refusing to run it"
    rm -rf "$work"
    return 1
  fi
  mkdir -p "$root"
  tar -xzf "$work/$archive" -C "$root"
  rm -rf "$work"
  bin_dir="$root/strata-$version-$target"
  echo "source=release" >>"$GITHUB_OUTPUT"
}

from_source() {
  echo "no released strata $version binary for ${RUNNER_OS:-this OS}/${RUNNER_ARCH:-this CPU}; building it with cargo install --locked" >&2
  cargo install --locked --quiet --root "$root" --path "$action_dir/crates/strata"
  bin_dir="$root/bin"
  echo "source=cargo" >>"$GITHUB_OUTPUT"
}

status=0
from_release || status=$?
case "$status" in
  0) ;;
  2) from_source ;;
  *) exit "$status" ;;
esac

exe="$bin_dir/strata"
[ -x "$exe" ] || exe="$bin_dir/strata.exe"
installed="$("$exe" --version)"
case "$installed" in
  "strata $version"*) ;;
  *)
    echo "::error title=strata install::the installed binary reports '$installed', not strata $version"
    exit 1
    ;;
esac
echo "$bin_dir" >>"$GITHUB_PATH"
{
  echo "version=$version"
  echo "path=$exe"
} >>"$GITHUB_OUTPUT"
echo "installed $installed from $( [ "$status" = 0 ] && echo "the release" || echo "source" )" >&2
