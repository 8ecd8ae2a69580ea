//! Helpers shared by the test files; each includes this file with
//! `mod common;`.

use autoencoders::prelude::*;

/// The largest absolute difference between two tensors of one shape.
#[allow(dead_code)] // not every test file that includes this module needs it
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// Whether a test's precondition holds (the data fetched, a tool there).
/// Under `CI=true` a missing one fails the test: CI's machine must have
/// everything the tests need, so nothing passes there by skipping. Elsewhere
/// the test says it skipped.
#[allow(dead_code)] // not every test file that includes this module needs it
pub fn have(ok: bool, what: &str) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    assert!(ok || !ci, "{what}; CI=true: a missing precondition fails");
    if !ok {
        eprintln!("SKIPPED: {what}");
    }
    ok
}

/// `n` images of uniform noise, `(n, 784)`: inputs whose content does not
/// matter to the test.
#[allow(dead_code)] // not every test file that includes this module needs it
pub fn uniform_images(n: usize) -> Tensor {
    Tensor::rand(0f32, 1f32, (n, 784), &Device::Cpu).unwrap()
}

/// A small dense autoencoder, 784-16-784, on the CPU.
#[allow(dead_code)] // not every test file that includes this module needs it
pub fn small_model() -> Autoencoder {
    let dev = Device::Cpu;
    Autoencoder::new(
        Sequential::input(&[784], &dev).add(dense(16).relu()).unwrap(),
        Sequential::input(&[16], &dev).add(dense(784).sigmoid()).unwrap(),
    )
    .unwrap()
}

/// Every weight of `ae`, one vector per variable, to compare two models.
#[allow(dead_code)] // not every test file that includes this module needs it
pub fn weights(ae: &Autoencoder) -> Vec<Vec<f32>> {
    ae.vars()
        .iter()
        .map(|v| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap())
        .collect()
}
