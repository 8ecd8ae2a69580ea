//! The committed notebooks: every lesson and exercise solution carries the
//! outputs of a full-budget run of its current code (tools/render_outputs.py
//! renders them), without errors; student notebooks carry none; every
//! notebook is nbformat 4.5 with cell ids; the outputs stay small.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn notebooks_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ipynb"))
        // A hidden notebook is no lesson: scripts/setup-course.sh writes
        // notebooks/.prepare-kernel.ipynb while it prepares the kernel.
        .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    v.sort();
    v
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: not valid JSON: {e}", path.display()))
}

fn source(cell: &Value) -> String {
    match &cell["source"] {
        Value::Array(lines) => lines.iter().filter_map(|l| l.as_str()).collect(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// The hash tools/render_outputs.py stores on each code cell: sha256 of the
/// previous code cell's hash, a newline and the cell's source.
fn chain_hashes(nb: &Value) -> Vec<Option<String>> {
    let mut prev = String::new();
    nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cell| {
            (cell["cell_type"] == "code").then(|| {
                prev = format!("{:x}", Sha256::digest(format!("{prev}\n{}", source(cell)).as_bytes()));
                prev.clone()
            })
        })
        .collect()
}

/// Problems of one rendered notebook, each naming the cell.
fn rendered_problems(nb: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if nb["metadata"]["autoencoders"]["rendered"]["mode"] != "full" {
        problems.push("not rendered at full budget (metadata.autoencoders.rendered.mode is not \"full\")".into());
    }
    let hashes = chain_hashes(nb);
    for (i, cell) in nb["cells"].as_array().unwrap().iter().enumerate() {
        let Some(hash) = &hashes[i] else { continue };
        let stored = cell["metadata"]["autoencoders"]["source_sha256"].as_str();
        if stored != Some(hash.as_str()) {
            problems.push(format!(
                "cell {i}: its outputs are not from its current source (or a code cell before it changed)"
            ));
            break;
        }
        if cell["execution_count"].is_null() {
            problems.push(format!("cell {i}: never ran"));
        }
        for out in cell["outputs"].as_array().into_iter().flatten() {
            let text = source(&serde_json::json!({"source": out["text"]}));
            if out["output_type"] == "error" || out["name"] == "stderr" || text.lines().any(|l| l.starts_with("Error:"))
            {
                problems.push(format!("cell {i}: an error in its outputs"));
            }
            if out["data"].get("image/svg+xml").is_some() {
                problems.push(format!("cell {i}: an SVG in the committed outputs (keep the PNG only)"));
            }
        }
    }
    problems
}

fn format_problems(path: &Path, nb: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if nb["nbformat"] != 4 || nb["nbformat_minor"] != 5 {
        problems.push(format!("{}: not nbformat 4.5", path.display()));
    }
    for (i, cell) in nb["cells"].as_array().unwrap().iter().enumerate() {
        let id = cell["id"].as_str().unwrap_or("");
        let valid =
            !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            problems.push(format!("{}: cell {i} has no valid id", path.display()));
        }
    }
    problems
}

#[test]
fn lessons_and_solutions_carry_outputs_of_their_current_code() {
    let mut paths = notebooks_in(&root().join("notebooks"));
    paths.extend(notebooks_in(&root().join("exercises/solutions")));
    assert!(
        paths.len() >= 15,
        "expected the lessons and solutions, found {}",
        paths.len()
    );
    let mut problems = Vec::new();
    for path in &paths {
        let nb = read(path);
        problems.extend(format_problems(path, &nb));
        problems.extend(
            rendered_problems(&nb)
                .into_iter()
                .map(|p| format!("{}: {p}", path.display())),
        );
    }
    assert!(
        problems.is_empty(),
        "{}\nrender them again: .venv/bin/python tools/render_outputs.py NOTEBOOK…",
        problems.join("\n")
    );
}

#[test]
fn student_notebooks_carry_no_outputs() {
    let paths = notebooks_in(&root().join("exercises"));
    assert!(!paths.is_empty());
    for path in &paths {
        let nb = read(path);
        let problems = format_problems(path, &nb);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        for (i, cell) in nb["cells"].as_array().unwrap().iter().enumerate() {
            if cell["cell_type"] == "code" {
                let empty =
                    cell["outputs"].as_array().is_some_and(|o| o.is_empty()) && cell["execution_count"].is_null();
                assert!(
                    empty,
                    "{}: cell {i} has outputs (a student notebook must not show a solution's results)",
                    path.display()
                );
            }
        }
        assert!(
            nb["metadata"].get("autoencoders").is_none(),
            "{}: carries a render record",
            path.display()
        );
    }
}

#[test]
fn committed_outputs_stay_under_10_mb() {
    let mut total = 0;
    for dir in ["notebooks", "exercises/solutions"] {
        for path in notebooks_in(&root().join(dir)) {
            let nb = read(&path);
            for cell in nb["cells"].as_array().unwrap() {
                total += cell["outputs"].to_string().len();
            }
        }
    }
    assert!(
        total < 10_000_000,
        "the committed outputs weigh {total} bytes; keep them under 10 MB"
    );
}

#[test]
fn the_staleness_check_catches_an_edited_cell() {
    let nb = serde_json::json!({"cells": [
        {"cell_type": "markdown", "id": "a", "source": ["text"]},
        {"cell_type": "code", "id": "b", "source": ["let x = 1;"], "metadata": {}, "outputs": [], "execution_count": 1},
        {"cell_type": "code", "id": "c", "source": ["x + 1"], "metadata": {}, "outputs": [], "execution_count": 2},
    ], "metadata": {"autoencoders": {"rendered": {"mode": "full"}}}, "nbformat": 4, "nbformat_minor": 5});
    let mut stamped = nb.clone();
    for (i, h) in chain_hashes(&nb).into_iter().enumerate() {
        if let Some(h) = h {
            stamped["cells"][i]["metadata"] = serde_json::json!({"autoencoders": {"source_sha256": h}});
        }
    }
    assert!(
        rendered_problems(&stamped).is_empty(),
        "{:?}",
        rendered_problems(&stamped)
    );
    // The first code cell edited: the second's outputs are stale too.
    let mut edited = stamped.clone();
    edited["cells"][1]["source"] = serde_json::json!(["let x = 2;"]);
    assert!(rendered_problems(&edited)[0].starts_with("cell 1:"));
    // Markdown edits keep the outputs valid.
    let mut prose = stamped.clone();
    prose["cells"][0]["source"] = serde_json::json!(["other text"]);
    assert!(rendered_problems(&prose).is_empty());
    // An error output, and a quick-mode render, are refused.
    let mut failed = stamped.clone();
    failed["cells"][2]["outputs"] =
        serde_json::json!([{"output_type": "stream", "name": "stdout", "text": ["Error: boom\n"]}]);
    assert!(rendered_problems(&failed).iter().any(|p| p.contains("an error")));
    let mut quick = stamped;
    quick["metadata"]["autoencoders"]["rendered"]["mode"] = serde_json::json!("quick");
    assert!(rendered_problems(&quick).iter().any(|p| p.contains("full budget")));
}
