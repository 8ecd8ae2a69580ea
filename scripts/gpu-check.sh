#!/usr/bin/env bash
# The `cuda` build on a machine with an NVIDIA GPU, from binaries built on
# another machine (the project's GPU machines have no Rust toolchain).
#
#   scripts/gpu-check.sh pack [COMPUTE_CAP]   here: builds (scripts/build-cuda.sh) and packs
#                                             target/gpu-pack/ (at most 64 MiB): the `cuda` test
#                                             binary and course-bench, stripped and gzipped (candle's
#                                             PTX makes each 53 MiB, 13 MiB gzipped), MNIST gzipped
#   scripts/gpu-check.sh run                  there, from the repository root with target/gpu-pack/
#                                             (or `bash gpu-pack/gpu-check.sh run` from a copy of the
#                                             pack alone): the `cuda` tests with AUTOENCODERS_REQUIRE_GPU=1,
#                                             then one epoch of the simple, deep, conv and up-conv models
#
# `run` takes the CUDA libraries (cuBLAS, cuRAND, NVRTC of CUDA 13) from
# $AUTOENCODERS_CUDA_LIBS, or finds them under /usr/local/cuda and in the
# NVIDIA wheels of a Python environment (the GPU image's PyTorch has them).
# It refuses to report figures unless the binaries said they ran on the GPU:
# on a machine without one it ends with "NOT A GPU RUN" and exit status 1.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
pack="$root/target/gpu-pack"
limit=$((64 * 1024 * 1024))

pack() {
  scripts/build-cuda.sh "${1:-}"
  local built="$root/target/cuda"
  local test_bin
  test_bin="$(grep -o 'tests/cuda.rs ([^)]*)' "$built/test-binaries.txt" | sed 's/.*(\(.*\))/\1/' | head -n 1)"
  [ -x "$test_bin" ] || { echo "gpu-check: no cuda test binary in $built/test-binaries.txt" >&2; exit 1; }
  rm -rf "$pack" && mkdir -p "$pack/bin" "$pack/data/mnist"
  cp "$test_bin" "$pack/bin/cuda-tests"
  cp "$built/release/course-bench" "$pack/bin/course-bench"
  strip "$pack/bin/"*
  gzip -9 "$pack/bin/"*
  for f in data/mnist/*-ubyte; do gzip -9 -c "$f" > "$pack/data/mnist/$(basename "$f").gz"; done
  cp scripts/gpu-check.sh "$pack/"
  local size
  size=$(du -sb "$pack" | cut -f1)
  echo "gpu-check: packed $pack, $((size / 1024 / 1024)) MiB (limit 64 MiB):"
  ls -la "$pack/bin" "$pack/data/mnist"
  [ "$size" -le "$limit" ] || { echo "gpu-check: the pack is over 64 MiB" >&2; exit 1; }
}

cuda_libs() {
  local dirs=() d
  [ -n "${AUTOENCODERS_CUDA_LIBS:-}" ] && dirs+=("$AUTOENCODERS_CUDA_LIBS")
  for d in /usr/local/cuda/lib64 /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib \
           /opt/*/.venv/lib/python3*/site-packages/nvidia/cu13/lib /usr/lib/python3*/site-packages/nvidia/*/lib; do
    [ -d "$d" ] && dirs+=("$d")
  done
  local path="" lib found
  for lib in libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
    found=""
    for d in "${dirs[@]}"; do
      if [ -e "$d/$lib" ]; then found="$d"; break; fi
    done
    [ -n "$found" ] || { echo "gpu-check: $lib not found (set AUTOENCODERS_CUDA_LIBS to its folder)" >&2; exit 1; }
    case ":$path:" in *":$found:"*) ;; *) path="${path:+$path:}$found" ;; esac
  done
  echo "$path"
}

run() {
  # A copy of the pack alone carries this script beside its bin/.
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  [ -f "$here/bin/cuda-tests.gz" ] && pack="$here"
  [ -f "$pack/bin/cuda-tests.gz" ] || { echo "gpu-check: no $pack/bin/cuda-tests.gz: run 'scripts/gpu-check.sh pack' first" >&2; exit 1; }
  local start gpu="yes"
  start=$(date +%s)
  if ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
    echo "gpu-check: nvidia-smi lists no GPU on this machine"
    gpu="no"
  else
    nvidia-smi -L
    nvidia-smi --query-gpu=driver_version,memory.total --format=csv,noheader
  fi
  export LD_LIBRARY_PATH
  LD_LIBRARY_PATH="$(cuda_libs)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "gpu-check: CUDA libraries from $LD_LIBRARY_PATH"
  local data bin
  data="$(mktemp -d)" && bin="$data/bin"
  mkdir -p "$data/mnist" "$bin"
  for f in "$pack/data/mnist/"*.gz; do gunzip -c "$f" > "$data/mnist/$(basename "$f" .gz)"; done
  for f in "$pack/bin/"*.gz; do gunzip -c "$f" > "$bin/$(basename "$f" .gz)"; chmod +x "$bin/$(basename "$f" .gz)"; done
  export AUTOENCODERS_DATA="$data"
  local status=0 out
  echo "== the cuda tests (AUTOENCODERS_REQUIRE_GPU=1)"
  AUTOENCODERS_REQUIRE_GPU=1 "$bin/cuda-tests" --test-threads=1 || status=1
  echo "== course-bench, one epoch of the simple, deep, conv and up-conv models"
  out="$("$bin/course-bench" --models simple,deep,conv,upconv --max-epochs 1 2>&1)" || status=1
  rm -rf "$data"
  if [ "$gpu" = no ] || ! grep -q '^device: CUDA GPU' <<<"$out"; then
    grep '^device:' <<<"$out" || true
    echo "gpu-check: NOT A GPU RUN: the binaries ran on the CPU; no GPU figures are reported" >&2
    exit 1
  fi
  echo "$out"
  echo "gpu-check: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - start )) s"
  exit $status
}

case "${1:-}" in
  pack) shift; pack "$@" ;;
  run) run ;;
  *) echo "usage: scripts/gpu-check.sh pack [COMPUTE_CAP] | run" >&2; exit 2 ;;
esac
