//! Executes every notebook in `notebooks/` and `exercises/` with the evcxr
//! engine, in process, cell by cell (see `tests/runner/engine.rs` for what
//! fails a cell), and writes the executed copies (outputs and images
//! included) under `target/executed-notebooks/`.
//!
//! - Lessons and exercise solutions must run to the end.
//! - Student exercise notebooks must stop at every TODO cell with a panic
//!   whose message is that TODO's hint: each TODO cell runs, and when it has
//!   stopped as it should, the solution's cell runs in its place so that the
//!   next cells (and TODOs) run as a student's would.
//! - The runner first checks itself on `tests/fixtures/`.
//!
//! Environment:
//! - `AUTOENCODERS_QUICK` — set to `1` here unless already set: small data
//!   subsets and capped epochs (`AUTOENCODERS_QUICK=0` runs full budgets).
//! - `NOTEBOOK_CELL_TIMEOUT` — seconds per cell (default 900: the first
//!   `:dep` cell compiles candle on a cold machine).
//! - `NOTEBOOK_FILTER` — run only notebooks whose path contains it
//!   (`self-test`: only the runner's own fixtures). Nothing else filters:
//!   test-harness arguments (`cargo test pca`) are ignored, and a filter that
//!   selects nothing fails.
//!
//! This binary has its own `main` (`harness = false`) because evcxr re-runs
//! the current executable as its child process: `evcxr::runtime_hook()` must
//! come first, or the test becomes a fork bomb.

use autoencoders_tools::engine::{cell_source, executed_path, report, run_notebook, todo_line, Options, TODO_PANIC};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn notebooks_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "ipynb"))
                // Hidden ones (scripts/setup-course.sh's .prepare-kernel.ipynb) are no lessons.
                .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The lessons and solutions, and the student notebooks, kept by `filter`;
/// an error when nothing is left to run.
fn select(root: &Path, filter: Option<&str>) -> Result<(Vec<PathBuf>, Vec<PathBuf>), String> {
    let mut notebooks = notebooks_in(&root.join("notebooks"));
    notebooks.extend(notebooks_in(&root.join("exercises").join("solutions")));
    let mut students = notebooks_in(&root.join("exercises"));
    let total = notebooks.len() + students.len();
    if let Some(f) = filter {
        notebooks.retain(|p| p.to_string_lossy().contains(f));
        students.retain(|p| p.to_string_lossy().contains(f));
        println!(
            "notebooks: NOTEBOOK_FILTER={f:?} keeps {} of {total} notebooks",
            notebooks.len() + students.len()
        );
    }
    if notebooks.is_empty() && students.is_empty() && filter != Some("self-test") {
        return Err(format!(
            "no notebook to run (found {total}, filter {filter:?}): a run of nothing cannot pass"
        ));
    }
    Ok((notebooks, students))
}

/// The notebook filter: `NOTEBOOK_FILTER` only. Test-harness arguments
/// (`cargo test pca` passes `pca` to every test binary) are ignored, with a
/// note, so that they cannot silently select no notebook.
fn filter_from(env: Option<String>, args: &[String]) -> Option<String> {
    let ignored: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !ignored.is_empty() {
        println!("notebooks: ignoring the test-harness arguments {ignored:?}; set NOTEBOOK_FILTER to choose notebooks");
    }
    env.filter(|f| !f.is_empty())
}

fn options(timeout: Duration) -> Options {
    Options {
        timeout,
        substitutes: Vec::new(),
        crate_path: None,
    }
}

/// The solution notebook's source for each cell of a student notebook
/// (they have the same cells, the regions aside).
fn solution_sources(student: &Path) -> Vec<Option<String>> {
    let solution = student
        .parent()
        .unwrap_or(student)
        .join("solutions")
        .join(student.file_name().unwrap_or_default());
    let nb: Value = std::fs::read_to_string(solution)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    nb["cells"]
        .as_array()
        .map(|cells| cells.iter().map(|c| Some(cell_source(c))).collect())
        .unwrap_or_default()
}

