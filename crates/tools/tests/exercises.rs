//! The student notebooks are generated from the solutions: a committed
//! student notebook that differs from the generator's output fails here.

use autoencoders_tools::student::student_version;
use std::path::PathBuf;

fn exercises_dir() -> PathBuf {
    autoencoders_tools::repo_root().join("exercises")
}

/// The solution notebooks, `exercises/solutions/*.ipynb`.
fn solutions() -> Vec<PathBuf> {
    std::fs::read_dir(exercises_dir().join("solutions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ipynb"))
        .collect()
}

#[test]
fn committed_student_notebooks_match_the_generator() {
    let root = exercises_dir();
    let mut checked = 0;
    for path in solutions() {
        let expected = student_version(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let student = root.join(path.file_name().unwrap());
        let committed = std::fs::read_to_string(&student).unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo run -p autoencoders-tools --bin make-exercises`",
                student.display()
            )
        });
        assert!(
            committed == expected,
            "{} is out of date with its solution: run `cargo run -p autoencoders-tools --bin make-exercises`",
            student.display()
        );
        assert!(
            committed.contains(autoencoders_tools::student::CODE_STUB),
            "{} has no TODO left for the student",
            student.display()
        );
        checked += 1;
    }
    assert!(checked >= 5, "expected the five exercises, found {checked}");
}

#[test]
fn regions_become_the_stub_under_their_todo_line() {
    let nb = serde_json::json!({
        "cells": [
            {"cell_type": "code", "metadata": {}, "outputs": [{"output_type": "stream"}], "execution_count": 3,
             "source": [":dep autoencoders = { path = \"../..\" }\n"]},
            {"cell_type": "code", "metadata": {"autoencoders": {"source_sha256": "x"}}, "outputs": [], "execution_count": 4,
             "source": ["let x: u32 = {\n", "    // TODO: decide two numbers\n", "    // BEGIN SOLUTION\n", "    1 + 1\n", "    // END SOLUTION\n", "};"]}
        ],
        "metadata": {"autoencoders": {"rendered": {}}}, "nbformat": 4, "nbformat_minor": 5
    });
    let out: serde_json::Value = serde_json::from_str(&student_version(&nb.to_string()).unwrap()).unwrap();
    let src = |i: usize| {
        out["cells"][i]["source"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect::<String>()
    };
    assert_eq!(src(0), ":dep autoencoders = { path = \"..\" }\n");
    assert_eq!(
        src(1),
        "let x: u32 = {\n    // TODO: decide two numbers\n    todo!()\n};"
    );
    assert_eq!(out["cells"][0]["outputs"], serde_json::json!([]));
    assert!(out["cells"][1]["execution_count"].is_null());
    assert!(out["cells"][1]["metadata"].get("autoencoders").is_none() && out["metadata"].get("autoencoders").is_none());
    // An unclosed region is an error, not a silently truncated cell.
    let bad = nb.to_string().replace("    // END SOLUTION\\n", "");
    assert!(student_version(&bad).unwrap_err().contains("never closed"));
}

/// The code lines of each solution region (comments, blank lines and lone
/// punctuation aside).
fn solution_lines(solution_json: &str) -> Vec<String> {
    let nb: serde_json::Value = serde_json::from_str(solution_json).unwrap();
    let mut lines = Vec::new();
    for cell in nb["cells"].as_array().unwrap() {
        let src: String = cell["source"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        let mut inside = false;
        for line in src.lines() {
            let t = line.trim();
            if t.contains(autoencoders_tools::student::SOLUTION_START) {
                inside = true;
            } else if t.contains(autoencoders_tools::student::SOLUTION_END) {
                inside = false;
            } else if inside && !t.starts_with("//") && t.chars().filter(|c| c.is_alphanumeric()).count() >= 4 {
                lines.push(t.to_string());
            }
        }
    }
    lines
}

#[test]
fn no_line_of_a_solution_appears_in_its_student_notebook() {
    let root = exercises_dir();
    let mut checked = 0;
    for path in solutions() {
        let lines = solution_lines(&std::fs::read_to_string(&path).unwrap());
        assert!(lines.len() >= 2, "{}: no solution lines found", path.display());
        let student = std::fs::read_to_string(root.join(path.file_name().unwrap())).unwrap();
        // Compare without JSON escaping: the student notebook's cell text.
        let nb: serde_json::Value = serde_json::from_str(&student).unwrap();
        let text: String = nb["cells"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| {
                c["source"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_string())
            })
            .collect();
        for line in &lines {
            assert!(
                !text.contains(line.as_str()),
                "{}: the solution line {line:?} is in the student notebook",
                path.display()
            );
        }
        checked += lines.len();
    }
    assert!(checked > 10, "only {checked} solution lines checked");
}
