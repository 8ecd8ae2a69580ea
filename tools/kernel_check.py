#!/usr/bin/env python3
"""Executes notebooks through the installed Jupyter kernel for Rust, headlessly,
as a person's JupyterLab would, and fails on any error.

    .venv/bin/python tools/kernel_check.py [NOTEBOOK ...]

Without arguments: every lesson (notebooks/*.ipynb) and every exercise solution
(exercises/solutions/*.ipynb; the student notebooks stop at their TODO cells by
design). Quick mode (AUTOENCODERS_QUICK=1) unless the environment sets it. A
notebook fails on an error output, on a line starting with `Error:` in its
output, or on a cell running past KERNEL_CHECK_TIMEOUT seconds (default 900).
Prints, per notebook, its time, its first code cell's time (the `:dep` cell
that compiles the course) and the peak resident memory of the kernel's
processes (Linux), and a summary; exit status 1 if any notebook failed. The
executed copies, outputs included, go to target/kernel-check/ (for
tools/screenshot_check.py).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbkernel  # noqa: E402


def main():
    os.environ.setdefault("AUTOENCODERS_QUICK", "1")
    timeout = int(os.environ.get("KERNEL_CHECK_TIMEOUT", "900"))
    paths = sys.argv[1:] or nbkernel.lessons_and_solutions()
    if not paths:
        sys.exit("kernel-check: no notebooks found")
    failed = 0
    t_all = time.time()
    print(f"kernel-check: {len(paths)} notebooks through the 'rust' kernel, "
          f"AUTOENCODERS_QUICK={os.environ['AUTOENCODERS_QUICK']}", flush=True)
    for path in paths:
        path = os.path.abspath(path)
        run = nbkernel.run(path, timeout)
        name = os.path.relpath(path, nbkernel.ROOT)
        nbkernel.write_atomic(run.nb, os.path.join(nbkernel.ROOT, "target", "kernel-check", name))
        first = f"{run.first_cell_seconds:.1f} s" if run.first_cell_seconds is not None else "not run"
        status = "ok" if not run.problems else "FAILED"
        mem = f", kernel peak memory {run.peak_mib} MiB" if run.peak_mib else ""
        print(f"{status:6} {name}: {run.seconds:.0f} s (first cell {first}{mem})", flush=True)
        for p in run.problems[:5]:
            print(f"       {p}", flush=True)
        failed += bool(run.problems)
    print(f"kernel-check: {len(paths) - failed} of {len(paths)} passed in {time.time() - t_all:.0f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
