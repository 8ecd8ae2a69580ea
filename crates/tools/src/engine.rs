//! The notebook engine shared by the test runner (`tests/notebooks.rs`) and
//! the grading command (`grade`): executes a notebook with evcxr
//! in process, cell by cell, and writes its executed copy.
//!
//! A cell fails when it does not compile, panics, writes to stderr (where
//! evcxr sends an error returned through `?`: it still reports the cell as
//! ok), prints a line starting with `Error:` to stdout, or runs past the
//! timeout (its evcxr process is then ended). Stderr that arrives after the
//! last cell fails that cell. The executed copy of a notebook that failed
//! says so in a first cell; a stale copy is removed before each run.
//!
//! The binary that uses it must call `evcxr::runtime_hook()` first.

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

/// Takes the captured lines once none has arrived for `quiet` (the thread
/// that forwards stderr may lag a little behind the cell's end).
fn take_settled(captured: &Captured, quiet: Duration) -> Vec<(Stream, String)> {
    let mut last = usize::MAX;
    let start = Instant::now();
    while start.elapsed() < quiet * 20 {
        let n = captured.lock().unwrap().len();
        if n == last {
            break;
        }
        last = n;
        std::thread::sleep(quiet);
    }
    std::mem::take(&mut *captured.lock().unwrap())
}

/// Where a notebook stopped.
pub struct CellFailure {
    /// 1-based, counting every cell (markdown too).
    pub cell: usize,
    pub source: String,
    pub error: String,
}

/// What running a notebook gave.
pub struct NotebookRun {
    pub path: PathBuf,
    pub failure: Option<CellFailure>,
    /// Cells that failed and were replaced by their substitute (a student
    /// notebook's TODO cells, replaced by the solution's), with their errors.
    pub substituted: Vec<CellFailure>,
    /// Every line the cells printed to stdout, in order.
    pub stdout: Vec<String>,
    pub cells_run: usize,
    pub seconds: f64,
}

/// How to run a notebook.
pub struct Options {
    /// Per-cell time limit.
    pub timeout: Duration,
    /// For cell index `i` (0-based), the source to run instead when that
    /// cell fails.
    pub substitutes: Vec<Option<String>>,
    /// Where the course crate is, for notebooks outside the repository (a
    /// class folder): their `:dep autoencoders = { path = … }` line is
    /// pointed there.
    pub crate_path: Option<PathBuf>,
}

