//! Exercise 1, generating shoes: the checks of the reconstruction and of
//! the generated images. Both load the shoes themselves (sandals, sneakers,
//! ankle boots: classes 5, 7 and 9 of Fashion-MNIST), so what they measure
//! does not depend on what the notebook passes in.

use super::{images, mean_pairwise_rms, mode_note, nearest_rms, Report};
use crate::data::{Dataset, FASHION_CLASSES};
use crate::error::Result;
use crate::models::{Autoencoder, Classifier};
use crate::train::{mse_value, predict};
use candle_core::{Device, Tensor};

/// The shoe classes.
pub const CLASSES: [u32; 3] = [5, 7, 9];

/// What the checks of this exercise require.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Largest test-set MSE of the reconstruction.
    pub max_mse: f32,
    /// Largest code, in numbers per image (an autoencoder must squeeze).
    pub max_code: usize,
    /// Fewest generated images.
    pub min_images: usize,
    /// Smallest share the reference classifier must read as a shoe.
    pub min_shoe_share: f32,
    /// Smallest share of each of the three kinds of shoe.
    pub min_kind_share: f32,
    /// An image closer than this (RMS per pixel) to a shoe of the data set
    /// is a copy.
    pub copy_rms: f32,
    /// An image closer than this to the model's reconstruction of a data-set
    /// shoe is that reconstruction (honest samples lie on the decoder's
    /// surface too, typically 0.03 from the nearest reconstruction).
    pub recon_rms: f32,
    /// Largest share of near-duplicates.
    pub max_duplicate_share: f32,
    /// Smallest mean RMS distance between two generated images.
    pub min_spread_rms: f32,
}

/// Full runs: from the solution at full budget (see the README).
pub const FULL: Limits = Limits {
    max_mse: 0.020,
    max_code: 392,
    min_images: 200,
    min_shoe_share: 0.90,
    min_kind_share: 0.05,
    copy_rms: 0.02,
    recon_rms: 0.005,
    max_duplicate_share: 0.10,
    min_spread_rms: 0.10,
};

/// Quick mode (`cargo test`: 2,000 images, 2 epochs). A decoder trained for
/// ten steps gives nearly the same shoe for every code (measured: median
/// 0.004 RMS from the nearest reconstruction, spread 0.093), so quick mode
/// drops the reconstruction-copy criterion and halves the spread; exact
/// copies of data-set shoes and repeated images are still refused.
pub const QUICK: Limits = Limits {
    max_mse: 0.120,
    min_shoe_share: 0.50,
    min_kind_share: 0.0,
    recon_rms: 0.0,
    min_spread_rms: 0.05,
    ..FULL
};

/// The limits that apply now.
pub fn limits() -> Limits {
    if crate::runtime::mode().is_quick() {
        QUICK
    } else {
        FULL
    }
}

fn shoes() -> Result<Dataset> {
    Dataset::fashion_mnist()?.only_classes(&CLASSES)
}

/// The autoencoder's reconstruction of the held-out test shoes.
pub fn check_reconstruction(ae: &Autoencoder) -> Result<Report> {
    check_reconstruction_with(ae, &shoes()?, &limits())
}

/// [`check_reconstruction`] on given shoes and limits (for tests).
pub fn check_reconstruction_with(ae: &Autoencoder, shoes: &Dataset, limits: &Limits) -> Result<Report> {
    let mut r = Report::default();
    let code: usize = ae.encoder().output_shape().iter().product();
    r.add(
        "code size",
        code <= limits.max_code,
        format!("{code} numbers per image"),
        format!("≤ {} (784 pixels squeezed at least 2×)", limits.max_code),
        "the code is the encoder's last layer: make it small (8 to 64 numbers), or the model can copy its input",
    );
    let recon = predict(ae, &shoes.test_images, 256)?;
    let m = mse_value(&recon, &shoes.test_images)?;
    r.add(
        "reconstruction of the test shoes",
        m <= limits.max_mse,
        format!("MSE {m:.4} on {} held-out images", shoes.test_len()),
        format!("MSE ≤ {:.3}{}", limits.max_mse, mode_note()),
        "train longer, or give the code a little more room",
    );
    r.verdict("exercise 1, reconstruction")
}

