//! The crate's one error type. Every message names the bad value and, where
//! there is one, the fix; the variant says what kind of problem it is, so a
//! caller can act on it (`Error::OutOfRange`, `Error::NotFound`, …).

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

    /// Writing a file failed part way (a full disk, a folder that cannot be
    /// written); the file that was there before is unchanged.
    #[error("{path} was not written: {source}; the file that was there before (if any) is unchanged. Free some space, or save to a folder you can write to")]
    WriteFailed {
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

    /// A number or setting outside what is allowed (a size of 0, a rate,
    /// a quantile outside [0, 1], more images than a tensor holds); the
    /// message names the value and what is allowed.
    #[error("{0}")]
    OutOfRange(String),

    /// Nothing to work on: no samples, no images, a selection that would be
    /// empty.
    #[error("{0}")]
    Empty(String),

    /// Values that are not finite numbers (NaN, infinities), usually from a
    /// model whose training diverged; the message says where.
    #[error("{0}")]
    NotFinite(String),

    /// Two inputs that must agree do not: inputs and targets of different
    /// counts, labels per image, shapes, devices.
    #[error("{0}")]
    Disagree(String),

    /// A name that is not there: a weight, shipped weights, a pinned file.
    #[error("{0}")]
    NotFound(String),

    /// A file that is not what it should be (not a weights file, not a
    /// checkpoint of this course, a corrupt data file).
    #[error("{0}")]
    BadFile(String),

    /// A request that cannot be carried out as things are: an optimiser
    /// from an earlier notebook cell, a checkpoint of other settings, Adam's
    /// state on a GPU.
    #[error("{0}")]
    Refused(String),

    /// A loop stopped by Jupyter's stop button (see `runtime::stop`); the
    /// models and their training are intact.
    #[error("{0}")]
    Stopped(String),

    /// Another bad argument; the message says which and what is allowed.
    #[error("{0}")]
    InvalidArgument(String),

    /// Drawing a figure failed.
    #[error("plot: {what}: {source}")]
    Plot {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A linfa algorithm (PCA, t-SNE) failed.
    #[error("linfa: {what}: {source}")]
    Linfa {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
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

    pub(crate) fn out_of_range(msg: impl Into<String>) -> Self {
        Error::OutOfRange(msg.into())
    }

    pub(crate) fn empty(msg: impl Into<String>) -> Self {
        Error::Empty(msg.into())
    }

    pub(crate) fn not_finite(msg: impl Into<String>) -> Self {
        Error::NotFinite(msg.into())
    }

    pub(crate) fn disagree(msg: impl Into<String>) -> Self {
        Error::Disagree(msg.into())
    }

    pub(crate) fn not_found(msg: impl Into<String>) -> Self {
        Error::NotFound(msg.into())
    }

    pub(crate) fn bad_file(msg: impl Into<String>) -> Self {
        Error::BadFile(msg.into())
    }

    pub(crate) fn refused(msg: impl Into<String>) -> Self {
        Error::Refused(msg.into())
    }

    /// A plotters failure while drawing `what`, its error kept as the source.
    pub(crate) fn plot(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Plot {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// A linfa failure in `what`, its error kept as the source.
    pub(crate) fn linfa(what: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Linfa {
            what: what.into(),
            source: Box::new(source),
        }
    }

    pub(crate) fn shape(what: impl Into<String>, expected: impl Into<String>, got: &[usize]) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.into(),
            got: got.to_vec(),
        }
    }
}
