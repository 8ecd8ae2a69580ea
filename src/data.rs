//! MNIST and Fashion-MNIST, offline: IDX files under `data/`, verified by
//! `scripts/fetch-data.sh`, loaded into tensors of `f32` pixels in `[0, 1]`.
//!
//! Both data sets share one IDX reader. It is ours rather than the `mnist`
//! crate's because that crate panics on a missing or bad file, insists on
//! exactly 60,000/10,000 items and reads labels a byte per system call;
//! `tests/data.rs` checks that both readers return the same bytes.
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`.

use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::path::{Path, PathBuf};

/// Side of an MNIST image, in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels in one flat MNIST image (28 × 28).
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// Fashion-MNIST's ten class names, indexed by label.
pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// MNIST's ten class names (the digits).
pub const DIGIT_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

/// Which data set a [`Dataset`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
}

impl DatasetKind {
    /// The folder under the data directory.
    pub fn folder(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
        }
    }

    /// The ten class names.
    pub fn class_names(self) -> &'static [&'static str; 10] {
        match self {
            DatasetKind::Mnist => &DIGIT_CLASSES,
            DatasetKind::FashionMnist => &FASHION_CLASSES,
        }
    }

    fn title(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
        }
    }
}

/// The data directory: `$AUTOENCODERS_DATA` if set, else `data/` in this
/// repository (found from where the crate was compiled).
pub fn data_dir() -> PathBuf {
    match std::env::var_os("AUTOENCODERS_DATA") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("data"),
    }
}

/// A data set split into train and test images with their labels.
///
/// # Shapes
/// - `train_images`: `(N, 784)` f32 in `[0, 1]`; `test_images`: `(M, 784)`
/// - `train_labels`: `(N,)` u32; `test_labels`: `(M,)` u32
///
/// Use [`Dataset::images_2d`] for the `(N, 1, 28, 28)` layout of the
/// convolutional models.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub kind: DatasetKind,
    pub train_images: Tensor,
    pub train_labels: Tensor,
    pub test_images: Tensor,
    pub test_labels: Tensor,
}

/// Images and labels read from one pair of IDX files.
struct Split {
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

impl Dataset {
    /// MNIST from [`data_dir`]`/mnist`. In quick mode (see [`crate::mode`]) a
    /// small class-balanced subset is taken and a notice printed.
    pub fn mnist() -> Result<Self> {
        Self::load_course(DatasetKind::Mnist)
    }

    /// Fashion-MNIST from [`data_dir`]`/fashion-mnist`; quick mode as for
    /// [`Dataset::mnist`].
    pub fn fashion_mnist() -> Result<Self> {
        Self::load_course(DatasetKind::FashionMnist)
    }

    fn load_course(kind: DatasetKind) -> Result<Self> {
        let full = Self::load(kind, data_dir().join(kind.folder()))?;
        let mode = crate::mode::mode();
        match mode.subset() {
            Some((n_train, n_test)) => {
                println!(
                    "{}: quick mode, first {n_train} train and {n_test} test images of {} and {}",
                    kind.title(),
                    full.train_len(),
                    full.test_len()
                );
                full.subset(n_train, n_test)
            }
            None => Ok(full),
        }
    }

    /// Loads the four IDX files (`train-images-idx3-ubyte`,
    /// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
    /// `t10k-labels-idx1-ubyte`) from `dir`, checking each before use.
    pub fn load(kind: DatasetKind, dir: impl AsRef<Path>) -> Result<Self> {
        crate::device::quiet_candle_pool();
        let dir = dir.as_ref();
        let names = [
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ];
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !dir.join(n).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(Error::DataMissing {
                dataset: kind.title().to_string(),
                dir: dir.to_path_buf(),
                missing: missing.join(", "),
            });
        }
        let train = read_split("train", &dir.join(names[0]), &dir.join(names[1]))?;
        let test = read_split("test", &dir.join(names[2]), &dir.join(names[3]))?;
        Self::from_bytes(kind, train, test)
    }

    fn from_bytes(kind: DatasetKind, train: Split, test: Split) -> Result<Self> {
        let dev = Device::Cpu;
        let to_images = |px: &[u8]| -> Result<Tensor> {
            let n = px.len() / IMAGE_PIXELS;
            let t = Tensor::from_slice(px, (n, IMAGE_PIXELS), &dev)?;
            Ok((t.to_dtype(DType::F32)? / 255.0)?)
        };
        let to_labels = |l: &[u8]| -> Result<Tensor> {
            let l: Vec<u32> = l.iter().map(|&b| b as u32).collect();
            let n = l.len();
            Ok(Tensor::from_vec(l, n, &dev)?)
        };
        Ok(Dataset {
            kind,
            train_images: to_images(&train.pixels)?,
            train_labels: to_labels(&train.labels)?,
            test_images: to_images(&test.pixels)?,
            test_labels: to_labels(&test.labels)?,
        })
    }

    /// Number of training images.
    pub fn train_len(&self) -> usize {
        self.train_images.dim(0).unwrap_or(0)
    }

    /// Number of test images.
    pub fn test_len(&self) -> usize {
        self.test_images.dim(0).unwrap_or(0)
    }

    /// The class names of this data set.
    pub fn class_names(&self) -> &'static [&'static str; 10] {
        self.kind.class_names()
    }

    /// The first `n_train` training and `n_test` test images.
    pub fn subset(&self, n_train: usize, n_test: usize) -> Result<Self> {
        let (nt, ns) = (self.train_len(), self.test_len());
        if n_train == 0 || n_test == 0 {
            return Err(Error::invalid(format!(
                "subset({n_train}, {n_test}): both sizes must be at least 1"
            )));
        }
        let (n_train, n_test) = (n_train.min(nt), n_test.min(ns));
        Ok(Dataset {
            kind: self.kind,
            train_images: self.train_images.narrow(0, 0, n_train)?,
            train_labels: self.train_labels.narrow(0, 0, n_train)?,
            test_images: self.test_images.narrow(0, 0, n_test)?,
            test_labels: self.test_labels.narrow(0, 0, n_test)?,
        })
    }

    /// Only the images whose label is in `classes` (the seeds train on a
    /// single digit: `data.only_classes(&[7])`).
    pub fn only_classes(&self, classes: &[u32]) -> Result<Self> {
        if let Some(bad) = classes.iter().find(|&&c| c > 9) {
            return Err(Error::invalid(format!(
                "only_classes: class {bad} does not exist; labels run from 0 to 9"
            )));
        }
        let pick = |images: &Tensor, labels: &Tensor| -> Result<(Tensor, Tensor)> {
            let l = labels.to_vec1::<u32>()?;
            let idx: Vec<u32> = (0..l.len() as u32)
                .filter(|&i| classes.contains(&l[i as usize]))
                .collect();
            let idx = Tensor::from_vec(idx.clone(), idx.len(), labels.device())?;
            Ok((images.index_select(&idx, 0)?, labels.index_select(&idx, 0)?))
        };
        let (train_images, train_labels) = pick(&self.train_images, &self.train_labels)?;
        let (test_images, test_labels) = pick(&self.test_images, &self.test_labels)?;
        if train_images.dim(0)? == 0 {
            return Err(Error::invalid(format!(
                "only_classes({classes:?}): no training image has these labels"
            )));
        }
        Ok(Dataset {
            kind: self.kind,
            train_images,
            train_labels,
            test_images,
            test_labels,
        })
    }
}

/// Endless shuffled mini-batches of rows, reshuffled after each pass (as
/// `tf.data`'s `repeat().shuffle().batch()`), for hand-written loops.
///
/// # Shapes
/// `xs`: `(N, …)`; each batch `(batch_size, …)` (the last of a pass may be
/// smaller).
pub struct Batcher {
    xs: Tensor,
    batch_size: usize,
    order: Vec<u32>,
    pos: usize,
    rng: rand::rngs::StdRng,
}

impl Batcher {
    /// Batches of `batch_size` rows of `xs`, shuffled with `seed`.
    pub fn new(xs: &Tensor, batch_size: usize, seed: u64) -> Result<Self> {
        use rand::SeedableRng;
        let n = xs.dim(0)?;
        if batch_size == 0 || n == 0 {
            return Err(Error::invalid(format!(
                "Batcher: batch_size {batch_size} and the {n} rows must both be at least 1"
            )));
        }
        let mut b = Batcher {
            xs: xs.clone(),
            batch_size,
            order: (0..n as u32).collect(),
            pos: n,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
        };
        b.pos = b.order.len();
        Ok(b)
    }

    /// The next batch.
    pub fn next_batch(&mut self) -> Result<Tensor> {
        use rand::seq::SliceRandom;
        if self.pos >= self.order.len() {
            self.order.shuffle(&mut self.rng);
            self.pos = 0;
        }
        let len = self.batch_size.min(self.order.len() - self.pos);
        let idx = Tensor::from_slice(&self.order[self.pos..self.pos + len], len, self.xs.device())?;
        self.pos += len;
        Ok(self.xs.index_select(&idx, 0)?)
    }
}

/// Reshapes flat images `(N, 784)` to `(N, 1, 28, 28)` for convolutional
/// models; images already in that layout pass through.
pub fn images_2d(xs: &Tensor) -> Result<Tensor> {
    match xs.dims() {
        [n, p] if *p == IMAGE_PIXELS => Ok(xs.reshape((*n, 1, IMAGE_SIDE, IMAGE_SIDE))?),
        [_, 1, h, w] if *h == IMAGE_SIDE && *w == IMAGE_SIDE => Ok(xs.clone()),
        d => Err(Error::shape("images_2d", "(N, 784) or (N, 1, 28, 28)", d)),
    }
}

/// Flattens `(N, 1, 28, 28)` (or any `(N, …)`) images to `(N, 784)`.
pub fn images_flat(xs: &Tensor) -> Result<Tensor> {
    let n = xs.dim(0)?;
    let per: usize = xs.dims()[1..].iter().product();
    if per != IMAGE_PIXELS {
        return Err(Error::shape("images_flat", "(N, 784) pixels per image", xs.dims()));
    }
    Ok(xs.reshape((n, IMAGE_PIXELS))?)
}

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Reads an IDX image file: magic 0x803, count, rows, cols, then pixels.
fn read_idx_images(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_file(path)?;
    check_header(path, &bytes, "images", IMAGES_MAGIC, 16)?;
    let (n, rows, cols) = (
        be_u32(&bytes, 4) as u64,
        be_u32(&bytes, 8) as u64,
        be_u32(&bytes, 12) as u64,
    );
    if rows as usize != IMAGE_SIDE || cols as usize != IMAGE_SIDE {
        return Err(Error::invalid(format!(
            "{}: images are {rows}×{cols}, the course expects 28×28",
            path.display()
        )));
    }
    check_length(path, &bytes, 16 + n * rows * cols)?;
    Ok(bytes[16..].to_vec())
}

/// Reads an IDX label file: magic 0x801, count, then one byte per label.
fn read_idx_labels(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_file(path)?;
    check_header(path, &bytes, "labels", LABELS_MAGIC, 8)?;
    let n = be_u32(&bytes, 4) as u64;
    check_length(path, &bytes, 8 + n)?;
    if let Some(bad) = bytes[8..].iter().find(|&&b| b > 9) {
        return Err(Error::invalid(format!(
            "{}: label {bad} is out of range 0..=9; the file is corrupt: run `scripts/fetch-data.sh`",
            path.display()
        )));
    }
    Ok(bytes[8..].to_vec())
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

fn read_split(split: &'static str, images: &Path, labels: &Path) -> Result<Split> {
    let pixels = read_idx_images(images)?;
    let labels = read_idx_labels(labels)?;
    let n_images = pixels.len() / IMAGE_PIXELS;
    if n_images != labels.len() {
        return Err(Error::CountMismatch {
            split,
            images: n_images,
            labels: labels.len(),
        });
    }
    Ok(Split { pixels, labels })
}

/// Reads one IDX pair without building tensors: `(pixels, labels)`.
/// Used by the tests that compare this reader with the `mnist` crate's.
pub fn read_idx_pair(images: &Path, labels: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let s = read_split("train", images, labels)?;
    Ok((s.pixels, s.labels))
}
