"""Runs a notebook through the installed Jupyter kernel for Rust (the course's
`rust` kernel: evcxr_jupyter behind kernel/relay.py), headlessly, as a
person's JupyterLab would. Shared by the checks in tools/ and
tools/render_outputs.py.
"""
import os
import time
from dataclasses import dataclass, field

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def errors_in(cell):
    """The errors a code cell's outputs hold: error outputs, anything written
    to stderr (where evcxr prints an error returned through `?`), and lines
    starting with `Error:`."""
    found = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            found.append(f"{out.get('ename', '')}: {out.get('evalue', '')}".strip())
        text = out.get("text", "")
        if isinstance(text, list):
            text = "".join(text)
        if out.get("name") == "stderr" and text.strip():
            found.append(f"stderr: {text.strip().splitlines()[0]}")
        found += [line for line in text.splitlines() if line.startswith("Error:")]
    return found


def process_tree(pid):
    """`pid` and its descendants, as far as /proc still shows them."""
    stack = [pid]
    while stack:
        p = stack.pop()
        yield p
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    stack += [int(c) for c in f.read().split()]
        except OSError:
            pass


def tree_memory_mib(pid, field="VmHWM"):
    """Resident memory of a process and its descendants, MiB: their peaks
    (`VmHWM`, the default) or what they hold now (`VmRSS`)."""
    total = 0.0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += sum(int(line.split()[1]) / 1024 for line in f if line.startswith(field + ":"))
        except OSError:
            pass
    return total


def cell_libraries_mib(pid):
    """Resident memory of the cells' own compiled libraries (evcxr builds
    each cell as a `libcode_N.so`, loads it and never unloads it) in a
    process and its descendants, MiB."""
    total = 0.0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/smaps") as f:
                in_cell = False
                for line in f:
                    first = line.split(maxsplit=1)[0]
                    if "-" in first and not first.endswith(":"):  # a mapping's header line
                        in_cell = os.path.basename(line.split()[-1]).startswith("libcode_")
                    elif in_cell and first == "Rss:":
                        total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def execute(kc, code, timeout=600, on_sent=None):
    """Executes one cell through a jupyter_client `kc`, calling `on_sent()`
    once the request is out; returns (reply status, [(seconds, message)]):
    every IOPub message of the cell, up to its `idle`."""
    msg_id = kc.execute(code)
    if on_sent:
        on_sent()
    seen, start = [], time.monotonic()
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        seen.append((time.monotonic() - start, msg))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=timeout)
    return reply["content"]["status"], seen


@dataclass
class Run:
    """What running one notebook gave."""

    nb: object
    seconds: float = 0.0
    first_cell_seconds: float = None
    peak_mib: int = None
    cell_seconds: dict = field(default_factory=dict)  # cell index -> seconds
    problems: list = field(default_factory=list)


def run(path, timeout):
    """Executes the notebook at `path` in its own folder; returns a Run whose
    `nb` holds the outputs (the file is not written)."""
    nb = nbformat.read(path, as_version=4)
    result = Run(nb=nb)
    starts = {}

    def started(cell, cell_index, **_):
        starts[cell_index] = time.time()

    def finished(cell, cell_index, **_):
        result.cell_seconds[cell_index] = time.time() - starts.get(cell_index, time.time())
        if result.first_cell_seconds is None:
            result.first_cell_seconds = result.cell_seconds[cell_index]
        try:  # the kernel is alive after each cell
            result.peak_mib = round(tree_memory_mib(client.km.provisioner.process.pid))
        except AttributeError:
            pass

    client = NotebookClient(
        nb,
        kernel_name="rust",
        timeout=timeout,
        allow_errors=True,
        record_timing=False,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
        on_cell_execute=started,
        on_cell_executed=finished,
    )
    t0 = time.time()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError) as e:
        result.problems.append(str(e).splitlines()[0] if str(e) else type(e).__name__)
    except Exception as e:  # the kernel died or did not start
        result.problems.append(f"{type(e).__name__}: {e}")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            result.problems += [f"cell {i}: {p}" for p in errors_in(cell)]
    result.seconds = time.time() - t0
    return result


def lessons_and_solutions():
    """Every lesson (notebooks/*.ipynb) and every exercise solution."""
    import glob

    return sorted(glob.glob(os.path.join(ROOT, "notebooks", "*.ipynb"))) + sorted(
        glob.glob(os.path.join(ROOT, "exercises", "solutions", "*.ipynb"))
    )


def checkout_of(path):
    """The repository checkout a notebook lies in (the folder above its
    `notebooks/` or `exercises/`)."""
    d = os.path.dirname(os.path.abspath(path))
    while d != os.path.dirname(d):
        if os.path.exists(os.path.join(d, "Cargo.toml")) and os.path.isdir(os.path.join(d, "notebooks")):
            return d
        d = os.path.dirname(d)
    return ROOT


def write_atomic(nb, path):
    """Writes notebook `nb` to `path` through a temporary file and a rename."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    nbformat.write(nb, path + ".part")
    os.replace(path + ".part", path)
