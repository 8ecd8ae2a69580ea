"""A long session in one kernel: lesson 1's training and figure cells run
again and again through the installed `rust` kernel, as a student re-running
cells for an afternoon would, with the resident memory of the kernel and its
child process recorded after each round, split into the cells' own
compiled code (evcxr builds every cell as a library, loads it and keeps it
loaded: that part grows with each cell run, whatever the cell does) and
everything else (the data, the models, the crate's state). Fails when the
latter keeps growing over the second half of the rounds (more than
--max-growth-mib per round on average, default 2).

    .venv/bin/python tools/soak_check.py [--rounds 20] [--epochs 1] [--csv target/soak.csv]
"""
import argparse
import os
import sys
import time

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nbkernel  # noqa: E402

SETUP = """use autoencoders::prelude::*;
let dev = setup();
let data = Dataset::mnist()?;"""

MODEL = """let ae = Autoencoder::new(
    Sequential::input(&[784], &dev).add(dense(32).relu())?,
    Sequential::input(&[32], &dev).add(dense(784).sigmoid())?,
)?;"""

FIT = """let history = fit(&ae, &data.train_images, &data.train_images,
                  Some((&data.test_images, &data.test_images)), &TrainConfig::default().with_epochs({epochs}))?;"""

FIGURES = """history.plot()?"""
GRID = """reconstruction_grid(&data.test_images, &predict(&ae, &data.test_images, 256)?, 10)?"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-growth-mib", type=float, default=2.0)
    ap.add_argument("--csv", default=os.path.join(nbkernel.ROOT, "target", "soak.csv"))
    args = ap.parse_args()
    cells = [":dep autoencoders = { path = \"..\" }", SETUP, MODEL]
    per_round = [FIT.format(epochs=args.epochs), FIGURES, GRID]
    cells += per_round * args.rounds
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "rust", "display_name": "Rust", "language": "rust"}
    rss, t0 = [], time.time()

    def executed(cell, cell_index, **_):
        if cell_index >= 3 and (cell_index - 3) % len(per_round) == len(per_round) - 1:
            pid = client.km.provisioner.process.pid
            mib, code = nbkernel.tree_memory_mib(pid, "VmRSS"), nbkernel.cell_libraries_mib(pid)
            rss.append((len(rss) + 1, time.time() - t0, mib, code))
            print(f"round {len(rss):>3}: {mib:8.0f} MiB ({code:5.1f} of it the cells' code) "
                  f"after {time.time() - t0:6.0f} s", flush=True)

    client = NotebookClient(nb, kernel_name="rust", timeout=3600, allow_errors=False,
                            resources={"metadata": {"path": os.path.join(nbkernel.ROOT, "notebooks")}},
                            on_cell_executed=executed)
    os.environ["AUTOENCODERS_QUICK"] = "0"
    client.execute()
    problems = [p for c in nb.cells for p in nbkernel.errors_in(c)]
    os.makedirs(os.path.dirname(args.csv), exist_ok=True)
    with open(args.csv, "w") as f:
        f.write("round,seconds,rss_mib,cell_code_mib\n" + "".join(f"{r},{s:.1f},{m:.1f},{c:.1f}\n" for r, s, m, c in rss))
    half = rss[len(rss) // 2:]
    rounds = max(1, half[-1][0] - half[0][0])
    total = (half[-1][2] - half[0][2]) / rounds
    code = (half[-1][3] - half[0][3]) / rounds
    growth = total - code
    print(f"\n{len(rss)} rounds: {rss[0][2]:.0f} MiB after the first, {rss[-1][2]:.0f} MiB after the last; "
          f"second half {total:+.1f} MiB per round, of which the cells' code {code:+.1f} and the rest "
          f"{growth:+.1f} (limit {args.max_growth_mib}); table in {args.csv}")
    if problems or growth > args.max_growth_mib:
        sys.exit("FAILED: " + ("; ".join(problems) if problems else "memory keeps growing"))
    print("soak check passed")


if __name__ == "__main__":
    main()
