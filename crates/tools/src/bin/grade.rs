//! Grades filled-in exercise notebooks headlessly, with the test runner's
//! engine: runs each notebook through evcxr, reads back the lines its checks
//! print, and prints a table of checks (passed or failed, measured value,
//! expected value). Exits with 1 when any check fails or a notebook does not
//! run to the end (a compile error, a TODO left, a check that failed).
//!
//! ```text
//! cargo run --release -p autoencoders-tools --bin grade -- [--quick] NOTEBOOK_OR_FOLDER...
//! ```
//!
//! A folder means every `.ipynb` in it (a class's submissions). Notebooks may
//! live anywhere: their `:dep autoencoders` line is pointed at this
//! repository. Full budgets unless `--quick` (or `AUTOENCODERS_QUICK=1`).

use autoencoders_tools::engine::{report, run_notebook, Options};
use std::path::PathBuf;
use std::time::Duration;

/// One check line printed by `autoencoders::exercise`.
struct Row {
    passed: bool,
    name: String,
    measured: String,
    expected: String,
}

fn parse(line: &str) -> Option<Row> {
    let (passed, rest) = match (line.strip_prefix("✔ "), line.strip_prefix("✘ ")) {
        (Some(r), _) => (true, r),
        (_, Some(r)) => (false, r),
        _ => return None,
    };
    let rest = rest.split(" — hint: ").next()?;
    let (name, rest) = rest.split_once(": ")?;
    let (measured, expected) = rest.rsplit_once(" (expected ")?;
    Some(Row {
        passed,
        name: name.to_string(),
        measured: measured.to_string(),
        expected: expected.strip_suffix(')')?.to_string(),
    })
}

fn notebooks(args: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for a in args {
        let p = PathBuf::from(a);
        if p.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
                .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default();
            v.retain(|p| p.extension().is_some_and(|x| x == "ipynb"));
            v.sort();
            out.extend(v);
        } else {
            out.push(p);
        }
    }
    out
}

/// The grader's arguments.
#[derive(clap::Parser)]
#[command(
    name = "grade",
    about = "Grades filled-in exercise notebooks: runs each headlessly and prints a table of its checks"
)]
struct Args {
    /// Quick mode: small data and capped epochs, with the checks' quick thresholds.
    #[arg(long)]
    quick: bool,
    /// Notebooks, or folders of them (a class's submissions).
    #[arg(required = true)]
    notebooks: Vec<String>,
}

fn main() {
    // Before anything else: evcxr runs this binary again as its child process.
    evcxr::runtime_hook();
    let args = <Args as clap::Parser>::parse();
    if args.quick {
        std::env::set_var("AUTOENCODERS_QUICK", "1");
    }
    // Absolute before the first run: running a notebook enters its folder.
    let paths: Vec<PathBuf> = notebooks(&args.notebooks)
        .into_iter()
        .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
        .collect();
    if paths.is_empty() {
        eprintln!("grade: no notebooks found in {:?}", args.notebooks);
        std::process::exit(2);
    }
    let root = autoencoders_tools::repo_root();
    let tmp = root.join("target").join("evcxr-notebooks");
    let _ = std::fs::create_dir_all(&tmp);
    std::env::set_var("EVCXR_TMPDIR", &tmp);
    let opts = Options {
        timeout: Duration::from_secs(3600),
        substitutes: Vec::new(),
        crate_path: Some(root.clone()),
    };
    let mut all_ok = true;
    println!("| notebook | check | result | measured | expected |");
    println!("|---|---|---|---|---|");
    for path in &paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let run = run_notebook(&root, path, &opts);
        let rows: Vec<Row> = run.stdout.iter().filter_map(|l| parse(l)).collect();
        let quick = std::env::var("AUTOENCODERS_QUICK").is_ok_and(|v| v == "1");
        for r in &rows {
            // Graded at full budget, a check that ran on quick-mode thresholds
            // (a notebook that set AUTOENCODERS_QUICK itself) does not count.
            let passed = r.passed && (quick || !r.expected.contains("quick-mode threshold"));
            all_ok &= passed;
            let result = if passed {
                "passed"
            } else if r.passed {
                "FAILED (quick-mode threshold)"
            } else {
                "FAILED"
            };
            println!("| {name} | {} | {result} | {} | {} |", r.name, r.measured, r.expected);
        }
        match &run.failure {
            None if !rows.is_empty() => println!(
                "| {name} | ran to the end | passed | {} code cells | every cell |",
                run.cells_run
            ),
            None => {
                all_ok = false;
                println!("| {name} | checks found | FAILED | none | the exercise's check cells |");
            }
            Some(f) => {
                all_ok = false;
                // The line that says what went wrong, not the runner's note.
                let lines: Vec<&str> = f.error.lines().filter(|l| !l.trim().is_empty()).collect();
                let telling = |l: &&&str| {
                    let l = l.trim_start().to_lowercase();
                    l.contains("not yet implemented") || l.starts_with("error") || l.contains("check failed")
                };
                let first = lines
                    .iter()
                    .find(telling)
                    .or(lines.first())
                    .copied()
                    .unwrap_or("")
                    .replace('|', "/");
                println!(
                    "| {name} | ran to the end | FAILED | stopped at cell {}: {first} | every cell |",
                    f.cell
                );
                eprintln!("{}", report(&root, &run));
            }
        }
    }
    std::process::exit(if all_ok { 0 } else { 1 });
}
