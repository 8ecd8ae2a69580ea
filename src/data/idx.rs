//! The IDX reader shared by MNIST and Fashion-MNIST: magic number, counts,
//! then bytes. Every way a file can be wrong is an error naming the file
//! and the fix. The parsers work on bytes already read, so a header that
//! lies about its counts never makes them allocate: the only buffer is the
//! file itself (`tests/idx_fuzz.rs` throws random and mutated files at them).

use super::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::error::{Error, Result};
use std::path::Path;

/// Images and labels read from one pair of IDX files.
pub(super) struct Split {
    pub(super) pixels: Vec<u8>,
    pub(super) labels: Vec<u8>,
}

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// The pixels of an IDX image file's bytes: magic 0x803, count, rows, cols,
/// then one byte per pixel. `path` names the file in errors.
pub fn parse_idx_images<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8]> {
    check_header(path, bytes, "images", IMAGES_MAGIC, 16)?;
    let (n, rows, cols) = (
        be_u32(bytes, 4) as u64,
        be_u32(bytes, 8) as u64,
        be_u32(bytes, 12) as u64,
    );
    if rows as usize != IMAGE_SIDE || cols as usize != IMAGE_SIDE {
        return Err(Error::bad_file(format!(
            "{}: images are {rows}×{cols}, the course expects 28×28; the file is corrupt or of another data set: run `scripts/fetch-data.sh`",
            path.display()
        )));
    }
    check_length(path, bytes, 16 + n * rows * cols)?;
    Ok(&bytes[16..])
}

/// The labels of an IDX label file's bytes: magic 0x801, count, then one
/// byte per label, each in `0..=9`.
pub fn parse_idx_labels<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8]> {
    check_header(path, bytes, "labels", LABELS_MAGIC, 8)?;
    let n = be_u32(bytes, 4) as u64;
    check_length(path, bytes, 8 + n)?;
    if let Some(bad) = bytes[8..].iter().find(|&&b| b > 9) {
        return Err(Error::bad_file(format!(
            "{}: label {bad} is out of range 0..=9; the file is corrupt: run `scripts/fetch-data.sh`",
            path.display()
        )));
    }
    Ok(&bytes[8..])
}

fn check_header(path: &Path, bytes: &[u8], kind: &'static str, magic: u32, header: usize) -> Result<()> {
    if bytes.len() < header {
        return Err(Error::BadLength {
            path: path.to_path_buf(),
            expected: header as u64,
            found: bytes.len() as u64,
        });
    }
    let found = be_u32(bytes, 0);
    if found != magic {
        return Err(Error::BadMagic {
            path: path.to_path_buf(),
            kind,
            expected: magic,
            found,
        });
    }
    Ok(())
}

fn check_length(path: &Path, bytes: &[u8], expected: u64) -> Result<()> {
    if bytes.len() as u64 != expected {
        return Err(Error::BadLength {
            path: path.to_path_buf(),
            expected,
            found: bytes.len() as u64,
        });
    }
    Ok(())
}

/// Reads a file whole; with `verify`, checks it against the checksum the
/// repository pins for it (see [`crate::io`]).
fn read(path: &Path, verify: bool) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if verify {
        crate::io::verify_data(path, &bytes)?;
    }
    Ok(bytes)
}

/// Reads and checks one split's image and label files.
pub(super) fn read_split(split: &'static str, images: &Path, labels: &Path, verify: bool) -> Result<Split> {
    let image_bytes = read(images, verify)?;
    let label_bytes = read(labels, verify)?;
    let pixels = parse_idx_images(images, &image_bytes)?;
    let labels = parse_idx_labels(labels, &label_bytes)?;
    let n_images = pixels.len() / IMAGE_PIXELS;
    if n_images != labels.len() {
        return Err(Error::CountMismatch {
            split,
            images: n_images,
            labels: labels.len(),
        });
    }
    Ok(Split {
        pixels: pixels.to_vec(),
        labels: labels.to_vec(),
    })
}

/// Reads one IDX pair without building tensors: `(pixels, labels)`.
/// Used by the tests that compare this reader with the `mnist` crate's.
pub fn read_idx_pair(images: &Path, labels: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let s = read_split("train", images, labels, false)?;
    Ok((s.pixels, s.labels))
}