/// Generated shoes: images in `[0, 1]`, read as shoes by a reference
/// classifier this check trains itself, each kind represented, new (not
/// copies of a data-set shoe nor of the model's reconstruction of one) and
/// varied.
///
/// # Shapes
/// `generated`: `(N, 784)` or `(N, 1, 28, 28)`.
pub fn check_generated(generated: &Tensor, ae: &Autoencoder) -> Result<Report> {
    let fashion = Dataset::fashion_mnist()?;
    let judge = Classifier::trained_on(&fashion, 3, &Device::Cpu)?;
    check_generated_with(generated, ae, &judge, &fashion.only_classes(&CLASSES)?, &limits())
}

/// [`check_generated`] with a given judge, shoes and limits (for tests).
pub fn check_generated_with(
    generated: &Tensor,
    ae: &Autoencoder,
    judge: &Classifier,
    shoes: &Dataset,
    limits: &Limits,
) -> Result<Report> {
    let mut r = Report::default();
    let Some(xs) = images(&mut r, "generated images", generated, limits.min_images)? else {
        return r.verdict("exercise 1, generated shoes");
    };
    let n = xs.dim(0)?;
    // Read as shoes, and each kind represented.
    let pred = judge.predict_classes(&xs)?.to_vec1::<u32>()?;
    let share = |classes: &[u32]| pred.iter().filter(|p| classes.contains(p)).count() as f32 / n as f32;
    let shoe = share(&CLASSES);
    r.add(
        "read as shoes by the reference classifier",
        shoe >= limits.min_shoe_share,
        format!("{:.0} %", 100.0 * shoe),
        format!("≥ {:.0} %{}", 100.0 * limits.min_shoe_share, mode_note()),
        "draw codes where the encoder puts shoes: in the PCA-decorrelated space of the training codes (lesson 6), not uniformly in a box",
    );
    let kinds: Vec<(f32, &str)> = CLASSES
        .iter()
        .map(|&c| (share(&[c]), FASHION_CLASSES[c as usize]))
        .collect();
    let rarest = kinds.iter().fold(f32::INFINITY, |m, k| m.min(k.0));
    r.add(
        "every kind of shoe appears",
        rarest >= limits.min_kind_share,
        kinds
            .iter()
            .map(|(s, name)| format!("{name} {:.0} %", 100.0 * s))
            .collect::<Vec<_>>()
            .join(", "),
        format!("each ≥ {:.0} %{}", 100.0 * limits.min_kind_share, mode_note()),
        "train on all three kinds, and sample the whole latent distribution (scale 1), not one corner of it",
    );
    // New: not near-duplicates of a data-set shoe or of a reconstruction.
    let recon_train = predict(ae, &shoes.train_images, 512)?;
    let recon_test = predict(ae, &shoes.test_images, 512)?;
    let to_data = nearest_rms(&xs, &Tensor::cat(&[&shoes.train_images, &shoes.test_images], 0)?)?;
    let to_recon = nearest_rms(&xs, &Tensor::cat(&[&recon_train, &recon_test], 0)?)?;
    let dup = |i: usize| to_data[i] < limits.copy_rms || to_recon[i] < limits.recon_rms;
    let dups = (0..n).filter(|&i| dup(i)).count() as f32 / n as f32;
    let median = |v: &[f32]| {
        let mut s = v.to_vec();
        s.sort_by(|a, b| a.total_cmp(b));
        s[s.len() / 2]
    };
    r.add(
        "new images, not copies",
        dups <= limits.max_duplicate_share,
        format!(
            "{:.0} % copies of a data-set shoe (closer than {} RMS) or of its reconstruction (closer than {}); median distances {:.3} and {:.3}",
            100.0 * dups,
            limits.copy_rms,
            limits.recon_rms,
            median(&to_data),
            median(&to_recon)
        ),
        format!("≤ {:.0} %{}", 100.0 * limits.max_duplicate_share, mode_note()),
        "generate from new codes drawn at random; copying or reconstructing existing shoes is not generating",
    );
    let spread = mean_pairwise_rms(&xs)?;
    r.add(
        "varied images",
        spread >= limits.min_spread_rms,
        format!("mean distance between two images {spread:.3} RMS"),
        format!("≥ {}{}", limits.min_spread_rms, mode_note()),
        "each image needs its own random code; one code (or the mean code) gives the same shoe again and again",
    );
    r.verdict("exercise 1, generated shoes")
}
