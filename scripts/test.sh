#!/usr/bin/env bash
# The course's test command: on a fresh machine it installs what the tests
# need (scripts/setup-tests.sh: npm, rustfmt, clippy, the arm64 target, the
# data), checks formatting and lints, checks that the library builds for
# arm64, then builds and runs every test of the workspace, including every
# notebook executed cell by cell through evcxr (quick mode).
#
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "== set-up: what the tests need"
scripts/setup-tests.sh

echo "== style: cargo fmt --check, cargo clippy (warnings are errors)"
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets -- -D warnings
# course-bench builds without the notebook engine (scripts/build-cuda.sh does).
cargo check --locked -p autoencoders-tools --no-default-features --bins

echo "== arm64: the course crate and the kernels compile without the x86 kernels"
# Students' arm64 laptops take the gemm path; this keeps its cfg'd code
# compiling.
cargo check --locked --release -p autoencoders -p autoencoders-kernels --target aarch64-unknown-linux-gnu

echo "== cargo test (every crate's tests, then every notebook in quick mode)"
start=$(date +%s)
cargo test --locked --workspace "$@"
echo "== test: all done in $(( $(date +%s) - start )) s"
