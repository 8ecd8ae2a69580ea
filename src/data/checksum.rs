//! The data files checked against the SHA-256 sums this repository pins
//! (`data/SHA256SUMS`, compiled in), each time the course loads them: a file
//! whose bytes changed after it was fetched (bit rot, an edit, a partial
//! copy) is an error naming it and the fix, not silently different data.
//! Hashing costs little beside reading (see the README's table of bad inputs
//! for the measured cost).

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::Path;

/// `data/SHA256SUMS`: `<hex sum> <set>/<file>` per line.
const SUMS: &str = include_str!("../../data/SHA256SUMS");

/// The pinned sum of `set/file`, if the repository pins one.
pub fn pinned(set_and_file: &str) -> Option<&'static str> {
    pinned_in(SUMS, set_and_file)
}

/// The sum a `SHA256SUMS` text (`<hex sum>  <name>` per line) pins for `name`.
pub(crate) fn pinned_in<'a>(sums: &'a str, name: &str) -> Option<&'a str> {
    sums.lines().find_map(|line| {
        let (sum, file) = line.split_once(char::is_whitespace)?;
        (file.trim() == name).then_some(sum)
    })
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `bytes`, read from `path` (`…/mnist/train-images-idx3-ubyte`),
/// against the pinned sum of its set and name; a file with no pinned sum
/// is an error too, since the course only loads pinned files this way.
pub fn verify(path: &Path, bytes: &[u8]) -> Result<()> {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    let set = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|s| s.to_str())
        .unwrap_or("");
    let key = format!("{set}/{file}");
    let Some(expected) = pinned(&key) else {
        return Err(Error::invalid(format!(
            "{}: data/SHA256SUMS pins no file {key}; the course data lives in data/mnist and data/fashion-mnist (use Dataset::load for other folders)",
            path.display()
        )));
    };
    let found = sha256_hex(bytes);
    if found != expected {
        return Err(Error::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_string(),
            found,
        });
    }
    Ok(())
}
