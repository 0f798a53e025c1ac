#!/usr/bin/env bash
# The action's run step: one strata command with --github (annotations, job summary, and the
# `changed`, `functions` and `report` outputs strata writes to GITHUB_OUTPUT itself).
# Inputs arrive in the environment, never pasted into the script, so no input can inject shell.
set -euo pipefail

command="${INPUT_COMMAND:-deploy}"
case "$command" in
  deploy | plan | package | validate | info | rollback | remove | lock | print) ;;
  *)
    echo "::error title=strata::the action's command input is '$command'; use one of deploy, plan, package, validate, info, rollback, remove, lock, print"
    exit 1
    ;;
esac

args=("$command")
if [ -n "${INPUT_STAGE:-}" ]; then
  args+=(--stage "$INPUT_STAGE")
fi
# `args` is split at whitespace, as a user writes it on one line; no globbing.
set -f
# shellcheck disable=SC2206
extra=(${INPUT_ARGS:-})
set +f
args+=(${extra[@]+"${extra[@]}"})

exec strata "${args[@]}" --github
