//! The IDX loader: real data when fetched, and one crafted bad file per error.

mod common;

use autoencoders::data::{read_idx_pair, Dataset, DatasetKind};
use autoencoders::Error;
use std::path::{Path, PathBuf};

fn idx_images(n: u32, magic: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [magic, n, 28, 28] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend((0..n as usize * 784).map(|i| (i % 256) as u8));
    b
}

fn idx_labels(n: u32, magic: u32) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [magic, n] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend((0..n).map(|i| (i % 10) as u8));
    b
}

/// A temporary folder holding a small data set, removed when dropped.
struct Crafted(PathBuf);

impl std::ops::Deref for Crafted {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Crafted {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Crafted {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A folder with a valid small data set; `tweak` may break one file.
fn crafted(name: &str, tweak: impl Fn(&Path)) -> Crafted {
    let dir = std::env::temp_dir().join(format!("ae-data-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train-images-idx3-ubyte"), idx_images(6, 0x803)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx_labels(6, 0x801)).unwrap();
    std::fs::write(dir.join("t10k-images-idx3-ubyte"), idx_images(4, 0x803)).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_labels(4, 0x801)).unwrap();
    tweak(&dir);
    Crafted(dir)
}

#[test]
fn crafted_data_loads_with_shapes_and_range() {
    let dir = crafted("ok", |_| {});
    let ds = Dataset::load(DatasetKind::Mnist, &dir).unwrap();
    assert_eq!(ds.train_images.dims(), &[6, 784]);
    assert_eq!(ds.test_images.dims(), &[4, 784]);
    assert_eq!(ds.train_labels.to_vec1::<u32>().unwrap(), vec![0, 1, 2, 3, 4, 5]);
    let max = ds.train_images.max_all().unwrap().to_scalar::<f32>().unwrap();
    let min = ds.train_images.min_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!((min, max), (0.0, 1.0));
    let only = ds.only_classes(&[1, 3]).unwrap();
    assert_eq!(only.train_labels.to_vec1::<u32>().unwrap(), vec![1, 3]);
    assert_eq!(only.test_labels.to_vec1::<u32>().unwrap(), vec![1, 3]);
    let sub = ds.subset(2, 1).unwrap();
    assert_eq!((sub.train_len(), sub.test_len()), (2, 1));
    assert_eq!(
        autoencoders::data::images_2d(&sub.train_images).unwrap().dims(),
        &[2, 1, 28, 28]
    );
}

#[test]
fn missing_file_names_it_and_the_fetch_command() {
    let dir = crafted("missing", |d| {
        std::fs::remove_file(d.join("t10k-labels-idx1-ubyte")).unwrap()
    });
    let err = Dataset::load(DatasetKind::Mnist, &dir).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::DataMissing { .. }), "{msg}");
    assert!(msg.contains("t10k-labels-idx1-ubyte"), "{msg}");
    assert!(msg.contains("scripts/fetch-data.sh"), "{msg}");
}

#[test]
fn wrong_magic_number_is_reported() {
    let dir = crafted("magic", |d| {
        std::fs::write(d.join("train-images-idx3-ubyte"), idx_images(6, 0x801)).unwrap()
    });
    let err = Dataset::load(DatasetKind::Mnist, &dir).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("train-images-idx3-ubyte"));
}

#[test]
fn truncated_file_is_reported_with_sizes() {
    let dir = crafted("trunc", |d| {
        let p = d.join("train-images-idx3-ubyte");
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() - 100]).unwrap();
    });
    let err = Dataset::load(DatasetKind::Mnist, &dir).unwrap_err();
    match &err {
        Error::BadLength { expected, found, .. } => assert_eq!(*expected, found + 100),
        other => panic!("expected BadLength, got {other}"),
    }
    // Shorter than the header itself.
    let dir = crafted("header", |d| {
        std::fs::write(d.join("t10k-labels-idx1-ubyte"), [0u8, 0, 8]).unwrap()
    });
    assert!(matches!(
        Dataset::load(DatasetKind::Mnist, &dir).unwrap_err(),
        Error::BadLength { found: 3, .. }
    ));
}

#[test]
fn image_label_count_mismatch_is_reported() {
    let dir = crafted("count", |d| {
        std::fs::write(d.join("train-labels-idx1-ubyte"), idx_labels(5, 0x801)).unwrap()
    });
    let err = Dataset::load(DatasetKind::Mnist, &dir).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CountMismatch {
                images: 6,
                labels: 5,
                split: "train"
            }
        ),
        "{err}"
    );
}

