#!/usr/bin/env bash
# The course's Jupyter kernel: evcxr_jupyter with the course's evcxr
# configuration (kernel/evcxr/, EVCXR_CONFIG_DIR) and build profile
# (kernel/cargo-config.toml), working in a prepared folder
# (target/evcxr-kernel/slot-N) instead of a fresh temporary one, so that the
# first `:dep` cell finds the course and its dependencies compiled (cargo's
# records of what is built name the folder, so a copy elsewhere would be
# rebuilt). scripts/setup-course.sh prepares slot 0. Each running kernel
# holds a lock on its slot; a second notebook open at the same time takes
# slot 1 (its first kernel compiles from evcxr's cache, later ones are
# quick), and so on up to 8; past that, a temporary folder with evcxr's own
# build settings. With EVCXR_TMPDIR already set it runs evcxr_jupyter there.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
export EVCXR_CONFIG_DIR="${EVCXR_CONFIG_DIR:-$root/kernel/evcxr}"
# A notebook that asks for the `cuda` feature needs nvcc to build candle's
# kernels and the CUDA libraries to start: where scripts/build-cuda.sh has
# installed the toolkit, the kernel gets the cuda build's environment
# (scripts/cuda-env.sh; the stub driver only where no NVIDIA driver is found).
if [ -x "${AUTOENCODERS_CUDA_HOME:-$HOME/.cache/autoencoders-cuda}/toolkit-13.0/nvidia/cu13/bin/nvcc" ]; then
  # shellcheck source=../scripts/cuda-env.sh
  . "$root/scripts/cuda-env.sh" ""
fi
if [ -n "${EVCXR_TMPDIR:-}" ]; then
  exec evcxr_jupyter "$@"
fi
slots="$root/target/evcxr-kernel"
if mkdir -p "$slots/.cargo" 2>/dev/null; then
  # cargo reads the profile from a config file beside the slots (evcxr
  # writes its own into each slot).
  if ! cmp -s "$root/kernel/cargo-config.toml" "$slots/.cargo/config.toml"; then
    cp "$root/kernel/cargo-config.toml" "$slots/.cargo/config.toml.part.$$" &&
      mv -f "$slots/.cargo/config.toml.part.$$" "$slots/.cargo/config.toml"
  fi
  for n in 0 1 2 3 4 5 6 7; do
    exec {lock}>"$slots/slot-$n.lock" || break
    if flock -n "$lock"; then
      # The lock stays held, through the inherited descriptor, for as long
      # as the kernel and its child process run.
      mkdir -p "$slots/slot-$n"
      EVCXR_TMPDIR="$slots/slot-$n" exec evcxr_jupyter "$@"
    fi
    exec {lock}>&-
  done
fi
exec evcxr_jupyter "$@"
