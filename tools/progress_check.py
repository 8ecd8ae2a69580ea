#!/usr/bin/env python3
"""Checks that `fit` redraws its progress in place in Jupyter, through the
installed `rust` kernel (kernel/relay.py).

    .venv/bin/python tools/progress_check.py [--no-browser]

0. The relay's rules (kernel/relay.py's parse and Displays), on
   marked lines made here: live lines redrawn, a finished line replacing the
   live one, an `end` dropping it, malformed marks left as text, text
   printed just before a mark kept.

The next two parts train a dense autoencoder on MNIST for three epochs at
full budget (not quick mode).

1. The kernel's messages: the kernel started headlessly (jupyter_client), every
   message it publishes read. Passes when the fit's output is one display that
   was created once and then redrawn at least twice with a live progress line (batches, loss, ETA),
   whose last state is the three epoch lines and nothing else, when no
   marked line leaked out as text, and when a one-epoch fit right after
   `print!` without a newline shows that text, then its display.
2. In JupyterLab in headless Chromium (skipped with --no-browser; fails
   without chromium): a notebook with the same cells run in the page, the fit cell's
   outputs read from the page four times a second. Passes when the fit cell
   never shows more than one output, its text changed at least twice while
   showing a progress line, and it ends as the three epoch lines. Screenshots
   in target/screenshots/progress-live.png (mid-fit) and progress-done.png.

Prints what it saw; exit status 1 on a failure.
"""
import asyncio
import importlib.util
import json
import os
import sys
import time

from jupyter_client.manager import start_new_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jupyterlab import ROOT, lab_server, run_in_chromium  # noqa: E402
from nbkernel import execute  # noqa: E402

CELLS = [
    ':dep autoencoders = { path = ".." }',
    "use autoencoders::prelude::*;\nlet dev = setup();\nlet data = Dataset::mnist()?;",
    "let encoder = Sequential::input(&[784], &dev).add(dense(512).relu())?.add(dense(32).relu())?;\n"
    "let decoder = Sequential::input(&[32], &dev).add(dense(512).relu())?.add(dense(784).sigmoid())?;\n"
    "let ae = Autoencoder::new(encoder, decoder)?;\n"
    "let history = fit(&ae, &data.train_images, &data.train_images, None,\n"
    "                  &TrainConfig::default().with_epochs(3))?;",
]
# A fit started right after text printed without a newline (part 1): the
# relay keeps the text and still makes the display.
AFTER_PRINT = ('print!("Training: ");\n'
               "fit(&ae, &data.train_images.narrow(0, 0, 512)?, &data.train_images.narrow(0, 0, 512)?, None,\n"
               "    &TrainConfig::default().with_epochs(1))?;")


def epoch_lines(text):
    """True when `text` is exactly the three epoch lines."""
    lines = text.strip().splitlines()
    return len(lines) == 3 and all(l.startswith(f"Epoch {k}/3 - loss: ") for k, l in enumerate(lines, 1))


def relay_rules():
    """Part 0: the relay's reading of marked lines; returns the failures."""
    spec = importlib.util.spec_from_file_location("relay", os.path.join(ROOT, "kernel", "relay.py"))
    relay = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(relay)
    mark = lambda kind, text="": f"\x1b_autoencoders;{kind};d1\x1b\\{text}\n"
    d, got = relay.Displays(), []
    for kind, text in [("end", ""), ("live", "  1/9"), ("live", "  5/9"), ("line", "Epoch 1/2"),
                       ("live", "  2/9"), ("end", "")]:
        got.append(d.update(*relay.parse(mark(kind, text))[1:]))
    want = [None, ("display_data", "  1/9"), ("update_display_data", "  5/9"),
            ("update_display_data", "Epoch 1/2"), ("update_display_data", "Epoch 1/2\n  2/9"),
            ("update_display_data", "Epoch 1/2")]
    failures = [] if got == want else [f"the relay's displays went {got}, expected {want}"]
    after_print = relay.parse("Training: " + mark("live", "  3/9"))
    if after_print != ("Training: ", "live", "d1", "  3/9"):
        failures.append(f"a mark after printed text read as {after_print}, expected the text kept before it")
    for text in ["plain text\n", "\x1b_autoencoders;live;d1 no end", "\x1b_autoencoders;other;d1\x1b\\x",
                 "\x1b_autoencoders;live;\x1b\\x"]:
        if relay.parse(text) is not None:
            failures.append(f"the relay took {text!r} for a marked line")
    print("relay rules: " + ("ok" if not failures else "FAILED"))
    return failures


