#!/usr/bin/env bash
# The `cuda` build, tested here without a GPU: scripts/build-cuda.sh builds
# it, then its unit tests run on the CPU fallback (the stub libcuda.so.1
# when there is no NVIDIA driver), a notebook whose `:dep` line asks for
# the `cuda` feature runs through the in-process runner and must say that
# it falls back to the CPU, and course-bench starts and says so too.
#
# Usage: scripts/test-cuda.sh [COMPUTE_CAP]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
start=$(date +%s)
scripts/build-cuda.sh "${1:-}"
# shellcheck source=cuda-env.sh
. scripts/cuda-env.sh "${1:-}"
if [ "$AUTOENCODERS_CUDA_STUB" != 1 ]; then
  echo "test-cuda: this machine has an NVIDIA driver: use scripts/gpu-check.sh for the GPU run" >&2
  exit 1
fi
export CARGO_TARGET_DIR="$root/target/cuda"
# Runs a command, prints what it printed, keeps it in $out.
keep() { local status=0; out="$("$@" 2>&1)" || status=$?; printf '%s\n' "$out"; return "$status"; }
echo "== the cuda build's unit tests, on the CPU fallback (tests/cuda.rs's gpu_* tests need a GPU: scripts/gpu-check.sh)"
cargo test --locked --release -p autoencoders -p autoencoders-kernels --features autoencoders/cuda -- --skip gpu_
# --skip matches parts of names: make sure the fallback test itself ran.
keep cargo test --locked --release -p autoencoders --features cuda --test cuda -- --exact \
  fallback_runs_on_the_cpu_and_says_why_without_a_usable_gpu
grep -q "test result: ok. 1 passed" <<<"$out" || {
  echo "test-cuda: tests/cuda.rs's fallback test did not run and pass" >&2; exit 1; }
echo "== course-bench from the cuda build"
"$CARGO_TARGET_DIR/release/course-bench" --help >/dev/null
keep "$CARGO_TARGET_DIR/release/course-bench" --models simple --max-epochs 1
grep -q "device: CPU (built with cuda, but no usable GPU" <<<"$out" || {
  echo "test-cuda: course-bench did not say it fell back to the CPU" >&2; exit 1; }
echo "== a notebook with the cuda :dep line (evcxr builds the cuda crate in target/evcxr-cuda)"
unset CARGO_TARGET_DIR
mkdir -p "$root/target/evcxr-cuda"
# CI=true: the notebook fails rather than skips when the data are missing
# (and the runner is the one scripts/test.sh builds under CI=true). The
# first cell builds candle with its CUDA kernels for the notebook, cold the
# first time: longer than the runner's usual 15 minutes a cell.
CI=true EVCXR_TMPDIR="$root/target/evcxr-cuda" AUTOENCODERS_TEST_CUDA=1 NOTEBOOK_CELL_TIMEOUT=3600 \
  cargo test --locked -p autoencoders-tools --test notebooks
echo "test-cuda: all passed in $(( $(date +%s) - start )) s"