/// `source` with its `:dep autoencoders` line pointed at `crate_path`.
fn with_crate_path(source: &str, crate_path: &Path) -> String {
    source
        .lines()
        .map(|l| {
            if l.trim_start().starts_with(":dep autoencoders") {
                format!(
                    ":dep autoencoders = {{ path = {:?} }}",
                    crate_path.display().to_string()
                )
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn cell_source(cell: &Value) -> String {
    match &cell["source"] {
        Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

fn lines_json(text: &str) -> Value {
    Value::Array(
        text.split_inclusive('\n')
            .map(|l| Value::String(l.to_string()))
            .collect(),
    )
}

/// Where the executed copy of `nb` goes.
pub fn executed_path(root: &Path, nb: &Path) -> PathBuf {
    // A notebook outside `root` keeps its whole path below the folder (joined
    // as it is, an absolute path would name the notebook itself).
    let rel: PathBuf = match nb.strip_prefix(root) {
        Ok(rel) => rel.to_path_buf(),
        Err(_) => nb
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect(),
    };
    root.join("target").join("executed-notebooks").join(rel)
}

/// Ends this process's child processes (evcxr's), after a timeout.
fn end_children() {
    let _ = std::process::Command::new("pkill")
        .args(["-KILL", "-P", &std::process::id().to_string()])
        .status();
}

/// The message of an evcxr error, compile errors rendered.
fn evcxr_message(e: &evcxr::Error) -> String {
    match e {
        evcxr::Error::CompilationErrors(errors) => errors
            .iter()
            .map(|ce| {
                if ce.rendered().is_empty() {
                    ce.message()
                } else {
                    ce.rendered()
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
        other => format!("{other}"),
    }
}

/// The cell's outputs as notebook JSON, and its error if it failed.
fn outputs_of(
    result: &Result<evcxr::EvalOutputs, evcxr::Error>,
    lines: &[(Stream, String)],
    exec_count: usize,
) -> (Vec<Value>, Option<String>) {
    let text = |s: Stream| -> String {
        lines
            .iter()
            .filter(|l| l.0 == s)
            .map(|l| format!("{}\n", l.1))
            .collect()
    };
    let (stdout, stderr) = (text(Stream::Stdout), text(Stream::Stderr));
    let mut outs = Vec::new();
    for (name, t) in [("stdout", &stdout), ("stderr", &stderr)] {
        if !t.is_empty() {
            outs.push(json!({"output_type": "stream", "name": name, "text": lines_json(t)}));
        }
    }
    let mut error = match result {
        Err(e) => Some(evcxr_message(e)),
        Ok(_) => None,
    };
    if let Ok(eval) = result {
        let mut data = serde_json::Map::new();
        for (mime, content) in &eval.content_by_mime_type {
            let text_like = mime.starts_with("image/svg") || mime.starts_with("text/");
            data.insert(
                mime.clone(),
                if text_like {
                    lines_json(content)
                } else {
                    Value::String(content.clone())
                },
            );
        }
        if data.len() == 1 && data.contains_key("text/plain") {
            outs.push(
                json!({"output_type": "execute_result", "execution_count": exec_count, "data": data, "metadata": {}}),
            );
        } else if !data.is_empty() {
            outs.push(json!({"output_type": "display_data", "data": data, "metadata": {}}));
        }
    }
    if !stderr.trim().is_empty() {
        let note = "the cell wrote to stderr (an error returned through `?` ends up there):";
        error = Some(match error {
            Some(e) => format!("{e}\n{}", stderr.trim_end()),
            None => format!("{note}\n{}", stderr.trim_end()),
        });
    }
    if error.is_none() {
        if let Some(line) = stdout.lines().find(|l| l.trim_start().starts_with("Error:")) {
            error = Some(format!("the cell printed an error to stdout: {line}"));
        }
    }
    if let Some(err) = &error {
        outs.push(json!({"output_type": "error", "ename": "CellError", "evalue": err, "traceback": [err]}));
    }
    (outs, error)
}

/// Runs `source` in `ctx` with a time limit: its outputs, its error if it
/// failed, and whether it ran past the limit (its evcxr process is then
/// ended).
fn execute_with_timeout(
    ctx: &mut CommandContext,
    captured: &Captured,
    source: &str,
    timeout: Duration,
) -> (Vec<Value>, Vec<String>, Option<String>, bool) {
    let (done, timed_out) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    {
        let (done, timed_out) = (Arc::clone(&done), Arc::clone(&timed_out));
        std::thread::spawn(move || {
            let t0 = Instant::now();
            while t0.elapsed() < timeout {
                if done.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            timed_out.store(true, Ordering::SeqCst);
            end_children();
        });
    }
    let result = ctx.execute(source);
    done.store(true, Ordering::SeqCst);
    let lines = take_settled(captured, Duration::from_millis(60));
    let stdout: Vec<String> = lines
        .iter()
        .filter(|l| l.0 == Stream::Stdout)
        .map(|l| l.1.clone())
        .collect();
    let (outs, mut error) = outputs_of(&result, &lines, 0);
    let timed_out = timed_out.load(Ordering::SeqCst);
    if timed_out {
        error = Some(format!(
            "timed out after {} s (NOTEBOOK_CELL_TIMEOUT); its evcxr process was ended",
            timeout.as_secs()
        ));
    }
    (outs, stdout, error, timed_out)
}

/// One code cell, then (once) its substitute if it failed and has one: its
/// outputs, the source that ran last and its error.
fn run_cell(
    ctx: &mut CommandContext,
    captured: &Captured,
    run: &mut NotebookRun,
    (label, cell_no): (&str, usize),
    mut source: String,
    substitute: Option<String>,
    opts: &Options,
) -> (Vec<Value>, String, Option<String>) {
    let mut outs = Vec::new();
    for attempt in 0..2 {
        let which = if attempt == 1 { " (substitute)" } else { "" };
        eprintln!("  [{label}] cell {cell_no}{which} …");
        let cell_start = Instant::now();
        let (mut o, stdout, error, timed_out) = execute_with_timeout(ctx, captured, &source, opts.timeout);
        for out in o.iter_mut().filter(|o| o["output_type"] == "execute_result") {
            out["execution_count"] = json!(run.cells_run);
        }
        run.stdout.extend(stdout);
        outs.extend(o);
        let status = if error.is_some() { "FAILED" } else { "ok" };
        eprintln!(
            "  [{label}] cell {cell_no} {status} in {:.1} s",
            cell_start.elapsed().as_secs_f64()
        );
        match (error, &substitute) {
            (Some(err), Some(sub)) if attempt == 0 && !timed_out => {
                run.substituted.push(CellFailure {
                    cell: cell_no,
                    source: source.clone(),
                    error: err,
                });
                source = sub.clone();
            }
            (error, _) => return (outs, source, error),
        }
    }
    (outs, source, None)
}

/// Stderr that arrives after the last cell belongs to it: an error there.
fn late_stderr(
    captured: &Captured,
    new_cells: &mut [Value],
    last_code: Option<&(usize, String)>,
    run: &mut NotebookRun,
) {
    std::thread::sleep(Duration::from_millis(800));
    let late: Vec<String> = take_settled(captured, Duration::from_millis(100))
        .into_iter()
        .filter(|l| l.0 == Stream::Stderr)
        .map(|l| l.1)
        .collect();
    if let (false, Some((at, source))) = (late.is_empty(), last_code) {
        let error = format!("stderr after the last cell:\n{}", late.join("\n"));
        if let Some(outs) = new_cells[*at]["outputs"].as_array_mut() {
            outs.push(json!({"output_type": "error", "ename": "CellError", "evalue": error, "traceback": [error]}));
        }
        run.failure = Some(CellFailure {
            cell: *at + 1,
            source: source.clone(),
            error,
        });
    }
}

/// Writes the executed copy: a first cell saying where a failed run
/// stopped, and the run's status in the metadata.
fn write_executed_copy(mut nb: Value, mut new_cells: Vec<Value>, run: &NotebookRun, out_path: &Path) {
    if let Some(f) = &run.failure {
        let first = f.error.lines().next().unwrap_or("").to_string();
        let banner = format!(
            "**This executed copy stopped at cell {}**: {first}\n\nThe cells after it did not run; their outputs are empty.",
            f.cell
        );
        new_cells.insert(
            0,
            json!({"cell_type": "markdown", "id": "runner-banner", "metadata": {}, "source": lines_json(&banner)}),
        );
        nb["metadata"]["autoencoders_runner"] = json!({"status": "failed", "cell": f.cell});
    } else {
        nb["metadata"]["autoencoders_runner"] = json!({"status": "passed"});
    }
    nb["cells"] = Value::Array(new_cells);
    // The course crate's one atomic write (folders made, temp file then rename).
    let text = serde_json::to_string_pretty(&nb).unwrap_or_default();
    if let Err(e) = autoencoders::io::write_atomic(out_path, text.as_bytes()) {
        eprintln!("notebooks: could not write the executed copy: {e}");
    }
}

/// Executes one notebook; returns where it stopped, if it failed.
pub fn run_notebook(root: &Path, nb_path: &Path, opts: &Options) -> NotebookRun {
    let start = Instant::now();
    let mut run = NotebookRun {
        path: nb_path.to_path_buf(),
        failure: None,
        substituted: Vec::new(),
        stdout: Vec::new(),
        cells_run: 0,
        seconds: 0.0,
    };
    let out_path = executed_path(root, nb_path);
    let _ = std::fs::remove_file(&out_path);
    let started = std::fs::read_to_string(nb_path)
        .map_err(|e| format!("cannot read: {e}"))
        .and_then(|t| {
            serde_json::from_str::<Value>(&t).map_err(|e| format!("cannot read: not valid notebook JSON: {e}"))
        })
        .and_then(|nb| {
            // Relative `:dep` paths resolve against the working directory, as
            // they do against the notebook's folder in Jupyter.
            let dir = nb_path.parent().unwrap_or(root).to_path_buf();
            std::env::set_current_dir(&dir).map_err(|e| format!("cannot enter {}: {e}", dir.display()))?;
            let (ctx, outputs) = CommandContext::new().map_err(|e| format!("evcxr could not start: {e}"))?;
            Ok((nb, ctx, drain(outputs)))
        });
    let (nb, mut ctx, captured) = match started {
        Ok(x) => x,
        Err(error) => {
            run.failure = Some(CellFailure {
                cell: 0,
                source: String::new(),
                error,
            });
            run.seconds = start.elapsed().as_secs_f64();
            return run;
        }
    };
    let cells = nb["cells"].as_array().cloned().unwrap_or_default();
    let mut new_cells = Vec::with_capacity(cells.len());
    let label = nb_path.strip_prefix(root).unwrap_or(nb_path).display().to_string();
    let mut last_code: Option<(usize, String)> = None;
    for (i, cell) in cells.iter().enumerate() {
        let mut cell = cell.clone();
        if cell["cell_type"] != "code" || run.failure.is_some() {
            if cell["cell_type"] == "code" {
                cell["outputs"] = json!([]);
                cell["execution_count"] = Value::Null;
            }
            new_cells.push(cell);
            continue;
        }
        run.cells_run += 1;
        let mut source = cell_source(&cell);
        if let Some(crate_path) = &opts.crate_path {
            source = with_crate_path(&source, crate_path);
        }
        let substitute = opts.substitutes.get(i).cloned().flatten();
        let (outs, source, error) = run_cell(&mut ctx, &captured, &mut run, (&label, i + 1), source, substitute, opts);
        cell["outputs"] = Value::Array(outs);
        cell["execution_count"] = json!(run.cells_run);
        new_cells.push(cell);
        last_code = Some((new_cells.len() - 1, source.clone()));
        if let Some(error) = error {
            run.failure = Some(CellFailure {
                cell: i + 1,
                source,
                error,
            });
        }
    }
    if run.failure.is_none() {
        late_stderr(&captured, &mut new_cells, last_code.as_ref(), &mut run);
    }
    write_executed_copy(nb, new_cells, &run, &out_path);
    let _ = std::env::set_current_dir(root);
    run.seconds = start.elapsed().as_secs_f64();
    run
}

/// One line for a passed run, the cell, source and error for a failed one.
pub fn report(root: &Path, run: &NotebookRun) -> String {
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

/// Where a student notebook's cell leaves work to the student: its
/// `// TODO: …` line, if its source holds the stub `todo!()`. Running the cell
/// stops it with `not yet implemented`.
pub fn todo_line(source: &str) -> Option<String> {
    if !source.contains(crate::student::CODE_STUB) {
        return None;
    }
    let line = source.lines().find(|l| l.trim_start().starts_with("// TODO"))?;
    Some(line.trim().to_string())
}

/// What a stopped TODO cell's error says: `todo!()`'s panic message.
pub const TODO_PANIC: &str = "not yet implemented";