def kernel_messages(env):
    """Part 1: the messages the kernel publishes; returns the failures."""
    km, kc = start_new_kernel(kernel_name="rust", cwd=os.path.join(ROOT, "notebooks"), env=env)
    failures = []
    try:
        for code in CELLS[:-1]:
            status, seen = execute(kc, code)
            if status != "ok":
                texts = [m["content"] for _, m in seen if m["msg_type"] in ("error", "stream")]
                return [f"a set-up cell failed: {code!r}: {texts}"]
        status, seen = execute(kc, CELLS[-1])
        _, after_print = execute(kc, AFTER_PRINT)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    if status != "ok":
        failures.append(f"the fit cell ended with status {status}")
    displays = [(t, m) for t, m in seen if m["msg_type"] in ("display_data", "update_display_data")]
    ids = {m["content"].get("transient", {}).get("display_id") for _, m in displays}
    leaked = [m["content"]["text"] for _, m in seen if m["msg_type"] == "stream" and "\x1b_" in m["content"]["text"]]
    live = [(t, m) for t, m in displays if "ETA" in m["content"]["data"]["text/plain"]]
    print(f"kernel: fit cell {seen[-1][0]:.1f} s, {len(displays)} display messages for {len(ids)} display(s), "
          f"{len(live)} of them with a live progress line")
    for t, m in displays[:2] + displays[-2:]:
        text = m["content"]["data"]["text/plain"].replace("\n", " | ")
        print(f"  {t:6.2f} s {m['msg_type']:<20} {text[:150]}")
    gaps = [b[0] - a[0] for a, b in zip(live, live[1:])]
    if gaps:
        print(f"  redrawn every {min(gaps):.2f}-{max(gaps):.2f} s")
    if len(ids) != 1 or None in ids:
        failures.append(f"expected one display for the fit, saw display ids {sorted(map(str, ids))}")
    if not displays or displays[0][1]["msg_type"] != "display_data":
        failures.append("the fit's display was not created first (display_data)")
    elif any(m["msg_type"] != "update_display_data" for _, m in displays[1:]):
        failures.append("the fit's display was created more than once: outputs would stack up")
    if len(live) < 2:
        failures.append(f"the progress line was redrawn {len(live)} times; expected at least 2")
    if displays and not epoch_lines(displays[-1][1]["content"]["data"]["text/plain"]):
        failures.append(f"the display's last state is not the three epoch lines: {displays[-1][1]['content']}")
    if leaked:
        failures.append(f"marked lines leaked out as text: {leaked[:2]}")
    texts = [m["content"]["text"] for _, m in after_print if m["msg_type"] == "stream"]
    shown = [m["content"]["data"]["text/plain"] for _, m in after_print
             if m["msg_type"] in ("display_data", "update_display_data")]
    print(f"kernel: a fit after print! without a newline: text {texts}, display ends {shown[-1:]!r}")
    if texts != ["Training: \n"] or not shown or not shown[-1].startswith("Epoch 1/1 - loss: "):
        failures.append(f"a fit right after print!(\"Training: \") showed text {texts} and displays {shown[-1:]}; "
                        "expected the text on its own line, then the fit's display")
    return failures


# What the page reports: the kernel's state and the text of each output of
# the notebook's last code cell.
PAGE_STATE = """(() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  const cells = document.querySelectorAll('.jp-Notebook .jp-CodeCell');
  const last = cells.length ? cells[cells.length - 1] : null;
  const outputs = last ? [...last.querySelectorAll('.jp-OutputArea-child')].map(o => o.innerText) : [];
  const errors = [...document.querySelectorAll('.jp-OutputArea-output')]
    .filter(o => (o.getAttribute('data-mime-type') || '').includes('error')
              || (o.innerText || '').startsWith('Error:')).map(o => o.innerText);
  return JSON.stringify({kernel: kernel ? kernel.status : null, cells: cells.length, outputs, errors});
})()"""


