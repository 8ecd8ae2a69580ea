#!/usr/bin/env python3
"""Checks Jupyter's stop button through the course's kernel (kernel/relay.py).

    .venv/bin/python tools/stop_check.py [--no-browser]

1. The control and shell channels through the relay (jupyter_client): a
   kernel_info request on control is answered by evcxr; a compile error,
   an error returned through `?` and a panic each get an execute_reply of
   status "error" with the ename, evalue and traceback the protocol asks
   for, a cell that works "ok"; a restart gives a kernel that runs a cell,
   a shutdown ends the kernel.
2. Through the installed `rust` kernel (jupyter_client), full budget:
   - a `fit` of several epochs interrupted mid-epoch: the cell ends
     normally with the fit's notice, and in the next cell the model's test
     loss is that of a trained model (well below an untrained one) and a
     variable defined before the fit is still there;
   - a press while the kernel is idle: nothing happens, the variables stay;
   - a cell of the student's own code that does not poll (a sleep loop): the
     interrupt becomes evcxr's kill within the wait, and the notebook says
     the variables were lost;
   - a double press during a fit: the second press kills;
   - two kernels at once: a stop in one leaves the other's fit running.
3. In JupyterLab in headless Chromium (skipped with --no-browser): the
   toolbar's stop button pressed during a fit, the next cell run, its loss
   read from the page; screenshots in target/screenshots/stop-*.png.

Prints what it saw; exit status 1 on a failure.
"""
import asyncio
import json
import os
import sys
import threading
import time

from jupyter_client.manager import start_new_kernel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jupyterlab import ROOT, lab_server, run_in_chromium  # noqa: E402
from nbkernel import execute  # noqa: E402

SETUP = [
    ':dep autoencoders = { path = ".." }',
    "use autoencoders::prelude::*;\nlet dev = setup();\nlet data = Dataset::mnist()?;\nlet before = 42;",
    "let ae = Autoencoder::new(\n"
    "    Sequential::input(&[784], &dev).add(dense(512).relu())?.add(dense(32).relu())?,\n"
    "    Sequential::input(&[32], &dev).add(dense(512).relu())?.add(dense(784).sigmoid())?,\n)?;\n"
    "let untrained = evaluate(&ae, &data.test_images, &data.test_images, Loss::Mse, 256)?;",
]
FIT = "let history = fit(&ae, &data.train_images, &data.train_images, None, &TrainConfig::default().with_epochs(5))?;"
AFTER = ('let trained = evaluate(&ae, &data.test_images, &data.test_images, Loss::Mse, 256)?;\n'
         'println!("before {before}; untrained {untrained:.4}; trained {trained:.4}; stopped: {:?}", history.stopped);')
SLEEP = "for _ in 0..600 { std::thread::sleep(std::time::Duration::from_millis(100)); }"


def run(kc, code, timeout=900, interrupt_after=None, km=None, presses=1):
    """Executes a cell; with `interrupt_after` (seconds) presses stop then.
    Returns (reply status, text of its stream and display outputs)."""
    def press():
        time.sleep(interrupt_after)
        for _ in range(presses):  # a double press: the second before the first is taken
            km.interrupt_kernel()

    def pressing():
        threading.Thread(target=press, daemon=True).start()

    status, seen = execute(kc, code, timeout, on_sent=pressing if interrupt_after is not None else None)
    texts = []
    for _, msg in seen:
        t, c = msg["msg_type"], msg["content"]
        if t == "stream":
            texts.append(c["text"])
        elif t in ("display_data", "update_display_data", "execute_result"):
            texts.append(c["data"].get("text/plain", ""))
        elif t == "error":
            texts.append(f"ERROR {c.get('evalue', '')}")
    return status, "".join(texts)


def kernel():
    env = {k: v for k, v in os.environ.items() if k != "AUTOENCODERS_QUICK"}
    return start_new_kernel(kernel_name="rust", cwd=os.path.join(ROOT, "notebooks"), env=env)


def replied(kc, msg_id, timeout=300):
    """A cell's execute_reply, and how many seconds after its idle status it
    arrived (the relay holds a reply until its cell's output is in)."""
    reply = idle = None
    start = time.monotonic()
    while (reply is None or idle is None) and time.monotonic() - start < timeout:
        for channel in (kc.shell_channel, kc.iopub_channel):
            if channel.msg_ready():
                msg = channel.get_msg(timeout=1)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "execute_reply":
                    reply = (msg, time.monotonic())
                elif msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                    idle = time.monotonic()
        time.sleep(0.002)
    if reply is None or idle is None:
        raise RuntimeError(f"no reply or no idle status within {timeout} s")
    return reply[0], reply[1] - idle


