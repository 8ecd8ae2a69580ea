#!/usr/bin/env bash
# Every set-up step of the course, each skipped when already done: the data,
# the evcxr_jupyter kernel, JupyterLab (a .venv/ unless one is on PATH, as on
# a class server's image), the kernel's registration, and a prepared build of
# the course for new kernels (see kernel/evcxr-kernel.sh).
#
# Usage: scripts/setup-course.sh        (scripts/open-course.sh runs it first)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"

echo "== data"
scripts/fetch-data.sh

echo "== evcxr_jupyter (the Rust kernel)"
if ! command -v evcxr_jupyter >/dev/null 2>&1; then
  echo "installing evcxr_jupyter with cargo (9 to 16 minutes on 2 cores, once)"
  cargo install evcxr_jupyter --locked
fi

echo "== JupyterLab"
if [ -x .venv/bin/jupyter-lab ] || ! command -v jupyter-lab >/dev/null 2>&1; then
  if [ ! -x .venv/bin/jupyter-lab ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet jupyterlab nbclient
  fi
  export PATH="$root/.venv/bin:$PATH"
fi
python="$(dirname "$(command -v jupyter-lab)")/python"
if ! "$python" -c 'import nbclient' 2>/dev/null; then
  echo "setup: $python cannot import nbclient (it runs notebooks headlessly); install it there (pip install nbclient)" >&2
  exit 1
fi

echo "== the course's JupyterLab settings (no news prompt for a room of students)"
# In JupyterLab's application settings (overrides.json beside its install),
# not in each user's: merged into what is there.
"$python" - <<'PY'
import json, os
from jupyterlab.commands import get_app_dir
path = os.path.join(get_app_dir(), "settings", "overrides.json")
os.makedirs(os.path.dirname(path), exist_ok=True)
try:
    with open(path) as f:
        settings = json.load(f)
except (OSError, ValueError):
    settings = {}
settings["@jupyterlab/apputils-extension:notification"] = dict(
    settings.get("@jupyterlab/apputils-extension:notification", {}), fetchNews="false", checkForUpdates=False)
with open(path + ".part", "w") as f:
    json.dump(settings, f, indent=2)
os.replace(path + ".part", path)
print(f"settings: {path}")
PY

echo "== kernel registration (the 'rust' kernel: kernel/relay.py, kernel/evcxr-kernel.sh)"
# evcxr_jupyter's own registration (logos, kernel.js, version.txt: with the
# latter in place it does not re-register itself at start), then its
# kernel.json pointed at the relay (fit's progress redrawn in place), run by
# JupyterLab's Python (it needs pyzmq and jupyter_client), which starts the
# wrapper (a prepared build folder).
evcxr_jupyter --install >/dev/null
if ! "$python" -c 'import zmq, jupyter_client' 2>/dev/null; then
  echo "setup: $python cannot import zmq and jupyter_client (the kernel's relay needs them); install them there (pip install pyzmq jupyter_client)" >&2
  exit 1
fi
dir="$(jupyter kernelspec list | awk '$1 == "rust" { print $2 }')"
[ -n "$dir" ] || { echo "setup: evcxr_jupyter --install registered no 'rust' kernel" >&2; exit 1; }
cat > "$dir/kernel.json.part" <<JSON
{
  "argv": ["$python", "$root/kernel/relay.py", "$root/kernel/evcxr-kernel.sh", "--control_file", "{connection_file}"],
  "display_name": "Rust",
  "language": "rust",
  "interrupt_mode": "message"
}
JSON
mv -f "$dir/kernel.json.part" "$dir/kernel.json"
echo "registered: $dir"

echo "== a prepared build of the course for new kernels (target/evcxr-kernel/slot-0)"
# The first cells of every notebook, run once here through the registered
# kernel, which takes the first free slot (see kernel/evcxr-kernel.sh), so
# that a new kernel's first cell compiles only itself.
nb="$root/notebooks/.prepare-kernel.ipynb"
trap 'rm -f "$nb"' EXIT
cat > "$nb" <<'JSON'
{"cells": [
 {"cell_type": "code", "execution_count": null, "id": "dep", "metadata": {}, "outputs": [],
  "source": [":dep autoencoders = { path = \"..\" }"]},
 {"cell_type": "code", "execution_count": null, "id": "setup", "metadata": {}, "outputs": [],
  "source": ["use autoencoders::prelude::*;\n", "let dev = setup();"]}
],
 "metadata": {"kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"}},
 "nbformat": 4, "nbformat_minor": 5}
JSON
start=$(date +%s)
# A cold build of the course at the kernel's settings: about 9 minutes on 2
# idle cores, over 15 beside other builds; an hour before it is given up on.
AUTOENCODERS_QUICK=1 KERNEL_CHECK_TIMEOUT="${KERNEL_CHECK_TIMEOUT:-3600}" "$python" tools/kernel_check.py "$nb"
echo "prepared in $(( $(date +%s) - start )) s"