async def drive(page, timeout):
    """Runs every cell in the page; returns the fit cell's samples and the last state."""
    start = time.monotonic()
    state = {}
    while time.monotonic() - start < 120:
        state = json.loads(await page.eval(PAGE_STATE) or "{}")
        if state.get("kernel") == "idle" and state.get("cells") == len(CELLS):
            break
        await asyncio.sleep(0.5)
    else:
        return [], f"the notebook or its kernel was not ready in 120 s: {state}"
    await page.eval("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    samples, live_shot = [], False
    out = os.path.join(ROOT, "target", "screenshots")
    os.makedirs(out, exist_ok=True)
    busy_seen = False
    while time.monotonic() - start < timeout:
        await asyncio.sleep(0.25)
        state = json.loads(await page.eval(PAGE_STATE))
        samples.append((time.monotonic() - start, state["outputs"]))
        busy_seen |= state["kernel"] == "busy"
        text = "\n".join(state["outputs"])
        if not live_shot and "Epoch 1/3" in text and "ETA" in text:
            await page.screenshot(os.path.join(out, "progress-live.png"))
            live_shot = True
        if state["errors"]:
            return samples, f"an error in the page: {state['errors'][:2]}"
        if busy_seen and state["kernel"] == "idle" and "Epoch 3/3" in text:
            await page.screenshot(os.path.join(out, "progress-done.png"))
            return samples, None
    return samples, f"the notebook did not finish in {timeout} s"


def browser(env):
    """Part 2: the fit in JupyterLab in headless Chromium; returns the failures."""
    nb_path = os.path.join(ROOT, "notebooks", ".progress-check.ipynb")
    notebook = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                   "source": c} for i, c in enumerate(CELLS)],
        "metadata": {"kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    with open(nb_path, "w") as f:
        json.dump(notebook, f)
    try:
        with lab_server(ROOT, env) as lab:
            samples, problem = run_in_chromium(lab.url("notebooks/.progress-check.ipynb", "progress-check"),
                                               lambda page: drive(page, timeout=900))
    except RuntimeError as e:
        return [f"{e} (or run with --no-browser)"]
    finally:
        os.remove(nb_path)
        # JupyterLab's checkpoint of the notebook it opened.
        checkpoints = os.path.join(ROOT, "notebooks", ".ipynb_checkpoints")
        try:
            os.remove(os.path.join(checkpoints, ".progress-check-checkpoint.ipynb"))
            os.rmdir(checkpoints)
        except OSError:
            pass
    failures = [problem] if problem else []
    most = max((len(o) for _, o in samples), default=0)
    live = []
    for t, outputs in samples:
        text = "\n".join(outputs)
        if "ETA" in text and (not live or live[-1][1] != text):
            live.append((t, text))
    final = "\n".join(samples[-1][1]) if samples else ""
    print(f"browser: {len(samples)} samples of the fit cell, at most {most} output(s) shown, "
          f"{len(live)} different progress lines seen in place")
    for t, text in live[:2] + live[-1:]:
        print(f"  {t:6.2f} s {text.replace(chr(10), ' | ')[:150]}")
    print(f"  at the end: {final.replace(chr(10), ' | ')[:200]}")
    print("  screenshots: target/screenshots/progress-live.png, progress-done.png")
    if most > 1:
        failures.append(f"the fit cell showed {most} outputs at once; its lines belong in one")
    if len(live) < 2:
        failures.append(f"the progress line changed {len(live)} times in the page; expected at least 2")
    if not epoch_lines(final):
        failures.append(f"the fit cell did not end as the three epoch lines: {final!r}")
    return failures


def main():
    env = {k: v for k, v in os.environ.items() if k != "AUTOENCODERS_QUICK"}
    failures = [f"relay: {f}" for f in relay_rules()]
    failures += [f"kernel: {f}" for f in kernel_messages(env)]
    if "--no-browser" not in sys.argv[1:]:
        failures += [f"browser: {f}" for f in browser(env)]
    for f in failures:
        print(f"progress-check: FAILED: {f}")
    print("progress-check: " + ("FAILED" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