def setup(kc):
    for code in SETUP:
        status, text = run(kc, code)
        if status != "ok":
            raise RuntimeError(f"a set-up cell failed: {code!r}: {text}")


def control_channel(failures):
    km, kc = kernel()
    try:
        msg = kc.session.msg("kernel_info_request")
        kc.control_channel.send(msg)
        reply = kc.control_channel.get_msg(timeout=30)
        impl = reply["content"].get("implementation")
        print(f"control: kernel_info on the control channel answered by {impl!r}")
        if reply["parent_header"].get("msg_id") != msg["header"]["msg_id"] or not impl:
            failures.append(f"control: kernel_info on the control channel: {reply['content']}")
        for code, status_wanted in (('let x: i32 = "a";', "error"), ('Err::<(), String>("a failing cell".into())?;', "error"),
                                    ('panic!("a failing cell");', "error"), ('println!("a cell that works");', "ok")):
            msg_id = kc.execute(code)
            reply, held = replied(kc, msg_id)
            got = {k: reply["content"].get(k) for k in ("status", "ename", "evalue")}
            print(f"shell: {code!r}: {got}, replied {held:+.2f} s after the cell's idle status")
            if held > 0.5:
                failures.append(f"shell: the relay held {code!r}'s reply {held:.2f} s past its idle status")
            if got["status"] != status_wanted or (status_wanted == "error" and (
                    not got["ename"] or not got["evalue"] or "traceback" not in reply["content"])):
                failures.append(f"shell: {code!r} answered {reply['content']}, not a full {status_wanted!r} reply")
        km.restart_kernel(now=False)
        kc.stop_channels()
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        status, text = run(kc, 'println!("after the restart");')
        print(f"control: after a restart a cell ran: {text.strip()!r}")
        if "after the restart" not in text:
            failures.append(f"control: a restarted kernel did not run a cell: {status} {text!r}")
        km.shutdown_kernel(now=False)
        print(f"control: a shutdown ended the kernel: {not km.is_alive()}")
        if km.is_alive():
            failures.append("control: the kernel outlived a shutdown request")
    finally:
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)


def graceful(failures):
    km, kc = kernel()
    try:
        setup(kc)
        t0 = time.monotonic()
        status, text = run(kc, FIT, interrupt_after=8, km=km)
        took = time.monotonic() - t0
        _, after = run(kc, AFTER)
        print(f"kernel: fit interrupted after 8 s: status {status}, ended {took - 8:.1f} s after the press")
        print(f"  fit's last line: {text.strip().splitlines()[-1][:160] if text.strip() else ''}")
        print(f"  next cell: {after.strip()[:200]}")
        if status != "ok" or "the stop button was pressed" not in text:
            failures.append(f"the interrupted fit did not end normally with its notice: {status}, {text[-300:]!r}")
        nums = dict(p.split(" ", 1) for p in after.strip().split("; ")[:3]) if after.startswith("before") else {}
        if nums.get("before") != "42":
            failures.append(f"a variable defined before the fit is gone: {after!r}")
        elif float(nums["trained"]) > 0.5 * float(nums["untrained"]):
            failures.append(f"the model after the stop is not trained: {after!r}")
        # A press while idle: nothing happens.
        km.interrupt_kernel()
        time.sleep(1)
        status, idle = run(kc, 'println!("still {before}");')
        print(f"kernel: a press while idle, then a cell: {idle.strip()!r}")
        if "still 42" not in idle:
            failures.append(f"a press while idle harmed the kernel: {idle!r}")
        # Own code that does not poll: killed, and the notebook says so.
        t0 = time.monotonic()
        status, text = run(kc, SLEEP, interrupt_after=2, km=km)
        print(f"kernel: a sleep loop interrupted: {time.monotonic() - t0 - 2:.1f} s to end; said {text.strip()[:160]!r}")
        if "variables were lost" not in text:
            failures.append(f"a kill was not announced: {text!r}")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def double_press_and_two_kernels(failures):
    (km1, kc1), (km2, kc2) = kernel(), kernel()
    try:
        setup(kc1)
        setup(kc2)
        results = {}

        def second():
            results["other"] = run(kc2, FIT.replace("with_epochs(5)", "with_epochs(2)"))

        other = threading.Thread(target=second)
        other.start()
        status, text = run(kc1, FIT, interrupt_after=6, km=km1, presses=2)
        other.join()
        print(f"kernel: a double press: {text.strip().splitlines()[-1][:160] if text.strip() else ''!r}")
        if "variables were lost" not in text:
            failures.append(f"a double press did not kill: {text[-300:]!r}")
        ostatus, otext = results["other"]
        print(f"kernel: the other kernel's fit meanwhile: {ostatus}, {otext.strip().splitlines()[-1][:120]!r}")
        if ostatus != "ok" or "stop button" in otext or "Epoch 2/2" not in otext:
            failures.append(f"a stop in one kernel touched the other: {ostatus} {otext[-300:]!r}")
    finally:
        for km, kc in ((km1, kc1), (km2, kc2)):
            kc.stop_channels()
            km.shutdown_kernel(now=True)


