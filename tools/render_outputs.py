#!/usr/bin/env python3
"""Renders the committed outputs of the lessons and exercise solutions: runs
each notebook at full budget through the installed `rust` kernel and writes
its outputs into the notebook, so that every figure and number shows on
GitHub, in nbviewer and in JupyterLab before anyone runs a cell.

    .venv/bin/python tools/render_outputs.py [NOTEBOOK ...]   # in place, full budget
    .venv/bin/python tools/render_outputs.py --quick [NOTEBOOK ...]   # a trial, into target/rendered/
    .venv/bin/python tools/render_outputs.py --into CHECKOUT NOTEBOOK ...

`--into` runs the notebooks where they are (a worktree of a commit, say, so
that the crate they load does not change during a long render) and writes
the outputs into the same notebooks of another checkout.

Without notebooks: every lesson and every exercise solution. Each code cell
gets `metadata.autoencoders.source_sha256`, a hash of its source chained with
the sources of the code cells before it (tests/rendered.rs recomputes it, so
a cell edited after rendering, or one before it, fails the tests until the
notebook is rendered again). Charts keep their PNG and drop their SVG (the
SVG is for live sessions). The notebook's metadata records the run: date,
machine, mode and the seconds per cell. A notebook is written only when
every cell ran without an error, and only if its code cells did not change
while it ran (its markdown is taken from the file as it is then).
"""
import datetime
import hashlib
import json
import os
import platform
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbformat  # noqa: E402

import nbkernel  # noqa: E402

KEY = "autoencoders"


def chain_hashes(nb):
    """The source hash of each code cell, by index: sha256 of the previous
    code cell's hash, a newline and the cell's source."""
    out, prev = {}, ""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            prev = hashlib.sha256(f"{prev}\n{cell.source}".encode()).hexdigest()
            out[i] = prev
    return out


def machine():
    """The CPU's model and its vector features, as `lscpu` names them."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("unknown CPU", "", "x86_64"):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    vector = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "amx_tile") if f in flags]
    return f"{model}, {os.cpu_count()} cores, {' '.join(vector) or 'no AVX2'}"


def slim(outputs):
    """Outputs with each chart's SVG dropped where a PNG rendering is there,
    and runs of stream outputs (evcxr sends a message per line) joined."""
    kept = []
    for out in outputs:
        data = out.get("data", {})
        if "image/png" in data and "image/svg+xml" in data:
            del data["image/svg+xml"]
        last = kept[-1] if kept else None
        if last and out.output_type == "stream" and last.output_type == "stream" and last.name == out.name:
            last.text += out.text
        else:
            kept.append(out)
    return kept


def stamp(nb, run, quick):
    hashes = chain_hashes(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs = slim(cell.outputs)
            cell.metadata[KEY] = {"source_sha256": hashes[i]}
    nb.metadata[KEY] = {
        "rendered": {
            "date": datetime.date.today().isoformat(),
            "machine": machine(),
            "mode": "quick" if quick else "full",
            "seconds": round(run.seconds, 1),
            "cell_seconds": {str(i): round(s, 1) for i, s in sorted(run.cell_seconds.items())},
        }
    }


def merge_into_current(path, rendered):
    """The notebook at `path` as it is now, with the rendered outputs, or None
    when its code cells changed since the run started."""
    current = nbformat.read(path, as_version=4)
    if chain_hashes(current) != chain_hashes(rendered):
        return None
    for cur, new in zip(current.cells, rendered.cells):
        if cur.cell_type == "code":
            cur.outputs, cur.execution_count, cur.metadata = new.outputs, new.execution_count, new.metadata
    current.metadata[KEY] = rendered.metadata[KEY]
    current.nbformat, current.nbformat_minor = 4, 5
    nbformat.validate(current)
    return current


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    into = None
    if "--into" in args:
        at = args.index("--into")
        into = os.path.abspath(args[at + 1])
        del args[at:at + 2]
    paths = [os.path.abspath(a) for a in args if a != "--quick"] or nbkernel.lessons_and_solutions()
    os.environ["AUTOENCODERS_QUICK"] = "1" if quick else "0"
    timeout = int(os.environ.get("KERNEL_CHECK_TIMEOUT", "3600"))
    failed, total_bytes = 0, 0
    for path in paths:
        home = nbkernel.checkout_of(path)
        name = os.path.relpath(path, home)
        run = nbkernel.run(path, timeout)
        if run.problems:
            failed += 1
            print(f"FAILED {name} ({run.seconds:.0f} s): not written", flush=True)
            for p in run.problems[:5]:
                print(f"       {p}", flush=True)
            continue
        stamp(run.nb, run, quick)
        if quick:
            out_path, nb = os.path.join(nbkernel.ROOT, "target", "rendered", name), run.nb
        else:
            out_path = os.path.join(into, name) if into else path
            nb = merge_into_current(out_path, run.nb)
            if nb is None:
                failed += 1
                print(f"STALE  {name}: its code changed while it ran; not written", flush=True)
                continue
        nbkernel.write_atomic(nb, out_path)
        size = sum(len(json.dumps(c.get("outputs", []))) for c in nb.cells)
        total_bytes += size
        print(f"ok     {name}: {run.seconds:.0f} s, outputs {size / 1e6:.2f} MB -> {os.path.relpath(out_path, nbkernel.ROOT)}",
              flush=True)
    print(f"render: {len(paths) - failed} of {len(paths)} written, outputs {total_bytes / 1e6:.2f} MB")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
