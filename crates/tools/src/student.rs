//! The student version of a solution notebook, made as nbgrader's
//! `generate_assignment` makes it: every region between a line holding
//! `BEGIN SOLUTION` and one holding `END SOLUTION` becomes the Rust stub
//! [`CODE_STUB`] at the region's indentation (nbgrader's `ClearSolutions`
//! with `code_stub = {"rust": "todo!()"}`), outputs and execution counts are
//! cleared, and the `:dep` path is rewritten for the folder above
//! (`exercises/solutions/` → `exercises/`). The line above a region says what
//! the student decides there (`// TODO: …`), and stays.

/// Opens a solution region (nbgrader's `begin_solution_delimeter`).
pub const SOLUTION_START: &str = "BEGIN SOLUTION";
/// Closes a solution region.
pub const SOLUTION_END: &str = "END SOLUTION";
/// What a region becomes in the student's notebook; running it stops the
/// cell with `not yet implemented`.
pub const CODE_STUB: &str = "todo!()";

/// The source of a code cell with its solution regions replaced by the stub.
fn cleared(src: &str, cell: usize) -> Result<String, String> {
    let mut out = Vec::new();
    let mut open = false;
    for line in src.split('\n') {
        if line.contains(SOLUTION_START) {
            if open {
                return Err(format!("cell {cell}: a solution region opens inside another"));
            }
            open = true;
            let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
            out.push(format!("{indent}{CODE_STUB}"));
        } else if line.contains(SOLUTION_END) {
            if !open {
                return Err(format!(
                    "cell {cell}: `{SOLUTION_END}` without an opening `{SOLUTION_START}`"
                ));
            }
            open = false;
        } else if !open {
            out.push(line.replace("path = \"../..\"", "path = \"..\""));
        }
    }
    if open {
        return Err(format!(
            "cell {cell}: a solution region is never closed with `{SOLUTION_END}`"
        ));
    }
    Ok(out.join("\n"))
}

/// The student version of a solution notebook (its JSON text); see the
/// module's docs. A region should sit where an expression of a known type is
/// expected, e.g. `let model: Autoencoder = { … };`, so that the student's
/// cell compiles and stops at the stub when run.
pub fn student_version(solution_json: &str) -> Result<String, String> {
    let mut nb: serde_json::Value =
        serde_json::from_str(solution_json).map_err(|e| format!("solution notebook is not valid JSON: {e}"))?;
    let cells = nb["cells"]
        .as_array_mut()
        .ok_or_else(|| "solution notebook has no \"cells\" list".to_string())?;
    for (i, cell) in cells.iter_mut().enumerate() {
        if cell["cell_type"] != "code" {
            continue;
        }
        let src: String = match &cell["source"] {
            serde_json::Value::Array(l) => l.iter().filter_map(|x| x.as_str()).collect(),
            serde_json::Value::String(s) => s.clone(),
            _ => String::new(),
        };
        let out = cleared(&src, i + 1)?;
        let lines: Vec<serde_json::Value> = out
            .split_inclusive('\n')
            .map(|l| serde_json::Value::String(l.to_string()))
            .collect();
        cell["source"] = serde_json::Value::Array(lines);
        cell["outputs"] = serde_json::json!([]);
        cell["execution_count"] = serde_json::Value::Null;
        if let Some(meta) = cell["metadata"].as_object_mut() {
            meta.remove("autoencoders");
        }
    }
    if let Some(meta) = nb["metadata"].as_object_mut() {
        meta.remove("autoencoders");
    }
    let mut text = serde_json::to_string_pretty(&nb).map_err(|e| e.to_string())?;
    text.push('\n');
    Ok(text)
}
