#!/usr/bin/env bash
# The crate's numerical tests on arm64 (aarch64-unknown-linux-gnu), run
# under user-mode emulation: the kernels on the gemm path (the direct
# kernels are x86 only), layers, models, losses, optimisers, fit, save and
# load, the IDX reader, the shipped weights. Needs Debian's qemu-user and
# gcc-aarch64-linux-gnu (with libc6-dev-arm64-cross), and the target's std
# (rustup target add aarch64-unknown-linux-gnu); scripts/setup-tests.sh
# installs them with --arm64.
#
# Usage: scripts/test-arm64.sh [extra cargo test arguments]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
for tool in qemu-aarch64 aarch64-linux-gnu-gcc; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "test-arm64: $tool is missing: run scripts/setup-tests.sh --arm64 (Debian's qemu-user, gcc-aarch64-linux-gnu)" >&2
    exit 1
  }
done
rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' || {
  echo "test-arm64: the aarch64 standard library is missing: rustup target add aarch64-unknown-linux-gnu" >&2
  exit 1
}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CARGO_TARGET_DIR="$root/target/arm64"
start=$(date +%s)
cargo test --locked --target aarch64-unknown-linux-gnu -p autoencoders-kernels "$@"
cargo test --locked --target aarch64-unknown-linux-gnu -p autoencoders \
  --test nn --test models --test optim --test train_controls --test stop_button --test data --test idx_fuzz \
  --test bad_inputs --test reduce --test metrics --test pretrained --test cells --test no_panic "$@"
echo "test-arm64: all passed in $(( $(date +%s) - start )) s (target/arm64)"
