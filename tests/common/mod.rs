//! Helpers shared by the test files; each includes this file with
//! `mod common;`.

use candle_core::Tensor;

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
