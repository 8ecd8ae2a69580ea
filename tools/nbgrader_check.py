"""The exercises through nbgrader, as a teacher grades a class with it.

Builds an nbgrader course in a fresh folder (`--keep DIR` keeps it there)
from `exercises/solutions/` (the `:dep` line pointed at this checkout), then:

1. `nbgrader generate_assignment`: its student versions must match the
   committed `exercises/*.ipynb` cell for cell (nbgrader's ClearSolutions,
   configured for Rust, against the course's own generator);
2. a class of three submits: `honest` (the solutions), `wrong` (each
   exercise's typical wrong answer, which its check must refuse) and
   `unfinished` (the student versions as released, every TODO still open);
3. `nbgrader autograde` runs every submission through the installed `rust`
   kernel (quick mode unless `--full`), and the scores are read back from
   nbgrader's gradebook and printed as a table.

It fails unless every honest submission scores full marks, every wrong one
loses its check's points and every unfinished one scores 0.

    .venv/bin/python tools/nbgrader_check.py [--exercises 01,05] [--full] [--keep DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSIGNMENT = "exercises"

CONFIG = """\
c = get_config()
c.CourseDirectory.course_id = "autoencoders"
c.CourseDirectory.root = {root!r}
# Solutions are marked as in the course (`// BEGIN SOLUTION` ... `// END SOLUTION`)
# and become `todo!()`, which stops a student's cell with its TODO line above it.
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearSolutions.code_stub = {{"rust": "todo!()"}}
# A Rust cell compiles before it runs, and an exercise trains a model.
c.Execute.timeout = {timeout}
"""

# Each exercise's typical wrong answer: (solution cell id, a regex of the
# solution line to replace, its replacement). Each is refused in quick mode.
WRONG = {
    "01": ("codes", r"pca\.sample\(.*\)\?", "predict(&ae.encoder(), &shoes.train_images.narrow(0, 0, 500)?, 256)?"),
    "02": ("denoiser", r"conv2d\((\d+)\)", "conv2d(32)"),
    "03": ("model", r"dense\(16\)", "dense(64)"),
    "04": ("vae", r"\(\d+usize", "(32usize"),
    "05": ("training", r"&normal\.train_images, &normal\.train_images", "&boots.test_images, &boots.test_images"),
}


def nbgrader(course, *args, env=None):
    """Runs one nbgrader command in the course folder; returns its output."""
    venv_bin = os.path.join(ROOT, ".venv", "bin")
    env = dict(env or os.environ)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")  # nbgrader runs `alembic` from its venv
    out = subprocess.run([os.path.join(venv_bin, "nbgrader"), *args], cwd=course, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"nbgrader {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout + out.stderr


def source(cell):
    s = cell["source"]
    return "".join(s) if isinstance(s, list) else s


def with_dep(nb_text, path):
    """The notebook with its `:dep autoencoders` line pointed at `path`."""
    return re.sub(r'(:dep autoencoders = \{ path = )"[^"]*"', lambda m: f'{m.group(1)}"{path}"', nb_text)


def set_up_course(course, exercises, timeout):
    """nbgrader_config.py and the source notebooks (the solutions)."""
    with open(os.path.join(course, "nbgrader_config.py"), "w") as f:
        f.write(CONFIG.format(root=course, timeout=timeout))
    src = os.path.join(course, "source", ASSIGNMENT)
    os.makedirs(src)
    for name in exercises:
        with open(os.path.join(ROOT, "exercises", "solutions", name)) as f:
            nb = json.load(f)
        for cell in nb["cells"]:
            cell["source"] = with_dep(source(cell), ROOT)
        with open(os.path.join(src, name), "w") as f:
            json.dump(nb, f, indent=1)
    nbgrader(course, "db", "assignment", "add", ASSIGNMENT)
    for student in ("honest", "wrong", "unfinished"):
        nbgrader(course, "db", "student", "add", student)


def compare_release(course, exercises):
    """nbgrader's student versions against the committed ones, cell by cell."""
    problems = []
    for name in exercises:
        with open(os.path.join(course, "release", ASSIGNMENT, name)) as f:
            theirs = json.load(f)["cells"]
        with open(os.path.join(ROOT, "exercises", name)) as f:
            ours = json.load(f)["cells"]
        if len(theirs) != len(ours):
            problems.append(f"{name}: nbgrader made {len(theirs)} cells, the course {len(ours)}")
            continue
        for i, (a, b) in enumerate(zip(theirs, ours), 1):
            sa = with_dep(source(a), "..")
            if a["cell_type"] != b["cell_type"] or sa != source(b):
                problems.append(f"{name}, cell {i}: nbgrader's student version differs from the committed one")
    return problems


