//! The crate's file input and output: atomic writes (every file the course
//! writes: weights, checkpoints, figures, records) and the SHA-256 sums
//! the repository pins for its data (`data/SHA256SUMS`) and shipped weights
//! (`weights/SHA256SUMS`), checked each time the course loads a file: a file
//! whose bytes changed after it was fetched (bit rot, an edit, a partial
//! copy) is an error naming it and the fix, not silently different data.

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// then a rename, so a reader never sees half a file and an existing file is
/// only replaced by a complete one.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid(format!("cannot write to {}: it names no file", path.display())))?;
    let tmp = dir.join(format!(".{}.part.{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::WriteFailed {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

/// `data/SHA256SUMS`: `<hex sum> <set>/<file>` per line.
const SUMS: &str = include_str!("../data/SHA256SUMS");

/// The pinned sum of `set/file`, if the repository pins one.
pub fn pinned_data(set_and_file: &str) -> Option<&'static str> {
    pinned_in(SUMS, set_and_file)
}

/// The sum a `SHA256SUMS` text (`<hex sum>  <name>` per line) pins for `name`.
pub fn pinned_in<'a>(sums: &'a str, name: &str) -> Option<&'a str> {
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
pub fn verify_data(path: &Path, bytes: &[u8]) -> Result<()> {
    let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
    let set = path
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|s| s.to_str())
        .unwrap_or("");
    let key = format!("{set}/{file}");
    let Some(expected) = pinned_data(&key) else {
        return Err(Error::not_found(format!(
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
