//! Weights trained at full budget, shipped in the repository's `weights/`
//! folder, so that a class can look at the results of the long trainings
//! (lesson 1's 20-epoch deep model, lesson 3's convolutional models,
//! lesson 4's denoiser, lesson 6's 200 epochs) without waiting for them.
//!
//! `course-bench --models seed000,conv,upconv,denoise,generate --save-weights weights`
//! trains them and writes, per model, `<name>.safetensors` (the weights),
//! `<name>.json` (the `History` of that run, the command, the machine) and
//! a line of `weights/SHA256SUMS`, which is compiled into the crate: a
//! file that changed afterwards is refused by name.
//!
//! In a notebook, one line replaces `fit`:
//!
//! ```no_run
//! # use autoencoders::prelude::*;
//! # fn main() -> autoencoders::Result<()> {
//! let conv = ConvAutoencoder::default().build(&Device::Cpu)?;
//! let history = pretrained(&conv, "conv")?; // instead of fit(&conv, …)
//! history.plot()?;
//! # Ok(()) }
//! ```

use super::History;
use crate::error::{Error, Result};
use crate::io::{pinned_in, sha256_hex, write_atomic};
use crate::nn::Model;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// `weights/SHA256SUMS` as the crate was built: `<hex sum>  <file>` per line.
const SUMS: &str = include_str!("../../weights/SHA256SUMS");

/// The repository's `weights/` folder.
pub fn weights_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("weights")
}

/// The shipped models' names, in the order of `weights/SHA256SUMS`.
pub fn pretrained_names() -> Vec<&'static str> {
    SUMS.lines()
        .filter_map(|l| l.split_whitespace().nth(1)?.strip_suffix(".safetensors"))
        .collect()
}

/// Reads `dir/file` and checks it against the sum the crate was built with.
fn read_checked(dir: &Path, file: &str) -> Result<Vec<u8>> {
    let path = dir.join(file);
    let expected = pinned_in(SUMS, file).ok_or_else(|| {
        Error::not_found(format!(
            "weights/SHA256SUMS pins no file {file}; the shipped models are {:?}",
            pretrained_names()
        ))
    })?;
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    let found = sha256_hex(&bytes);
    if found != expected {
        return Err(Error::WeightsChecksum {
            path,
            expected: expected.to_string(),
            found,
        });
    }
    Ok(bytes)
}

/// Loads the shipped weights of model `name` (see [`pretrained_names`])
/// into `model` and returns the [`History`] of the run that trained them.
/// The model must have the architecture they were trained with: a file of
/// another one is refused before any weight is written.
pub fn pretrained(model: &impl Model, name: &str) -> Result<History> {
    pretrained_in(weights_dir(), model, name)
}

/// [`pretrained`] from another folder (a copy of `weights/`); the files are
/// still checked against the sums compiled into the crate.
pub fn pretrained_in(dir: impl AsRef<Path>, model: &impl Model, name: &str) -> Result<History> {
    let dir = dir.as_ref();
    if !pretrained_names().contains(&name) {
        return Err(Error::not_found(format!(
            "pretrained: no shipped weights named {name:?}; choose one of {:?}",
            pretrained_names()
        )));
    }
    let record = read_checked(dir, &format!("{name}.json"))?;
    let file = format!("{name}.safetensors");
    let weights = read_checked(dir, &file)?;
    let unreadable = || {
        Error::bad_file(format!(
            "{}: not a record written by course-bench",
            dir.join(name).display()
        ))
    };
    let record: Value = serde_json::from_slice(&record).map_err(|_| unreadable())?;
    let history: History = record
        .get("history")
        .and_then(|h| serde_json::from_value(h.clone()).ok())
        .ok_or_else(unreadable)?;
    model.load_bytes(&weights, &dir.join(&file).display().to_string())?;
    Ok(history)
}

/// Writes `model`'s weights and the record of its training (`history`,
/// `command`, `machine`) as `dir/<name>.safetensors` and `dir/<name>.json`,
/// and puts their sums into `dir/SHA256SUMS` (replacing older lines of that
/// name); every file is written atomically. Rebuild the crate afterwards
/// so that it checks against the new sums.
pub fn save_pretrained(
    dir: impl AsRef<Path>,
    model: &impl Model,
    name: &str,
    history: &History,
    command: &str,
    machine: &str,
) -> Result<()> {
    let dir = dir.as_ref();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(Error::invalid(format!(
            "save_pretrained: name {name:?} must be letters, digits, '-' or '_'"
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let weights = format!("{name}.safetensors");
    model.save(dir.join(&weights))?;
    let record = json!({
        "model": name,
        "parameters": model.param_count(),
        "command": command,
        "machine": machine,
        "history": serde_json::to_value(history).unwrap_or(serde_json::Value::Null),
    });
    let record_file = format!("{name}.json");
    let text = serde_json::to_string_pretty(&record).map_err(|e| Error::invalid(e.to_string()))?;
    write_atomic(dir.join(&record_file), text.as_bytes())?;
    let sums_path = dir.join("SHA256SUMS");
    let old = std::fs::read_to_string(&sums_path).unwrap_or_default();
    let mut lines: Vec<String> = old
        .lines()
        .filter(|l| {
            let file = l.split_whitespace().nth(1).unwrap_or("");
            file != weights && file != record_file
        })
        .map(str::to_string)
        .collect();
    for file in [&weights, &record_file] {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        lines.push(format!("{}  {file}", sha256_hex(&bytes)));
    }
    write_atomic(&sums_path, (lines.join("\n") + "\n").as_bytes())
}
