//! The student notebooks are generated from the solutions: a committed
//! student notebook that differs from the generator's output fails here.

use autoencoders::exercise::student_version;
use std::path::Path;

#[test]
fn committed_student_notebooks_match_the_generator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("exercises");
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("solutions")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "ipynb") {
            continue;
        }
        let expected = student_version(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let student = root.join(path.file_name().unwrap());
        let committed = std::fs::read_to_string(&student)
            .unwrap_or_else(|_| panic!("{} is missing: run `cargo run --bin make-exercises`", student.display()));
        assert!(
            committed == expected,
            "{} is out of date with its solution: run `cargo run --bin make-exercises`",
            student.display()
        );
        assert!(
            committed.contains("todo!("),
            "{} has no TODO left for the student",
            student.display()
        );
        checked += 1;
    }
    assert!(checked >= 2, "expected at least two exercises, found {checked}");
}

#[test]
fn regions_become_todos_with_their_hints() {
    let nb = serde_json::json!({
        "cells": [
            {"cell_type": "code", "metadata": {}, "outputs": [{"output_type": "stream"}], "execution_count": 3,
             "source": [":dep autoencoders = { path = \"../..\" }\n"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": null,
             "source": ["let x: u32 = {\n", "    // SOLUTION: add \"two\" numbers\n", "    1 + 1\n", "    // END SOLUTION\n", "};"]}
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
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
    assert_eq!(src(0), ":dep autoencoders = { path = \"..\" }");
    assert_eq!(src(1), "let x: u32 = {\n    todo!(\"add \\\"two\\\" numbers\")\n};");
    assert_eq!(out["cells"][0]["outputs"], serde_json::json!([]));
    // An unclosed region is an error, not a silently truncated cell.
    let bad = nb.to_string().replace("    // END SOLUTION\\n", "");
    assert!(student_version(&bad).unwrap_err().to_string().contains("never closed"));
}
