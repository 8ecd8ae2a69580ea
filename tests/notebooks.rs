//! Executes every notebook in `notebooks/` and `exercises/` with the evcxr
//! engine, in process, cell by cell, and writes the executed copies (outputs
//! and images included) under `target/executed-notebooks/`.
//!
//! A cell fails when it does not compile, panics, writes to stderr (that is
//! where evcxr sends an error returned through `?`: it still reports the cell
//! as ok), or runs past the per-cell timeout. The report names the notebook,
//! the cell number, its source and the error.
//!
//! Environment:
//! - `AUTOENCODERS_QUICK` — set to `1` here unless already set: small data
//!   subsets and capped epochs (`AUTOENCODERS_QUICK=0` runs full budgets).
//! - `NOTEBOOK_CELL_TIMEOUT` — seconds per cell (default 900: the first
//!   `:dep` cell compiles candle on a cold machine).
//! - `NOTEBOOK_FILTER` or a plain command-line argument — run only notebooks
//!   whose path contains it (`self-test`: only the runner's own fixtures).
//!
//! This binary has its own `main` (`harness = false`) because evcxr re-runs
//! the current executable as its child process: `evcxr::runtime_hook()` must
//! come first, or the test becomes a fork bomb.

use evcxr::{CommandContext, EvalContextOutputs};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Debug)]
enum Stream {
    Stdout,
    Stderr,
}

/// Lines printed by the evcxr child process, in arrival order.
type Captured = Arc<Mutex<Vec<(Stream, String)>>>;

fn drain(outputs: EvalContextOutputs) -> Captured {
    let captured: Captured = Arc::default();
    for (stream, rx) in [(Stream::Stdout, outputs.stdout), (Stream::Stderr, outputs.stderr)] {
        let captured = Arc::clone(&captured);
        std::thread::spawn(move || {
            while let Ok(line) = rx.recv() {
                captured.lock().unwrap().push((stream, line));
            }
        });
    }
    captured
}

/// Takes the captured lines once no new line has arrived for a moment (the
/// child writes stderr before it reports the cell done, but the thread that
/// forwards stderr may lag a little behind).
fn take_settled(captured: &Captured) -> Vec<(Stream, String)> {
    let mut last = usize::MAX;
    for _ in 0..20 {
        let n = captured.lock().unwrap().len();
        if n == last {
            break;
        }
        last = n;
        std::thread::sleep(Duration::from_millis(60));
    }
    std::mem::take(&mut *captured.lock().unwrap())
}

struct CellFailure {
    cell: usize,
    source: String,
    error: String,
}

struct NotebookRun {
    path: PathBuf,
    failure: Option<CellFailure>,
    cells_run: usize,
    seconds: f64,
}