/// A student notebook: every TODO cell must stop at its `todo!()`, and with
/// the solution's cells in their place the notebook must run to the end.
fn check_student(root: &Path, nb: &Path, timeout: Duration) -> Result<String, String> {
    let rel = nb.strip_prefix(root).unwrap_or(nb).display().to_string();
    let text = std::fs::read_to_string(nb).map_err(|e| format!("FAILED {rel}: {e}"))?;
    let cells: Value = serde_json::from_str(&text).map_err(|e| format!("FAILED {rel}: {e}"))?;
    let todos: Vec<(usize, String)> = cells["cells"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, c)| c["cell_type"] == "code")
        .filter_map(|(i, c)| todo_line(&cell_source(c)).map(|h| (i + 1, h)))
        .collect();
    if todos.is_empty() {
        return Err(format!(
            "FAILED {rel}: a student notebook without any `// TODO` line above a todo!()"
        ));
    }
    let run = run_notebook(
        root,
        nb,
        &Options {
            timeout,
            substitutes: solution_sources(nb),
            crate_path: None,
        },
    );
    for (cell, line) in &todos {
        match run.substituted.iter().find(|f| f.cell == *cell) {
            Some(f) if f.error.contains(TODO_PANIC) => {}
            Some(f) => {
                return Err(format!(
                    "FAILED {rel}: TODO cell {cell} ({line}) stopped, but not at its todo!():\n{}",
                    f.error
                ))
            }
            None => {
                return Err(format!(
                    "FAILED {rel}: TODO cell {cell} ({line}) did not stop at its todo!()\n{}",
                    report(root, &run)
                ))
            }
        }
    }
    if let Some(extra) = run
        .substituted
        .iter()
        .find(|f| !todos.iter().any(|(c, _)| *c == f.cell))
    {
        return Err(format!(
            "FAILED {rel}: cell {} (not a TODO) failed as given:\n{}",
            extra.cell, extra.error
        ));
    }
    if run.failure.is_some() {
        return Err(format!(
            "FAILED {rel} with the solutions in place of its TODOs:\n{}",
            report(root, &run)
        ));
    }
    Ok(format!(
        "ok     {rel}: each of its {} TODO cells (cells {}) stops at its todo!(); with the solutions in their place it runs to the end ({:.0} s)",
        todos.len(),
        todos.iter().map(|(c, _)| c.to_string()).collect::<Vec<_>>().join(", "),
        run.seconds
    ))
}

/// The runner's own check: each failing fixture must fail at the expected
/// cell with the expected text, or the runner cannot be trusted to catch
/// failures; the passing ones check training across cells and a teacher's
/// own model; the selection must refuse to run nothing.
fn self_test(root: &Path, timeout: Duration) -> Vec<String> {
    let fixtures = root.join("crates/tools/tests/fixtures");
    let short = Duration::from_secs(25);
    let expectations = [
        (
            "fails_question_mark.ipynb",
            4,
            "no such file: weights.safetensors",
            timeout,
        ),
        ("fails_compile.ipynb", 3, "undefined_variable", timeout),
        ("fails_panic.ipynb", 3, "deliberate panic", timeout),
        // A model that does not fit together fails where it is built, naming both shapes.
        (
            "fails_wrong_layer_size.ipynb",
            4,
            "(N, 1, 56, 56) does not fit the encoder's input (N, 1, 28, 28)",
            timeout,
        ),
        // An error printed to stdout (a display helper that prints instead of failing).
        ("fails_stdout_error.ipynb", 3, "printed an error to stdout", timeout),
        // Stderr written after the last cell returned.
        ("fails_late_stderr.ipynb", 3, "stderr after the last cell", timeout),
        // A cell past its time: failed, and its process ended.
        ("fails_timeout.ipynb", 3, "timed out after 25 s", short),
    ];
    let mut problems = Vec::new();
    for (name, cell, needle, limit) in expectations {
        let path = fixtures.join(name);
        let run = run_notebook(root, &path, &options(limit));
        match &run.failure {
            Some(f) if f.cell == cell && f.error.contains(needle) => {
                println!("ok     runner self-test: {name} fails at cell {cell} as it should");
            }
            Some(f) => problems.push(format!(
                "runner self-test {name}: expected a failure at cell {cell} mentioning {needle:?}, got cell {}: {}",
                f.cell, f.error
            )),
            None => problems.push(format!(
                "runner self-test {name}: the notebook passed, but cell {cell} should have failed"
            )),
        }
        // Its executed copy says it failed.
        let copy = std::fs::read_to_string(executed_path(root, &path)).unwrap_or_default();
        if !copy.contains("This executed copy stopped at cell") {
            problems.push(format!(
                "runner self-test {name}: the executed copy does not say it failed"
            ));
        }
    }
    let children = std::process::Command::new("pgrep")
        .args(["-P", &std::process::id().to_string()])
        .output();
    if children.is_ok_and(|o| !o.stdout.is_empty()) {
        problems.push("runner self-test: a process of an earlier notebook is still running".into());
    }
    for (name, what) in [
        (
            "cross_cell_training.ipynb",
            "weights of an earlier cell train as in one cell",
        ),
        (
            "teacher_designs_a_model.ipynb",
            "a model designed layer by layer trains",
        ),
    ] {
        let run = run_notebook(root, &fixtures.join(name), &options(timeout));
        match &run.failure {
            None => println!("ok     runner self-test: {name} passes ({what})"),
            Some(f) => problems.push(format!("runner self-test {name}: cell {} failed: {}", f.cell, f.error)),
        }
    }
    // The same notebook with the per-cell id workaround switched off in the
    // evcxr child: it must fail (weights of an earlier cell mixed up with the
    // new cell's tensors), or the workaround is not what makes it pass.
    std::env::set_var("AUTOENCODERS_CELL_IDS", "off");
    let run = run_notebook(root, &fixtures.join("cross_cell_training.ipynb"), &options(timeout));
    std::env::remove_var("AUTOENCODERS_CELL_IDS");
    match &run.failure {
        Some(f) => println!(
            "ok     runner self-test: cross_cell_training.ipynb fails without the id workaround (cell {}: {})",
            f.cell,
            f.error.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
        ),
        None => problems.push(
            "runner self-test: cross_cell_training.ipynb passed with AUTOENCODERS_CELL_IDS=off: \
             the fixture no longer shows what the workaround prevents"
                .into(),
        ),
    }
    if filter_from(None, &["pca".into(), "--test-threads".into(), "1".into()]).is_some() {
        problems.push("runner self-test: a test-harness argument became a notebook filter".into());
    } else {
        println!("ok     runner self-test: test-harness arguments do not filter notebooks");
    }
    match select(root, Some("no-such-notebook")) {
        Err(e) if e.contains("cannot pass") => println!("ok     runner self-test: a filter that selects nothing fails"),
        _ => problems.push("runner self-test: a filter that selects nothing was accepted".into()),
    }
    problems
}

