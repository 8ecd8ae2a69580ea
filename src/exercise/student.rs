//! The student version of a solution notebook: each solution region
//! becomes `todo!("hint")`.

use crate::error::{Error, Result};

/// Opens a solution region in a solution notebook's code cell; the rest of
/// the line is the hint the student sees.
pub const SOLUTION_START: &str = "// SOLUTION:";
/// Closes a solution region.
pub const SOLUTION_END: &str = "// END SOLUTION";

/// The student version of a solution notebook (its JSON text): every
/// solution region becomes `todo!("hint")` at the region's indentation,
/// outputs are cleared, and `:dep` paths are rewritten for the folder above
/// (`exercises/solutions/` → `exercises/`).
///
/// A region should sit where an expression of a known type is expected, e.g.
/// `let model: Autoencoder = { // SOLUTION: … // END SOLUTION };`, so that the
/// student's cell compiles and stops with the hint when run.
pub fn student_version(solution_json: &str) -> Result<String> {
    let mut nb: serde_json::Value = serde_json::from_str(solution_json)
        .map_err(|e| Error::invalid(format!("solution notebook is not valid JSON: {e}")))?;
    let cells = nb["cells"]
        .as_array_mut()
        .ok_or_else(|| Error::invalid("solution notebook has no \"cells\" list"))?;
    for (i, cell) in cells.iter_mut().enumerate() {
        if cell["cell_type"] != "code" {
            continue;
        }
        let src: String = match &cell["source"] {
            serde_json::Value::Array(l) => l.iter().filter_map(|x| x.as_str()).collect(),
            serde_json::Value::String(s) => s.clone(),
            _ => String::new(),
        };
        let mut out = String::new();
        let mut open: Option<usize> = None;
        for line in src.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            if let Some(hint) = trimmed.strip_prefix(SOLUTION_START) {
                if open.is_some() {
                    return Err(Error::invalid(format!(
                        "cell {}: a solution region opens inside another",
                        i + 1
                    )));
                }
                open = Some(i);
                // Escaped for a string literal and for `todo!`'s format string.
                let hint = hint
                    .trim()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('{', "{{")
                    .replace('}', "}}");
                out.push_str(&format!("{indent}todo!(\"{hint}\")\n"));
            } else if trimmed.starts_with(SOLUTION_END) {
                if open.take().is_none() {
                    return Err(Error::invalid(format!(
                        "cell {}: `{SOLUTION_END}` without an opening `{SOLUTION_START}`",
                        i + 1
                    )));
                }
            } else if open.is_none() {
                out.push_str(&line.replace("path = \"../..\"", "path = \"..\""));
            }
        }
        if open.is_some() {
            return Err(Error::invalid(format!(
                "cell {}: a solution region is never closed with `{SOLUTION_END}`",
                i + 1
            )));
        }
        let lines: Vec<serde_json::Value> = out
            .trim_end_matches('\n')
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
    let mut text = serde_json::to_string_pretty(&nb).map_err(|e| Error::invalid(e.to_string()))?;
    text.push('\n');
    Ok(text)
}