fn cell_source(cell: &Value) -> String {
    match &cell["source"] {
        Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

fn lines_json(text: &str) -> Value {
    let mut out: Vec<Value> = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('\n') {
        out.push(Value::String(rest[..=i].to_string()));
        rest = &rest[i + 1..];
    }
    if !rest.is_empty() {
        out.push(Value::String(rest.to_string()));
    }
    Value::Array(out)
}

/// Where the executed copy of `nb` goes.
fn executed_path(root: &Path, nb: &Path) -> PathBuf {
    let rel = nb.strip_prefix(root).unwrap_or(nb);
    root.join("target").join("executed-notebooks").join(rel)
}

fn write_atomic(path: &Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let tmp = path.with_extension("ipynb.part");
    if std::fs::write(&tmp, bytes).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// Executes one notebook; returns where it stopped, if it failed.
fn run_notebook(root: &Path, nb_path: &Path, timeout: Duration) -> NotebookRun {
    let start = Instant::now();
    let text = match std::fs::read_to_string(nb_path) {
        Ok(t) => t,
        Err(e) => return failed_early(nb_path, format!("cannot read: {e}"), start),
    };
    let mut nb: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return failed_early(nb_path, format!("not valid notebook JSON: {e}"), start),
    };
    // Relative `:dep` paths resolve against the working directory, as they do
    // against the notebook's folder in Jupyter.
    let dir = nb_path.parent().unwrap_or(root).to_path_buf();
    if let Err(e) = std::env::set_current_dir(&dir) {
        return failed_early(nb_path, format!("cannot enter {}: {e}", dir.display()), start);
    }
    let (mut ctx, outputs) = match CommandContext::new() {
        Ok(x) => x,
        Err(e) => return failed_early(nb_path, format!("evcxr could not start: {e}"), start),
    };
    let captured = drain(outputs);
    let cells = nb["cells"].as_array().cloned().unwrap_or_default();
    let mut new_cells = Vec::with_capacity(cells.len());
    let mut failure = None;
    let mut cells_run = 0;
    let mut exec_count = 0;
    let label = format!("{}", nb_path.strip_prefix(root).unwrap_or(nb_path).display());
    for (i, cell) in cells.iter().enumerate() {
        let mut cell = cell.clone();
        if cell["cell_type"] != "code" || failure.is_some() {
            if cell["cell_type"] == "code" {
                cell["outputs"] = json!([]);
                cell["execution_count"] = Value::Null;
            }
            new_cells.push(cell);
            continue;
        }
        let source = cell_source(&cell);
        exec_count += 1;
        cells_run += 1;
        let cell_no = i + 1;
        eprintln!("  [{label}] cell {cell_no} …");
        let cell_start = Instant::now();
        let done = Arc::new(AtomicBool::new(false));
        {
            // Watchdog: a cell past its time fails the whole run, naming the cell.
            let done = Arc::clone(&done);
            let label = label.clone();
            let src = source.clone();
            std::thread::spawn(move || {
                let t0 = Instant::now();
                while t0.elapsed() < timeout {
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(250));
                }
                eprintln!(
                    "\nFAILED {label}, cell {cell_no}: timed out after {} s (NOTEBOOK_CELL_TIMEOUT)\n--- source ---\n{src}\n--------------",
                    timeout.as_secs()
                );
                println!("notebooks: 0 passed, 1 failed");
                std::process::exit(1);
            });
        }
        let result = ctx.execute(&source);
        done.store(true, Ordering::SeqCst);
        let lines = take_settled(&captured);
        let mut outs: Vec<Value> = Vec::new();
        let stdout: String = lines
            .iter()
            .filter(|l| l.0 == Stream::Stdout)
            .map(|l| format!("{}\n", l.1))
            .collect();
        let stderr: String = lines
            .iter()
            .filter(|l| l.0 == Stream::Stderr)
            .map(|l| format!("{}\n", l.1))
            .collect();
        if !stdout.is_empty() {
            outs.push(json!({"output_type": "stream", "name": "stdout", "text": lines_json(&stdout)}));
        }
        if !stderr.is_empty() {
            outs.push(json!({"output_type": "stream", "name": "stderr", "text": lines_json(&stderr)}));
        }
        let mut error = None;
        match result {
            Ok(eval) => {
                let mut data = serde_json::Map::new();
                for (mime, content) in &eval.content_by_mime_type {
                    let value = if mime.starts_with("image/svg") || mime.starts_with("text/") {
                        lines_json(content)
                    } else {
                        Value::String(content.clone())
                    };
                    data.insert(mime.clone(), value);
                }
                if !data.is_empty() {
                    let only_text = data.len() == 1 && data.contains_key("text/plain");
                    if only_text {
                        outs.push(json!({"output_type": "execute_result", "execution_count": exec_count, "data": data, "metadata": {}}));
                    } else {
                        outs.push(json!({"output_type": "display_data", "data": data, "metadata": {}}));
                    }
                }
                if !stderr.trim().is_empty() {
                    error = Some(format!(
                        "the cell wrote to stderr (an error returned through `?` ends up there):\n{}",
                        stderr.trim_end()
                    ));
                }
            }
            Err(e) => {
                let msg = match &e {
                    evcxr::Error::CompilationErrors(errors) => errors
                        .iter()
                        .map(|ce| {
                            let r = ce.rendered();
                            if r.is_empty() {
                                ce.message()
                            } else {
                                r
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                    other => format!("{other}"),
                };
                let mut msg = msg;
                if !stderr.trim().is_empty() {
                    msg = format!("{msg}\n{}", stderr.trim_end());
                }
                error = Some(msg);
            }
        }
        if let Some(err) = &error {
            outs.push(json!({"output_type": "error", "ename": "CellError", "evalue": err, "traceback": [err]}));
        }
        eprintln!(
            "  [{label}] cell {cell_no} {} in {:.1} s",
            if error.is_some() { "FAILED" } else { "ok" },
            cell_start.elapsed().as_secs_f64()
        );
        cell["outputs"] = Value::Array(outs);
        cell["execution_count"] = json!(exec_count);
        new_cells.push(cell);
        if let Some(err) = error {
            failure = Some(CellFailure {
                cell: cell_no,
                source,
                error: err,
            });
        }
    }
    nb["cells"] = Value::Array(new_cells);
    let out_path = executed_path(root, nb_path);
    write_atomic(
        &out_path,
        serde_json::to_string_pretty(&nb).unwrap_or_default().as_bytes(),
    );
    let _ = std::env::set_current_dir(root);
    NotebookRun {
        path: nb_path.to_path_buf(),
        failure,
        cells_run,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn failed_early(path: &Path, error: String, start: Instant) -> NotebookRun {
    NotebookRun {
        path: path.to_path_buf(),
        failure: Some(CellFailure {
            cell: 0,
            source: String::new(),
            error,
        }),
        cells_run: 0,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn report(root: &Path, run: &NotebookRun) -> String {
    let rel = run.path.strip_prefix(root).unwrap_or(&run.path).display();
    match &run.failure {
        None => format!("ok     {rel} ({} code cells, {:.0} s)", run.cells_run, run.seconds),
        Some(f) => format!(
            "FAILED {rel}, cell {}:\n--- source ---\n{}\n--- error ---\n{}\n-------------",
            f.cell,
            f.source.trim_end(),
            f.error.trim_end()
        ),
    }
}

fn notebooks_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "ipynb"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The runner's own check: each failing fixture must fail at the expected
/// cell with the expected text, or the runner cannot be trusted to catch
/// failures; the passing one checks training across cells.
fn self_test(root: &Path, timeout: Duration) -> Vec<String> {
    let fixtures = root.join("tests").join("fixtures");
    let expectations = [
        ("fails_question_mark.ipynb", 4, "no such file: weights.safetensors"),
        ("fails_compile.ipynb", 3, "undefined_variable"),
        ("fails_panic.ipynb", 3, "deliberate panic"),
        // A model that does not fit together fails where it is built, naming both shapes.
        (
            "fails_wrong_layer_size.ipynb",
            4,
            "(N, 1, 56, 56) does not fit the encoder's input (N, 1, 28, 28)",
        ),
    ];
    let mut problems = Vec::new();
    for (name, cell, needle) in expectations {
        let path = fixtures.join(name);
        let run = run_notebook(root, &path, timeout);
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
    }
    // And ones that must pass: weights built in one cell, trained in the next
    // (evcxr gives every cell its own copy of candle; see src/runtime/cells.rs);
    // a teacher's own model on the prelude alone.
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
        let run = run_notebook(root, &fixtures.join(name), timeout);
        match &run.failure {
            None => println!("ok     runner self-test: {name} passes ({what})"),
            Some(f) => problems.push(format!("runner self-test {name}: cell {} failed: {}", f.cell, f.error)),
        }
    }
    problems
}

/// The first code cell holding `todo!("…")` (1-based, counting every cell)
/// and its hint.
fn first_todo(path: &Path) -> Option<(usize, String)> {
    let nb: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    for (i, cell) in nb["cells"].as_array()?.iter().enumerate() {
        if cell["cell_type"] != "code" {
            continue;
        }
        let src = cell_source(cell);
        if let Some(at) = src.find("todo!(\"") {
            let rest = &src[at + 7..];
            let end = rest.find("\")")?;
            return Some((i + 1, rest[..end].replace("\\\"", "\"")));
        }
    }
    None
}

fn main() {
    evcxr::runtime_hook();

    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
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
    let filter: Option<String> = std::env::var("NOTEBOOK_FILTER")
        .ok()
        .or_else(|| std::env::args().skip(1).find(|a| !a.starts_with('-')));

    // Lessons and exercise solutions must run to the end; student exercise
    // notebooks must stop at their first TODO with its hint.
    let mut notebooks = notebooks_in(&root.join("notebooks"));
    notebooks.extend(notebooks_in(&root.join("exercises").join("solutions")));
    let mut students = notebooks_in(&root.join("exercises"));
    if let Some(f) = &filter {
        notebooks.retain(|p| p.to_string_lossy().contains(f.as_str()));
        students.retain(|p| p.to_string_lossy().contains(f.as_str()));
    }
    let quick = std::env::var("AUTOENCODERS_QUICK").unwrap_or_default();
    println!(
        "notebooks: executing {} notebook(s), AUTOENCODERS_QUICK={quick}, cell timeout {} s",
        notebooks.len() + students.len(),
        timeout.as_secs()
    );

    let mut passed = 0;
    let mut failed = 0;
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
        let run = run_notebook(&root, nb, timeout);
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
        let rel = nb.strip_prefix(&root).unwrap_or(nb).display().to_string();
        match first_todo(nb) {
            None => {
                failed += 1;
                problems.push(format!("FAILED {rel}: a student notebook without any todo!(\"hint\")"));
            }
            Some((cell, hint)) => {
                let run = run_notebook(&root, nb, timeout);
                match &run.failure {
                    Some(f) if f.cell == cell && f.error.contains(&hint) => {
                        passed += 1;
                        println!("ok     {rel} stops at its first TODO (cell {cell}) with its hint");
                    }
                    _ => {
                        failed += 1;
                        let line = format!(
                            "FAILED {rel}: expected it to stop at cell {cell} with the hint {hint:?}; instead:\n{}",
                            report(&root, &run)
                        );
                        println!("{line}");
                        problems.push(line);
                    }
                }
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