/// `scripts/test-cuda.sh` (which sets `AUTOENCODERS_TEST_CUDA`): a notebook
/// whose `:dep` line asks for the `cuda` feature, on a machine without a
/// GPU, must run to the end on the CPU and say so in one line. Its exit
/// status.
fn cuda_fallback(root: &Path, timeout: Duration) -> i32 {
    let path = root.join("crates/tools/tests/fixtures/cuda_fallback.ipynb");
    let run = run_notebook(root, &path, &options(timeout));
    let notice = run.stdout.iter().find(|l| l.starts_with("device: "));
    println!("{}", report(root, &run));
    println!("notebooks: the cuda build's notice: {notice:?}");
    let on_cpu = notice.is_some_and(|l| l.contains("CPU (built with cuda, but no usable GPU"));
    let trained = run.stdout.iter().any(|l| l.starts_with("trained: loss"));
    if run.failure.is_none() && on_cpu && trained {
        println!("notebooks: 1 passed, 0 failed");
        0
    } else {
        println!("notebooks: the cuda notebook did not run on the CPU with its notice: 0 passed, 1 failed");
        1
    }
}

fn main() {
    evcxr::runtime_hook();

    let root = autoencoders_tools::repo_root();
    if std::env::var_os("AUTOENCODERS_QUICK").is_none() {
        std::env::set_var("AUTOENCODERS_QUICK", "1");
    }
    // Share compiled dependencies between notebooks and between runs.
    if std::env::var_os("EVCXR_TMPDIR").is_none() {
        let tmp = root.join("target").join("evcxr-notebooks");
        let _ = std::fs::create_dir_all(&tmp);
        std::env::set_var("EVCXR_TMPDIR", &tmp);
    }
    let timeout = Duration::from_secs(
        std::env::var("NOTEBOOK_CELL_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(900),
    );
    if std::env::var_os("AUTOENCODERS_TEST_CUDA").is_some() {
        std::process::exit(cuda_fallback(&root, timeout));
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = filter_from(std::env::var("NOTEBOOK_FILTER").ok(), &args);
    let (notebooks, students) = match select(&root, filter.as_deref()) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("notebooks: {e}");
            println!("notebooks: 0 passed, 1 failed");
            std::process::exit(1);
        }
    };
    let quick = std::env::var("AUTOENCODERS_QUICK").unwrap_or_default();
    println!(
        "notebooks: executing {} notebook(s), AUTOENCODERS_QUICK={quick}, cell timeout {} s",
        notebooks.len() + students.len(),
        timeout.as_secs()
    );

    let (mut passed, mut failed) = (0, 0);
    let mut problems = Vec::new();
    if filter.is_none() || filter.as_deref() == Some("self-test") {
        let p = self_test(&root, timeout);
        if p.is_empty() {
            passed += 1;
        } else {
            failed += 1;
            problems.extend(p);
        }
    }
    let suite = Instant::now();
    for nb in &notebooks {
        let run = run_notebook(&root, nb, &options(timeout));
        let line = report(&root, &run);
        println!("{line}");
        if run.failure.is_some() {
            failed += 1;
            problems.push(line);
        } else {
            passed += 1;
        }
    }
    for nb in &students {
        match check_student(&root, nb, timeout) {
            Ok(line) => {
                passed += 1;
                println!("{line}");
            }
            Err(line) => {
                failed += 1;
                println!("{line}");
                problems.push(line);
            }
        }
    }
    println!(
        "notebooks: executed copies in {} ({:.0} s)",
        root.join("target/executed-notebooks").display(),
        suite.elapsed().as_secs_f64()
    );
    for p in &problems {
        eprintln!("{p}");
    }
    println!("notebooks: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
