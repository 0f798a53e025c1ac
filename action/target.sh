#!/usr/bin/env bash
# Prints the release target (Rust target triple) for the runner's OS and CPU, as GitHub names
# them in RUNNER_OS and RUNNER_ARCH; exits 1 when strata publishes no binary for that runner.
# The release workflow builds exactly these targets (a test holds the two lists together).
set -euo pipefail
case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
  Linux/X64) echo x86_64-unknown-linux-musl ;;
  Linux/ARM64) echo aarch64-unknown-linux-musl ;;
  macOS/X64) echo x86_64-apple-darwin ;;
  macOS/ARM64) echo aarch64-apple-darwin ;;
  Windows/X64) echo x86_64-pc-windows-msvc ;;
  *) exit 1 ;;
esac
