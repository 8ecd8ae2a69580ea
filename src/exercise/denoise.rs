//! Exercise 2, denoising clothes: the check adds its own noise (factor 0.5,
//! the exercise's) to held-out Fashion-MNIST test images and measures how
//! much the denoiser raises their PSNR.

use super::{mode_note, Report};
use crate::data::GaussianNoise;
use crate::error::Result;
use crate::nn::Model;
use crate::train::{predict, psnr};
use candle_core::Tensor;

/// The exercise's noise factor.
pub const NOISE: f32 = 0.5;

/// What the check requires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Smallest PSNR gain over the noisy input, in dB.
    pub min_gain_db: f32,
    /// Most weights the denoiser may have: lesson 4's model has 28,353.
    pub max_weights: usize,
}

/// Full runs: from the solution at full budget (docs/teaching.md).
pub const FULL: Limits = Limits {
    min_gain_db: 6.0,
    max_weights: 10_000,
};
/// Quick mode (2,000 images, 2 epochs: the solution gains +1.6 dB there,
/// measured 2026-12-02; the noisy input itself gains 0).
pub const QUICK: Limits = Limits {
    min_gain_db: 1.0,
    ..FULL
};

/// The limits that apply now.
pub fn limits() -> Limits {
    super::by_mode(FULL, QUICK)
}

/// The denoiser on 2,000 held-out test images (of the half no notebook
/// loads) with the check's own noise.
pub fn check(denoiser: &impl Model) -> Result<Report> {
    let data = super::held_out()?;
    let n = data.test_len().min(2_000);
    check_with(denoiser, &data.test_images.narrow(0, 0, n)?, &limits())
}

/// [`check`] on given clean images and limits (for tests).
pub fn check_with(denoiser: &impl Model, clean: &Tensor, limits: &Limits) -> Result<Report> {
    let mut r = Report::default();
    let weights = denoiser.param_count();
    r.add(
        "a small denoiser",
        weights <= limits.max_weights,
        format!("{weights} weights"),
        format!("≤ {}", limits.max_weights),
        "fewer filters per convolution, or fewer layers: lesson 4's model, at 32 filters, is three times over",
    );
    let noisy = GaussianNoise::new(NOISE).with_seed(0x5eed).apply(clean)?;
    let out = predict(denoiser, &noisy, 256)?;
    let (before, after) = (psnr(&noisy, clean)?, psnr(&out, clean)?);
    let gain = after - before;
    r.add(
        "denoising gain on held-out images",
        gain >= limits.min_gain_db,
        format!("PSNR {before:.1} dB -> {after:.1} dB ({gain:+.1} dB) on {} test images", clean.dim(0)?),
        format!("≥ +{:.1} dB{}", limits.min_gain_db, mode_note()),
        "train on (noisy, clean) pairs: noisy images in, clean images as the target; binary cross-entropy and a few more epochs or filters help",
    );
    r.verdict("exercise 2, denoising")
}
