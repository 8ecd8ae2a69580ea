# The environment of a `cuda` build, for scripts/build-cuda.sh,
# scripts/test-cuda.sh, scripts/gpu-check.sh and the course's kernel
# (kernel/evcxr-kernel.sh): sourced, not run.
#
#   . scripts/cuda-env.sh [COMPUTE_CAP]
#
# The toolkit (nvcc 13.0 and the CUDA libraries candle needs, from PyPI's
# NVIDIA wheels) lives in $AUTOENCODERS_CUDA_HOME (default
# ~/.cache/autoencoders-cuda), outside the repository; scripts/build-cuda.sh
# installs it. The real NVIDIA driver always wins: the stub libcuda.so.1
# (every call answers CUDA_ERROR_STUB_LIBRARY, so the course falls back to
# the CPU) is put on the library path only when no libcuda.so.1 can be found
# on the system. Sets AUTOENCODERS_CUDA_STUB=1 when it does.
cuda_home="${AUTOENCODERS_CUDA_HOME:-$HOME/.cache/autoencoders-cuda}"
cuda_toolkit="$cuda_home/toolkit-13.0"
export CUDA_ROOT="$cuda_toolkit/nvidia/cu13"
export CUDA_COMPUTE_CAP="${1:-${CUDA_COMPUTE_CAP:-80}}"
export CUDARC_CUDA_VERSION=13000
export PATH="$CUDA_ROOT/bin:$PATH"
export LIBRARY_PATH="$CUDA_ROOT/lib64:$cuda_home/stub${LIBRARY_PATH:+:$LIBRARY_PATH}"
export LD_LIBRARY_PATH="$CUDA_ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
cuda_driver_found() {
  ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 ' && return 0
  for d in /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/nvidia/lib64 /usr/lib/wsl/lib; do
    [ -e "$d/libcuda.so.1" ] && return 0
  done
  return 1
}
if cuda_driver_found; then
  export AUTOENCODERS_CUDA_STUB=0
else
  export AUTOENCODERS_CUDA_STUB=1
  export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$cuda_home/stub"
fi
