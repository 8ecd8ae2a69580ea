"""What a student waits for against what the benchmark measures: seconds per
60,000-image epoch of the four seed models (simple, deep, conv, upconv),
trained in a notebook through the installed `rust` kernel and by the
release-built `course-bench`, on this machine, one after the other. Each
model trains two epochs in both; the second epoch's time is compared (the
first carries one-off costs). Prints a table; the figures belong in
docs/performance.md.

    .venv/bin/python tools/kernel_speed.py [--bench target/release/course-bench] [--rounds 1]
"""
import argparse
import os
import re
import subprocess
import sys

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbkernel  # noqa: E402

MODELS = {  # course-bench's name: (the preset, its loss), as course-bench trains them
    "simple": ("DenseAutoencoder::classic()", "Loss::Mse"),
    "deep": ("DenseAutoencoder::deep()", "Loss::Mse"),
    "conv": ("ConvAutoencoder::default()", "Loss::BinaryCrossEntropy"),
    "upconv": ("UpConvAutoencoder::default()", "Loss::BinaryCrossEntropy"),
}

CELL = """let h = fit(&{preset}.build(&dev)?, &data.train_images, &data.train_images,
            Some((&data.test_images, &data.test_images)),
            &TrainConfig::default().with_epochs(2).with_loss({loss}).quiet())?;
println!("SECONDS {name} {{:.2}}", h.seconds[1]);"""


def in_kernel():
    cells = [':dep autoencoders = { path = ".." }', "use autoencoders::prelude::*;\nlet dev = setup();\nlet data = Dataset::mnist()?;"]
    cells += [CELL.format(name=n, preset=p, loss=l) for n, (p, l) in MODELS.items()]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "rust", "display_name": "Rust", "language": "rust"}
    os.environ["AUTOENCODERS_QUICK"] = "0"
    NotebookClient(nb, kernel_name="rust", timeout=3600,
                   resources={"metadata": {"path": os.path.join(nbkernel.ROOT, "notebooks")}}).execute()
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            for m in re.finditer(r"SECONDS (\w+) ([0-9.]+)", "".join(out.get("text", ""))):
                found[m.group(1)] = float(m.group(2))
        problems = nbkernel.errors_in(cell)
        if problems:
            sys.exit(f"kernel run failed: {problems}")
    return found


def in_bench(bench):
    out = subprocess.run([bench, "--models", ",".join(MODELS), "--max-epochs", "2"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{bench} failed:\n{out.stderr}")
    text = out.stdout + out.stderr
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"== (\w+):.*?last epoch ([0-9.]+) s", text, re.S)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default=os.path.join(nbkernel.ROOT, "target", "release", "course-bench"))
    ap.add_argument("--rounds", type=int, default=1, help="alternate kernel and benchmark this many times")
    args = ap.parse_args()
    if not os.access(args.bench, os.X_OK):
        sys.exit(f"{args.bench}: not built (cargo build --release -p autoencoders-tools --bin course-bench)")
    runs = {"kernel": [], "bench": []}
    for r in range(args.rounds):
        print(f"round {r + 1}: kernel ...", flush=True)
        runs["kernel"].append(in_kernel())
        print(f"round {r + 1}: course-bench ...", flush=True)
        runs["bench"].append(in_bench(args.bench))
    print(f"\nseconds per epoch (the second of two), best of {args.rounds} round(s)")
    print(f"{'model':<8} {'kernel':>8} {'course-bench':>13} {'ratio':>6}")
    for name in MODELS:
        k = min(run[name] for run in runs["kernel"])
        b = min(run[name] for run in runs["bench"])
        print(f"{name:<8} {k:>8.2f} {b:>13.2f} {k / b:>6.2f}")


if __name__ == "__main__":
    main()
