//! The crate's one error type. Every message names the bad value and, where
//! there is one, the fix.

use std::path::PathBuf;

/// Everything that can go wrong in the course's support crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor operation failed inside candle.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The data files are not where the loader looks.
    #[error("{dataset} files not found in {dir}: missing {missing}. Fetch them with `scripts/fetch-data.sh` (from the repository root), or point AUTOENCODERS_DATA at a folder holding mnist/ and fashion-mnist/")]
    DataMissing {
        dataset: String,
        dir: PathBuf,
        missing: String,
    },

    /// An IDX file does not start with the magic number of its kind.
    #[error("{path}: not an IDX {kind} file (magic number {found:#010x}, expected {expected:#010x}); the file is corrupt or of another kind: run `scripts/fetch-data.sh` to fetch it again")]
    BadMagic {
        path: PathBuf,
        kind: &'static str,
        expected: u32,
        found: u32,
    },

    /// An IDX file is shorter or longer than its header says.
    #[error("{path}: {found} bytes, but its header announces {expected}; the file is truncated or corrupt: run `scripts/fetch-data.sh` to fetch it again")]
    BadLength { path: PathBuf, expected: u64, found: u64 },

    /// A data file's bytes differ from the SHA-256 sum the repository pins.
    #[error("{path}: its SHA-256 is {found}, but data/SHA256SUMS pins {expected}: the file changed after it was fetched (disk error, edit or partial copy). Run `scripts/fetch-data.sh` to fetch it again")]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// A shipped weights file differs from the sum `weights/SHA256SUMS` pinned
    /// when the crate was built.
    #[error("{path}: its SHA-256 is {found}, but weights/SHA256SUMS pins {expected}: the file changed since the crate was built. Restore it (`git checkout -- weights/`), or if you retrained it with `course-bench --save-weights weights`, rebuild the crate so that it reads the new sums")]
    WeightsChecksum {
        path: PathBuf,
        expected: String,
        found: String,
    },

    /// Images and labels of one split do not pair up.
    #[error("{split} split: {images} images but {labels} labels; the files come from different data sets: run `scripts/fetch-data.sh`")]
    CountMismatch {
        split: &'static str,
        images: usize,
        labels: usize,
    },

    /// A tensor has the wrong shape for what was asked of it.
    #[error("{what}: expected shape {expected}, got {got:?}")]
    Shape {
        what: String,
        expected: String,
        got: Vec<usize>,
    },

    /// Training diverged: the loss became NaN or infinite. The weights were
    /// put back to the start of that epoch.
    #[error("fit: {what}; the weights are back to where they were at the start of that epoch, so the model still works. Lower the learning rate (it is {lr}; try {suggest}) and check the inputs for NaN")]
    Diverged { what: String, lr: f64, suggest: f64 },

    /// A layer cannot take the input shape it receives (found when the model
    /// is built, before any training).
    #[error("layer {layer}: it receives {input}, but it needs {needs}")]
    LayerShape {
        layer: String,
        input: String,
        needs: String,
    },

    /// Two parts of a model do not fit together (an encoder and a decoder,
    /// saved weights and a model).
    #[error("{what}: {left} does not fit {right}; {fix}")]
    Mismatch {
        what: String,
        left: String,
        right: String,
        fix: String,
    },

    /// An exercise check found criteria that are not met.
    #[error("check failed: {check}:\n{failed}")]
    CheckFailed { check: String, failed: String },

    /// An argument is out of range; the message says which and what is allowed.
    #[error("{0}")]
    InvalidArgument(String),

    /// Drawing a figure failed.
    #[error("plot: {0}")]
    Plot(String),

    /// A linfa algorithm (PCA, t-SNE) failed.
    #[error("linfa: {0}")]
    Linfa(String),
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn shape(what: impl Into<String>, expected: impl Into<String>, got: &[usize]) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.into(),
            got: got.to_vec(),
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder,
/// then a rename, so a reader never sees half a file and an existing file is
/// only replaced by a complete one.
pub fn write_atomic(path: impl AsRef<std::path::Path>, bytes: &[u8]) -> Result<()> {
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
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}