#[test]
fn bad_class_and_subset_arguments_are_errors() {
    let ds = Dataset::load(DatasetKind::Mnist, crafted("args", |_| {})).unwrap();
    assert!(ds.only_classes(&[12]).unwrap_err().to_string().contains("12"));
    assert!(ds.subset(0, 1).is_err());
}

fn real_dir(kind: DatasetKind) -> Option<PathBuf> {
    let dir = autoencoders::data::data_dir().join(kind.folder());
    dir.join("train-images-idx3-ubyte").is_file().then_some(dir)
}

#[test]
fn real_mnist_and_fashion_mnist_have_the_official_sizes() {
    for kind in [DatasetKind::Mnist, DatasetKind::FashionMnist] {
        let Some(dir) = real_dir(kind) else {
            panic!("{kind:?} is not fetched: run scripts/fetch-data.sh (the test command does)");
        };
        let ds = Dataset::load(kind, dir).unwrap();
        assert_eq!((ds.train_len(), ds.test_len()), (60_000, 10_000));
        let labels = ds.train_labels.to_vec1::<u32>().unwrap();
        for class in 0..10 {
            assert!(
                labels.iter().filter(|&&l| l == class).count() > 5000,
                "{kind:?} class {class}"
            );
        }
    }
}

/// Our reader against the `mnist` crate's on the real files: same bytes.
#[test]
fn reader_agrees_with_the_mnist_crate() {
    let Some(dir) = real_dir(DatasetKind::Mnist) else {
        panic!("MNIST is not fetched: run scripts/fetch-data.sh");
    };
    let t0 = std::time::Instant::now();
    let (px, lb) = read_idx_pair(
        &dir.join("train-images-idx3-ubyte"),
        &dir.join("train-labels-idx1-ubyte"),
    )
    .unwrap();
    let ours = t0.elapsed();
    let base = dir.to_string_lossy().to_string();
    let t1 = std::time::Instant::now();
    let m = mnist::MnistBuilder::new()
        .label_format_digit()
        .training_set_length(60_000)
        .validation_set_length(0)
        .test_set_length(10_000)
        .base_path(&base)
        .finalize();
    let theirs = t1.elapsed();
    assert_eq!(px, m.trn_img);
    assert_eq!(lb, m.trn_lbl);
    println!("train split read: ours {ours:?}, mnist crate (both splits) {theirs:?}");
}

#[test]
fn subsets_larger_than_the_set_and_empty_class_splits_are_errors() {
    let ds = Dataset::load(DatasetKind::Mnist, crafted("sizes", |_| {})).unwrap();
    let e = ds.subset(100_000, 20_000).unwrap_err().to_string();
    assert!(e.contains("100000") && e.contains("6 training and 4 test"), "{e}");
    assert_eq!(ds.subset(6, 4).unwrap().train_len(), 6);
    // Labels 0-5 in training, 0-3 in test: class 5 has no test image.
    let e = ds.only_classes(&[5]).unwrap_err().to_string();
    assert!(e.contains("no test image") && e.contains("[5]"), "{e}");
    assert_eq!(ds.only_classes(&[1, 5]).unwrap().test_len(), 1);
}

#[test]
fn a_data_file_changed_after_fetching_is_refused_by_its_checksum() {
    let real = real_dir(DatasetKind::Mnist);
    if !common::have(real.is_some(), "MNIST is not fetched (scripts/fetch-data.sh)") {
        return;
    }
    let real = real.unwrap();
    let dir = std::env::temp_dir()
        .join(format!("ae-rot-{}", std::process::id()))
        .join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::copy(real.join(f), dir.join(f)).unwrap();
    }
    // What the check costs at load (printed; `cargo test --test data -- --nocapture`).
    for _ in 0..2 {
        let t = std::time::Instant::now();
        Dataset::load(DatasetKind::Mnist, &dir).unwrap();
        let plain = t.elapsed().as_secs_f64() * 1e3;
        let t = std::time::Instant::now();
        Dataset::load_checked(DatasetKind::Mnist, &dir).unwrap();
        let checked = t.elapsed().as_secs_f64() * 1e3;
        println!("MNIST load: {plain:.0} ms unchecked, {checked:.0} ms with the SHA-256 check");
    }
    // One pixel byte flipped: still a valid IDX file, so only the sum can tell.
    let path = dir.join("train-images-idx3-ubyte");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[16 + 784 * 100 + 400] ^= 0x01;
    std::fs::write(&path, bytes).unwrap();
    assert!(
        Dataset::load(DatasetKind::Mnist, &dir).is_ok(),
        "the format alone cannot see it"
    );
    let err = Dataset::load_checked(DatasetKind::Mnist, &dir).unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("train-images-idx3-ubyte") && msg.contains("scripts/fetch-data.sh"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}
