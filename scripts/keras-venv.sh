#!/usr/bin/env bash
# Makes the Python venv that `course-bench --side-by-side` runs its Keras
# anchor (bench/keras_anchor.py) in: .venv-keras/ at the repository root,
# with the TensorFlow CPU and Keras versions the README's figures were
# measured with. Skipped when already there. 1.6 GB on disk; 24 s on this
# project's machine with pip's cache warm (downloads add to that on a fresh one).
#
# Usage: scripts/keras-venv.sh        then
#        cargo run --release -p autoencoders-tools --bin course-bench -- --side-by-side
set -euo pipefail
export TF_CPP_MIN_LOG_LEVEL=2   # no oneDNN banners in the version line
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-keras"
if "$venv/bin/python" -c "import keras, tensorflow" >/dev/null 2>&1; then
  echo "keras-venv: $venv is ready"
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "keras-venv: python3 with the venv module is needed (Debian/Ubuntu: apt-get install python3-venv)" >&2
  exit 1
fi
# A half-made venv fails the import check above and is made again.
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet "tensorflow-cpu==2.21.0" "keras==3.15.1"
echo "keras-venv: $venv is ready ($("$venv/bin/python" -c 'import keras, tensorflow as tf; print("keras", keras.__version__, "tensorflow", tf.__version__)'))"
