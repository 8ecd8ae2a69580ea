#!/usr/bin/env bash
# Opens the course in JupyterLab with the Rust (evcxr) kernel. On a fresh
# machine it first does every set-up step: data, the evcxr_jupyter kernel,
# a Python venv with JupyterLab (in .venv/), and the kernel's registration.
# Each step is skipped when already done.
#
# Usage: scripts/open-course.sh [extra jupyter lab arguments, e.g. --no-browser --port 8888]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "== data"
scripts/fetch-data.sh

echo "== evcxr_jupyter (the Rust kernel)"
if ! command -v evcxr_jupyter >/dev/null 2>&1; then
  echo "installing evcxr_jupyter with cargo (9 to 16 minutes on 2 cores, once)"
  cargo install evcxr_jupyter --locked
fi

echo "== JupyterLab in .venv"
if [ ! -x .venv/bin/jupyter-lab ]; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet jupyterlab
fi
export PATH="$root/.venv/bin:$HOME/.cargo/bin:$PATH"

echo "== kernel registration"
if ! jupyter kernelspec list 2>/dev/null | grep -q '^ *rust '; then
  evcxr_jupyter --install
fi

echo "== opening notebooks/ (Ctrl-C to stop)"
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)   # Jupyter refuses root without it
exec jupyter lab "${extra[@]}" --notebook-dir="$root" "$@" notebooks/01_classic_autoencoder.ipynb
