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

mod batcher;
mod idx;
pub mod noise;

pub(crate) use batcher::{batch_spans, BatchOrder};
pub use batcher::{images_2d, images_flat, Batcher};
pub use idx::{parse_idx_images, parse_idx_labels, read_idx_pair};
use idx::{read_split, Split};
pub use noise::{add_gaussian_noise, GaussianNoise};

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
    crate::runtime::settings().data_dir.clone()
}

/// A data set split into train and test images with their labels.
///
/// # Shapes
/// - `train_images`: `(N, 784)` f32 in `[0, 1]`; `test_images`: `(M, 784)`
/// - `train_labels`: `(N,)` u32; `test_labels`: `(M,)` u32
///
/// Use [`images_2d`] for the `(N, 1, 28, 28)` layout of the
/// convolutional models.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub kind: DatasetKind,
    pub train_images: Tensor,
    pub train_labels: Tensor,
    pub test_images: Tensor,
    pub test_labels: Tensor,
    /// The full set's sizes when quick mode loaded a part of it.
    quick_from: Option<(usize, usize)>,
}

impl Dataset {
    /// MNIST from [`data_dir`]`/mnist`. In quick mode (see [`crate::runtime::mode`]) a
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
        let full = Self::load_checked(kind, data_dir().join(kind.folder()))?;
        let mode = crate::runtime::mode();
        match mode.subset() {
            Some((n_train, n_test)) => {
                println!(
                    "{}: quick mode, first {n_train} train and {n_test} test images of {} and {}",
                    kind.title(),
                    full.train_len(),
                    full.test_len()
                );
                let mut part = full.subset(n_train.min(full.train_len()), n_test.min(full.test_len()))?;
                part.quick_from = Some((full.train_len(), full.test_len()));
                Ok(part)
            }
            None => Ok(full),
        }
    }

    /// Loads the four IDX files (`train-images-idx3-ubyte`,
    /// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
    /// `t10k-labels-idx1-ubyte`) from any folder `dir`, checking each file's
    /// format before use. [`Dataset::mnist`] and [`Dataset::fashion_mnist`]
    /// also check the course's files against their pinned SHA-256 sums.
    pub fn load(kind: DatasetKind, dir: impl AsRef<Path>) -> Result<Self> {
        Self::read(kind, dir.as_ref(), false)
    }

    /// [`Dataset::load`] with every file also checked against the SHA-256
    /// sum the repository pins for it (`data/SHA256SUMS`), as the course's
    /// own loaders do: `dir` is a folder `mnist` or `fashion-mnist`.
    pub fn load_checked(kind: DatasetKind, dir: impl AsRef<Path>) -> Result<Self> {
        Self::read(kind, dir.as_ref(), true)
    }

    fn read(kind: DatasetKind, dir: &Path, verify: bool) -> Result<Self> {
        crate::runtime::settings();
        let names = [
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        ];
        let missing: Vec<&str> = names.iter().copied().filter(|n| !dir.join(n).is_file()).collect();
        if !missing.is_empty() {
            return Err(Error::DataMissing {
                dataset: kind.title().to_string(),
                dir: dir.to_path_buf(),
                missing: missing.join(", "),
            });
        }
        let train = read_split("train", &dir.join(names[0]), &dir.join(names[1]), verify)?;
        let test = read_split("test", &dir.join(names[2]), &dir.join(names[3]), verify)?;
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
            quick_from: None,
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
            return Err(Error::out_of_range(format!(
                "subset({n_train}, {n_test}): both sizes must be at least 1"
            )));
        }
        let (full_train, full_test) = self.quick_from.unwrap_or((nt, ns));
        if n_train > full_train || n_test > full_test {
            return Err(Error::out_of_range(format!(
                "subset({n_train}, {n_test}): the set has {full_train} training and {full_test} test images; ask for at most that"
            )));
        }
        if n_train > nt || n_test > ns {
            // Within the full set, beyond what quick mode loaded: quick mode's part.
            println!("quick mode: subset({n_train}, {n_test}) keeps the {nt} training and {ns} test images quick mode loaded");
        }
        let (n_train, n_test) = (n_train.min(nt), n_test.min(ns));
        Ok(Dataset {
            kind: self.kind,
            train_images: self.train_images.narrow(0, 0, n_train)?,
            train_labels: self.train_labels.narrow(0, 0, n_train)?,
            test_images: self.test_images.narrow(0, 0, n_test)?,
            test_labels: self.test_labels.narrow(0, 0, n_test)?,
            quick_from: self.quick_from,
        })
    }

    /// The same training split, and `len` test images from `from` on: the
    /// exercises give the notebooks the first half of the test set and judge
    /// on the second (see `exercise::data`).
    pub fn test_range(&self, from: usize, len: usize) -> Result<Self> {
        let have = self.test_len();
        if len == 0 || from + len > have {
            return Err(Error::out_of_range(format!(
                "test_range({from}, {len}): the test split holds {have} images; ask for 1 to {} from {from}",
                have.saturating_sub(from)
            )));
        }
        Ok(Dataset {
            kind: self.kind,
            train_images: self.train_images.clone(),
            train_labels: self.train_labels.clone(),
            test_images: self.test_images.narrow(0, from, len)?,
            test_labels: self.test_labels.narrow(0, from, len)?,
            quick_from: self.quick_from,
        })
    }

    /// Only the images whose label is in `classes` (the seeds train on a
    /// single digit: `data.only_classes(&[7])`).
    pub fn only_classes(&self, classes: &[u32]) -> Result<Self> {
        if let Some(bad) = classes.iter().find(|&&c| c > 9) {
            return Err(Error::out_of_range(format!(
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
        for (split, images) in [("training", &train_images), ("test", &test_images)] {
            if images.dim(0)? == 0 {
                return Err(Error::empty(format!(
                    "only_classes({classes:?}): no {split} image has these labels, so the {split} split would be empty; pick classes the data holds (labels 0 to 9)"
                )));
            }
        }
        Ok(Dataset {
            kind: self.kind,
            train_images,
            train_labels,
            test_images,
            test_labels,
            quick_from: self.quick_from,
        })
    }
}
