#!/usr/bin/env bash
# Opens the course in JupyterLab with the Rust (evcxr) kernel. On a fresh
# machine it first does every set-up step (scripts/setup-course.sh: data,
# the evcxr_jupyter kernel, JupyterLab in .venv/, the kernel's registration,
# a prepared build so that a new kernel's first cell takes seconds); each
# step is skipped when already done.
#
# Usage: scripts/open-course.sh [extra jupyter lab arguments, e.g. --no-browser --port 8888]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/setup-course.sh
[ -x .venv/bin/jupyter-lab ] && export PATH="$root/.venv/bin:$PATH"

echo "== opening notebooks/ (Ctrl-C to stop)"
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)   # Jupyter refuses root without it
exec jupyter lab "${extra[@]}" --notebook-dir="$root" "$@" notebooks/01_classic_autoencoder.ipynb
