#!/usr/bin/env python3
"""Opens notebooks the way a reader who did not run them sees them: each
copied fresh (so untrusted: Jupyter shows no SVG output of an untrusted
notebook) into JupyterLab, in headless Chromium. Saves a screenshot per
notebook and fails when fewer images are rendered than the notebook has
image outputs (PNG or SVG): an SVG-only chart would not show.

    .venv/bin/python tools/screenshot_check.py [NOTEBOOK ...]

Default: the committed lessons and exercise solutions (their rendered
outputs). Screenshots: target/screenshots/<name>.png. Needs chromium
(Debian: apt-get install chromium) and JupyterLab (scripts/setup-course.sh).
"""
import asyncio
import glob
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jupyterlab import ROOT, lab_server, run_in_chromium  # noqa: E402

# The notebook's cells and rendered images once JupyterLab has drawn them.
PAGE_STATE = """(() => JSON.stringify({
  cells: document.querySelectorAll('.jp-Notebook .jp-Cell').length,
  images: document.querySelectorAll('.jp-RenderedImage').length,
  svgs: document.querySelectorAll('.jp-RenderedSVG').length,
}))()"""


def image_outputs(path):
    nb = json.load(open(path))
    cells = len(nb["cells"])
    images = sum(1 for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
                 if {"image/png", "image/svg+xml"} & set(o.get("data", {})))
    return cells, images


def look(page_url, shot, cells):
    async def session(page):
        state, start = {}, time.monotonic()
        while time.monotonic() - start < 60:
            state = json.loads(await page.eval(PAGE_STATE) or "{}")
            if state.get("cells") == cells:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # images decode after the cells exist
        state = json.loads(await page.eval(PAGE_STATE) or "{}")
        await page.screenshot(shot)
        return state

    return run_in_chromium(page_url, session, size="1400,8000")


def main():
    paths = sys.argv[1:] or sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))) + sorted(
        glob.glob(os.path.join(ROOT, "exercises", "solutions", "*.ipynb")))
    out = os.path.join(ROOT, "target", "screenshots")
    folder = tempfile.mkdtemp()
    failed = 0
    try:
        with lab_server(folder) as lab:
            for src in paths:
                name = os.path.splitext(os.path.basename(src))[0]
                shutil.copy(src, os.path.join(folder, f"{name}.ipynb"))
                cells, want = image_outputs(src)
                state = look(lab.url(f"{name}.ipynb", f"check-{name}"), os.path.join(out, f"{name}.png"), cells)
                ok = state.get("images", 0) >= want
                failed += not ok
                print(f"{'ok' if ok else 'FAILED'} {name}: {state.get('images', 0)} of {want} image outputs rendered "
                      f"as PNG, {state.get('svgs', 0)} as SVG (untrusted copy), screenshot target/screenshots/{name}.png",
                      flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