PAGE = """(() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  const app = window.jupyterapp, panel = app && app.shell.currentWidget;
  const k = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return JSON.stringify({kernel: k ? k.status : null, cells: cells.length,
    outputs: cells.map(c => [...c.querySelectorAll('.jp-OutputArea-child')].map(o => o.innerText).join('\\n'))});
})()"""


async def press_stop(page, timeout=900):
    """Runs every cell, presses the toolbar's stop button during the fit."""
    start = time.monotonic()
    while time.monotonic() - start < 120:
        state = json.loads(await page.eval(PAGE) or "{}")
        if state.get("kernel") == "idle" and state.get("cells") == len(SETUP) + 2:
            break
        await asyncio.sleep(0.5)
    await page.eval("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    pressed = False
    out = os.path.join(ROOT, "target", "screenshots")
    while time.monotonic() - start < timeout:
        await asyncio.sleep(0.5)
        state = json.loads(await page.eval(PAGE))
        fit_out = state["outputs"][len(SETUP)] if len(state["outputs"]) > len(SETUP) else ""
        if not pressed and "ETA" in fit_out and "Epoch 1/5" in fit_out:
            if not await page.click('[data-command="notebook:interrupt-kernel"]'):
                return fit_out, "the toolbar has no stop button"
            await page.screenshot(os.path.join(out, "stop-pressed.png"))
            pressed = True
        after = state["outputs"][-1]
        if pressed and state["kernel"] == "idle" and "trained" in after:
            await page.screenshot(os.path.join(out, "stop-after.png"))
            return fit_out, after
    return "", "the notebook did not finish"


def browser(failures):
    nb_path = os.path.join(ROOT, "notebooks", ".stop-check.ipynb")
    cells = SETUP + [FIT, AFTER]
    with open(nb_path, "w") as f:
        json.dump({"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {},
                              "outputs": [], "source": c} for i, c in enumerate(cells)],
                   "metadata": {"kernelspec": {"display_name": "Rust", "language": "rust", "name": "rust"}},
                   "nbformat": 4, "nbformat_minor": 5}, f)
    env = {k: v for k, v in os.environ.items() if k != "AUTOENCODERS_QUICK"}
    try:
        with lab_server(ROOT, env) as lab:
            fit_out, after = run_in_chromium(lab.url("notebooks/.stop-check.ipynb", "stop-check"), press_stop)
    except RuntimeError as e:
        failures.append(f"browser: {e} (or run with --no-browser)")
        return
    finally:
        os.remove(nb_path)
        checkpoints = os.path.join(ROOT, "notebooks", ".ipynb_checkpoints")
        try:
            os.remove(os.path.join(checkpoints, ".stop-check-checkpoint.ipynb"))
            os.rmdir(checkpoints)
        except OSError:
            pass
    print(f"browser: the fit cell after the press: {fit_out.strip().splitlines()[-1][:160] if fit_out.strip() else ''!r}")
    print(f"browser: the next cell: {after.strip()[:200]!r}")
    print("  screenshots: target/screenshots/stop-pressed.png, stop-after.png")
    if "the stop button was pressed" not in fit_out:
        failures.append(f"browser: the fit did not stop with its notice: {fit_out[-300:]!r}")
    if "before 42" not in after:
        failures.append(f"browser: the next cell did not find the variables: {after!r}")


def main():
    failures = []
    control_channel(failures)
    graceful(failures)
    double_press_and_two_kernels(failures)
    if "--no-browser" not in sys.argv[1:]:
        browser(failures)
    for f in failures:
        print(f"stop-check: FAILED: {f}")
    print("stop-check: " + ("FAILED" if failures else "passed"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