def submit(course, exercises):
    """The three students' notebooks in submitted/."""
    release = os.path.join(course, "release", ASSIGNMENT)
    solutions = os.path.join(course, "source", ASSIGNMENT)
    for student in ("honest", "wrong", "unfinished"):
        dst = os.path.join(course, "submitted", student, ASSIGNMENT)
        os.makedirs(dst)
        for name in exercises:
            with open(os.path.join(release, name)) as f:
                nb = json.load(f)
            with open(os.path.join(solutions, name)) as f:
                solved = {c["metadata"].get("nbgrader", {}).get("grade_id"): source(c) for c in json.load(f)["cells"]}
            for cell in nb["cells"]:
                meta = cell["metadata"].get("nbgrader", {})
                if student == "unfinished" or not meta.get("solution"):
                    continue
                text = solved[meta["grade_id"]]
                cell_id, pattern, wrong = WRONG[name[:2]]
                if student == "wrong" and meta["grade_id"] == cell_id:
                    text, n = re.subn(pattern, wrong, text)
                    if n == 0:
                        sys.exit(f"{name}: the wrong answer's pattern {pattern!r} is not in cell {cell_id!r}")
                cell["source"] = text
            with open(os.path.join(dst, name), "w") as f:
                json.dump(nb, f, indent=1)


def scores(course, exercises):
    """{student: {notebook: (score, max score)}} from nbgrader's gradebook."""
    from nbgrader.api import Gradebook  # this script runs in the course's venv

    out = {}
    with Gradebook(f"sqlite:///{os.path.join(course, 'gradebook.db')}") as gb:
        for student in ("honest", "wrong", "unfinished"):
            for name in exercises:
                nb = gb.find_submission_notebook(name[:-6], ASSIGNMENT, student)
                out.setdefault(student, {})[name] = (nb.score, nb.max_score)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exercises", default="", help="comma-separated prefixes, e.g. 01,05 (default: all)")
    ap.add_argument("--full", action="store_true", help="full budget instead of quick mode")
    ap.add_argument("--keep", help="build the course in this (new) folder and keep it")
    args = ap.parse_args()
    wanted = [p for p in args.exercises.split(",") if p]
    exercises = sorted(
        n for n in os.listdir(os.path.join(ROOT, "exercises", "solutions"))
        if n.endswith(".ipynb") and (not wanted or n[:2] in wanted)
    )
    if not exercises:
        sys.exit(f"no exercise matches {args.exercises!r}")
    if args.keep:
        course = os.path.abspath(args.keep)
        if os.path.exists(course) and os.listdir(course):
            sys.exit(f"--keep {args.keep}: the folder is not empty; name a new one")
        os.makedirs(course, exist_ok=True)
    else:
        course = tempfile.mkdtemp(prefix="nbgrader-course-")
    env = dict(os.environ, AUTOENCODERS_QUICK="0" if args.full else "1")
    set_up_course(course, exercises, 7200 if args.full else 1200)
    print(nbgrader(course, "generate_assignment", ASSIGNMENT, "--force").strip().splitlines()[-1])
    problems = compare_release(course, exercises)
    submit(course, exercises)
    print(f"autograding {len(exercises)} exercises x 3 students through the rust kernel "
          f"({'full budget' if args.full else 'quick mode'}) ...", flush=True)
    nbgrader(course, "autograde", ASSIGNMENT, "--force", env=env)
    table = scores(course, exercises)
    print(f"\n{'exercise':<32} {'honest':>10} {'wrong':>10} {'unfinished':>11}")
    for name in exercises:
        row = [table[s][name] for s in ("honest", "wrong", "unfinished")]
        print(f"{name:<32} " + " ".join(f"{f'{a:g} / {b:g}':>10}" for a, b in row))
        (h, hmax), (w, _), (u, _) = row
        if h != hmax:
            problems.append(f"{name}: the honest submission scored {h:g} of {hmax:g}")
        if w >= hmax:
            problems.append(f"{name}: the wrong answer scored full marks ({w:g})")
        if u != 0:
            problems.append(f"{name}: the unfinished submission scored {u:g}, not 0")
    if not args.keep:
        shutil.rmtree(course, ignore_errors=True)
    else:
        print(f"\nthe course: {course} (autograded notebooks in autograded/)")
    if problems:
        sys.exit("\n".join(["", "FAILED:"] + problems))
    print("\nnbgrader check passed")


if __name__ == "__main__":
    main()
