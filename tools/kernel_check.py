#!/usr/bin/env python3
"""Executes notebooks through the installed Jupyter kernel for Rust (evcxr_jupyter),
headlessly, as a person's JupyterLab would, and fails on any error.

    .venv/bin/python scripts/kernel-check.py [NOTEBOOK ...]

Without arguments: every lesson (notebooks/*.ipynb) and every exercise solution
(exercises/solutions/*.ipynb; the student notebooks stop at their TODO cells by
design). Quick mode (AUTOENCODERS_QUICK=1) unless the environment sets it. A
notebook fails on an error output, on a line starting with `Error:` in its
output, or on a cell running past KERNEL_CHECK_TIMEOUT seconds (default 900).
Prints, per notebook, its time, its first code cell's time (the `:dep` cell
that compiles the course) and the peak resident memory of the kernel's
processes (Linux), and a summary; exit status 1 if any notebook failed. The
executed copies, outputs included, go to target/kernel-check/ (for
scripts/screenshot-check.sh).
"""
import glob
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def errors_in(cell):
    found = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            found.append(f"{out.get('ename', '')}: {out.get('evalue', '')}".strip())
        text = out.get("text", "")
        if isinstance(text, list):
            text = "".join(text)
        found += [line for line in text.splitlines() if line.startswith("Error:")]
    return found


def tree_peak_rss_mib(pid):
    """Peak resident memory (VmHWM) of a process and its descendants, MiB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) // 1024
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return total


def check(path, timeout):
    nb = nbformat.read(path, as_version=4)
    first = {}
    memory = {}


    def started(cell, cell_index, **_):
        first.setdefault("index", cell_index)
        first.setdefault("start", time.time())

    def finished(cell, cell_index, **_):
        if first.get("index") == cell_index:
            first["seconds"] = time.time() - first["start"]
        try:  # the kernel is alive after each cell (not after the last one's hook)
            memory["mib"] = tree_peak_rss_mib(client.km.provisioner.process.pid)
        except AttributeError:
            pass

    client = NotebookClient(
        nb,
        kernel_name="rust",
        timeout=timeout,
        allow_errors=True,
        resources={"metadata": {"path": os.path.dirname(path)}},
        on_cell_execute=started,
        on_cell_executed=finished,
    )
    t0 = time.time()
    problems = []
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as e:
        problems.append(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except Exception as e:  # the kernel died or did not start
        problems.append(f"{type(e).__name__}: {e}")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            problems += [f"cell {i}: {p}" for p in errors_in(cell)]
    out = os.path.join(ROOT, "target", "kernel-check", os.path.relpath(path, ROOT))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    nbformat.write(nb, out + ".part")
    os.replace(out + ".part", out)
    return time.time() - t0, first.get("seconds"), memory.get("mib"), problems


def main():
    os.environ.setdefault("AUTOENCODERS_QUICK", "1")
    timeout = int(os.environ.get("KERNEL_CHECK_TIMEOUT", "900"))
    paths = sys.argv[1:] or sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))) + sorted(
        glob.glob(os.path.join(ROOT, "exercises", "solutions", "*.ipynb"))
    )
    if not paths:
        sys.exit("kernel-check: no notebooks found")
    failed = 0
    t_all = time.time()
    print(f"kernel-check: {len(paths)} notebooks through the 'rust' kernel, "
          f"AUTOENCODERS_QUICK={os.environ['AUTOENCODERS_QUICK']}", flush=True)
    for path in paths:
        seconds, first, mib, problems = check(os.path.abspath(path), timeout)
        name = os.path.relpath(path, ROOT)
        first_s = f"{first:.1f} s" if first is not None else "not run"
        status = "ok" if not problems else "FAILED"
        mem = f", kernel peak memory {mib} MiB" if mib else ""
        print(f"{status:6} {name}: {seconds:.0f} s (first cell {first_s}{mem})", flush=True)
        for p in problems[:5]:
            print(f"       {p}", flush=True)
        failed += bool(problems)
    print(f"kernel-check: {len(paths) - failed} of {len(paths)} passed in {time.time() - t_all:.0f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
