#!/usr/bin/env bash
# Opens executed notebooks the way a reader who did not run them sees them:
# each copied fresh (so untrusted: Jupyter shows no SVG output of an
# untrusted notebook) into JupyterLab, in headless Chromium. Saves a
# screenshot per notebook and fails when fewer images are rendered than the
# notebook has image outputs (PNG or SVG): an SVG-only chart would not show,
# so every chart must carry a PNG beside its SVG.
#
# Usage: scripts/screenshot-check.sh [EXECUTED.ipynb ...]
#   default: the copies `cargo test` wrote to target/executed-notebooks/notebooks/
#   screenshots: target/screenshots/<name>.png
# Needs chromium (Debian: apt-get install chromium) and JupyterLab (.venv/).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
chrome="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[ -n "$chrome" ] || { echo "screenshot-check: no chromium; install it (Debian: apt-get install chromium)" >&2; exit 1; }
lab=.venv/bin/jupyter-lab
[ -x "$lab" ] || lab="$(command -v jupyter-lab || true)"
[ -n "$lab" ] || { echo "screenshot-check: no JupyterLab; run scripts/setup-course.sh first" >&2; exit 1; }
if [ $# -gt 0 ]; then notebooks=("$@"); else notebooks=(target/executed-notebooks/notebooks/*.ipynb); fi
[ -f "${notebooks[0]}" ] || { echo "screenshot-check: no executed notebooks; run cargo test first" >&2; exit 1; }

work="$(mktemp -d)"
out="$root/target/screenshots"
mkdir -p "$out" "$work/nb" "$work/settings/@jupyterlab/notebook-extension"
# Render every cell, not only those near the viewport, so the page holds them all.
echo '{"windowingMode": "none"}' > "$work/settings/@jupyterlab/notebook-extension/tracker.jupyterlab-settings"
port=$(( 20000 + RANDOM % 20000 )); token="check$RANDOM$RANDOM"
JUPYTERLAB_SETTINGS_DIR="$work/settings" JUPYTER_RUNTIME_DIR="$work/runtime" \
  "$lab" --no-browser --allow-root --port "$port" --ServerApp.token="$token" \
  --notebook-dir="$work/nb" >"$work/lab.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 60); do
  curl -fs "http://127.0.0.1:$port/api/status?token=$token" >/dev/null 2>&1 && break
  sleep 1
done

failed=0
for src in "${notebooks[@]}"; do
  name="$(basename "$src" .ipynb)"
  cp "$src" "$work/nb/$name.ipynb"
  want="$(python3 - "$src" <<'PY'
import json, sys
nb = json.load(open(sys.argv[1]))
print(sum(1 for c in nb["cells"] if c["cell_type"] == "code"
          for o in c.get("outputs", [])
          if {"image/png", "image/svg+xml"} & set(o.get("data", {}))))
PY
)"
  # A workspace of its own, reset, so that no other notebook is open beside it.
  url="http://127.0.0.1:$port/lab/workspaces/check-$name/tree/$name.ipynb?reset&token=$token"
  flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --virtual-time-budget=30000)
  "$chrome" "${flags[@]}" --window-size=1400,8000 --screenshot="$out/$name.png" "$url" >/dev/null 2>&1
  dom="$("$chrome" "${flags[@]}" --window-size=1400,8000 --dump-dom "$url" 2>/dev/null)"
  images="$(grep -o 'class="[^"]*jp-RenderedImage[^"]*"' <<<"$dom" | wc -l || true)"
  svgs="$(grep -o 'class="[^"]*jp-RenderedSVG[^"]*"' <<<"$dom" | wc -l || true)"
  if [ "$images" -ge "$want" ]; then status=ok; else status=FAILED; failed=$((failed + 1)); fi
  echo "$status $name: $images of $want image outputs rendered as PNG, $svgs as SVG (untrusted copy), screenshot target/screenshots/$name.png"
done
exit $(( failed > 0 ))
