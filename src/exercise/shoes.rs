//! Exercise 1, generating shoes: the checks of the reconstruction and of
//! the generator. Both load the shoes themselves (sandals, sneakers, ankle
//! boots: classes 5, 7 and 9 of Fashion-MNIST). The generation check judges
//! the generator, not pixels: it takes the student's autoencoder and the
//! codes the student drew, decodes them itself, refuses codes that are the
//! encoder's codes of data-set shoes (or of shoes mirrored or moved by a
//! pixel), refuses decoded images that are reconstructions of data-set shoes
//! at another brightness, and judges the rest.

use super::{images, mean_pairwise_rms, mode_note, nearest_affine_rms, nearest_rms, Report};
use crate::data::{Dataset, FASHION_CLASSES};
use crate::error::Result;
use crate::models::{Autoencoder, Classifier};
use crate::train::{mse_value, predict};
use candle_core::{DType, Device, Tensor};

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
    /// A code closer than this to the encoder's code of a data-set shoe,
    /// in units of the typical distance between two data-set codes, is that
    /// shoe's code: decoding it reconstructs a shoe, it generates none.
    pub code_copy_ratio: f32,
    /// Smallest share the reference classifier must read as a shoe.
    pub min_shoe_share: f32,
    /// Smallest share of each of the three kinds of shoe.
    pub min_kind_share: f32,
    /// An image closer than this (RMS per pixel) to a shoe of the data set
    /// is a copy.
    pub copy_rms: f32,
    /// An image that the model's reconstruction `r` of a data-set shoe fits
    /// as `a·r + b` (any brightness and contrast) to better than this RMS is
    /// that reconstruction, perhaps of a brightened or darkened shoe (honest
    /// samples lie on the decoder's surface too, but farther: see
    /// docs/maintaining.md, "Exercise thresholds").
    pub recon_rms: f32,
    /// Largest share of near-duplicates.
    pub max_duplicate_share: f32,
    /// Smallest mean RMS distance between two generated images.
    pub min_spread_rms: f32,
}

/// Full runs: from the solution at full budget (docs/teaching.md).
pub const FULL: Limits = Limits {
    max_mse: 0.020,
    max_code: 392,
    min_images: 200,
    code_copy_ratio: 0.5,
    min_shoe_share: 0.90,
    min_kind_share: 0.05,
    copy_rms: 0.02,
    recon_rms: 0.010,
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
    super::by_mode(FULL, QUICK)
}

/// The autoencoder's reconstruction of the held-out test shoes (the half
/// of the test set no notebook loads).
pub fn check_reconstruction(ae: &Autoencoder) -> Result<Report> {
    check_reconstruction_with(ae, &super::held_out()?.only_classes(&CLASSES)?, &limits())
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
        "the code is the encoder's last layer: make it small (8 to 32 numbers), or the model can copy its input",
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

/// The generator: `codes` drawn by the student, decoded here by `ae`'s
/// decoder. The codes must be new (not the encoder's codes of data-set
/// shoes, nor of shoes mirrored or moved by a pixel); the decoded images
/// must be images in `[0, 1]`, read as shoes by a reference classifier this
/// check trains itself, each kind represented, new (not copies of a data-set
/// shoe nor of the model's reconstruction of one) and varied.
///
/// # Shapes
/// `codes`: `(N, k)` with `k` the decoder's input (the code size).
pub fn check_generator(ae: &Autoencoder, codes: &Tensor) -> Result<Report> {
    let fashion = Dataset::fashion_mnist()?;
    let judge = Classifier::trained_on(&fashion, 3, &Device::Cpu)?;
    let shoes = fashion.only_classes(&CLASSES)?;
    let all = Tensor::cat(&[&shoes.train_images, &shoes.test_images], 0)?;
    check_generator_with(ae, codes, &judge, &all, &limits())
}

/// [`check_generator`] with a given judge, data-set shoes `(M, 784)` and
/// limits (for tests).
pub fn check_generator_with(
    ae: &Autoencoder,
    codes: &Tensor,
    judge: &Classifier,
    shoes: &Tensor,
    limits: &Limits,
) -> Result<Report> {
    let mut r = Report::default();
    let Some(codes) = the_codes(&mut r, ae, codes, limits.min_images)? else {
        return r.verdict("exercise 1, generated shoes");
    };
    let data_codes = predict(&ae.encoder(), shoes, 512)?
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?;
    a_trained_pair(&mut r, ae, shoes, limits)?;
    new_codes(&mut r, ae, &codes, shoes, &data_codes, limits)?;
    let decoded = predict(&ae.decoder(), &codes, 512)?;
    let Some(xs) = images(&mut r, "decoded images", &decoded, limits.min_images)? else {
        return r.verdict("exercise 1, generated shoes");
    };
    shoe_criteria(&mut r, &xs, judge, limits)?;
    let recon = predict(&ae.decoder(), &data_codes, 512)?;
    not_copies(&mut r, &xs, shoes, &recon, limits)?;
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

/// The codes as `(N, k)` f32 on the CPU, checked to fit the decoder and to
/// be finite numbers; records the criterion.
fn the_codes(r: &mut Report, ae: &Autoencoder, codes: &Tensor, min_images: usize) -> Result<Option<Tensor>> {
    let k: usize = ae.decoder().input_shape().iter().product();
    let dims = codes.dims().to_vec();
    let fits = dims.len() == 2 && dims[1] == k && dims[0] >= min_images;
    let codes = codes.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    let finite = fits && codes.abs()?.max_all()?.to_scalar::<f32>()?.is_finite();
    r.add(
        "codes for your decoder",
        finite,
        format!(
            "shape {dims:?}{}",
            if fits && !finite {
                ", with NaN or infinite numbers"
            } else {
                ""
            }
        ),
        format!("(N, {k}) with N ≥ {min_images}, finite numbers"),
        "draw one code per image, as many numbers as the decoder takes (its input), from a distribution of codes",
    );
    Ok(finite.then_some(codes))
}

/// The criterion that the encoder is the decoder's own: the pair rebuilds
/// data-set shoes. The novelty of the codes is judged with this encoder, so
/// handing in another one would hide that the codes are encoded shoes.
fn a_trained_pair(r: &mut Report, ae: &Autoencoder, shoes: &Tensor, limits: &Limits) -> Result<()> {
    let some = shoes.narrow(0, 0, shoes.dim(0)?.min(1_000))?;
    let m = mse_value(&predict(ae, &some, 512)?, &some)?;
    r.add(
        "the encoder and decoder are a trained pair",
        m <= limits.max_mse,
        format!("MSE {m:.4} rebuilding {} data-set shoes", some.dim(0)?),
        format!("≤ {:.3}{}", limits.max_mse, mode_note()),
        "hand in the autoencoder you trained: the check encodes data-set shoes with its encoder to tell new codes from copies",
    );
    Ok(())
}

/// The codes of `shoes` mirrored, and moved by one pixel each way.
fn edited_codes(ae: &Autoencoder, shoes: &Tensor) -> Result<Vec<Tensor>> {
    let imgs = shoes.reshape((shoes.dim(0)?, 28, 28))?;
    let mirrored = Tensor::cat(
        &(0..28)
            .rev()
            .map(|c| imgs.narrow(2, c, 1))
            .collect::<candle_core::Result<Vec<_>>>()?,
        2,
    )?;
    let zeros = |dim: usize| -> candle_core::Result<Tensor> {
        let mut shape = vec![imgs.dim(0)?, 28, 28];
        shape[dim] = 1;
        Tensor::zeros(shape, imgs.dtype(), imgs.device())
    };
    let mut moved = vec![mirrored];
    for dim in [1, 2] {
        moved.push(Tensor::cat(&[&zeros(dim)?, &imgs.narrow(dim, 0, 27)?], dim)?);
        moved.push(Tensor::cat(&[&imgs.narrow(dim, 1, 27)?, &zeros(dim)?], dim)?);
    }
    moved
        .iter()
        .map(|m| Ok(predict(&ae.encoder(), &m.reshape((m.dim(0)?, 784))?, 512)?.to_dtype(DType::F32)?))
        .collect()
}

/// The criterion that the codes are new: few of them near the encoder's
/// codes of data-set shoes (edited ones included), in units of the typical
/// distance between two data-set codes.
fn new_codes(
    r: &mut Report,
    ae: &Autoencoder,
    codes: &Tensor,
    shoes: &Tensor,
    data_codes: &Tensor,
    limits: &Limits,
) -> Result<()> {
    let sample = data_codes.narrow(0, 0, data_codes.dim(0)?.min(1_000))?;
    let mut spacing = super::second_nearest_rms(&sample, data_codes)?;
    spacing.sort_by(|a, b| a.total_cmp(b));
    let unit = spacing[spacing.len() / 2].max(1e-6);
    let mut refs = vec![data_codes.clone()];
    refs.extend(edited_codes(ae, shoes)?);
    let near = nearest_rms(codes, &Tensor::cat(&refs, 0)?)?;
    let ratios: Vec<f32> = near.iter().map(|d| d / unit).collect();
    let copies = ratios.iter().filter(|&&x| x < limits.code_copy_ratio).count() as f32 / ratios.len() as f32;
    let mut sorted = ratios.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    r.add(
        "new codes, not the encoder's codes of data-set shoes",
        copies <= limits.max_duplicate_share,
        format!(
            "{:.0} % of the codes lie within {} of the typical spacing of data-set codes from the code of a data-set shoe (or of one mirrored or moved by a pixel); median {:.2}",
            100.0 * copies,
            limits.code_copy_ratio,
            sorted[sorted.len() / 2]
        ),
        format!("≤ {:.0} %{}", 100.0 * limits.max_duplicate_share, mode_note()),
        "draw new codes from the distribution of the training codes (lesson 6); encoding data-set shoes, edited or not, reconstructs them",
    );
    Ok(())
}

/// Read as shoes by the judge, and each kind represented.
fn shoe_criteria(r: &mut Report, xs: &Tensor, judge: &Classifier, limits: &Limits) -> Result<()> {
    let n = xs.dim(0)?;
    let pred = judge.predict_classes(xs)?.to_vec1::<u32>()?;
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
        "train on all three kinds, and sample the whole latent distribution, not one corner of it",
    );
    Ok(())
}

/// Decoded images that are near-duplicates of a data-set shoe or of the
/// decoder's reconstruction of one, brightness and contrast aside (the codes
/// of a brightened shoe lie as far from the data set's codes as new ones
/// can, but they decode to its reconstruction, brightened).
fn not_copies(r: &mut Report, xs: &Tensor, shoes: &Tensor, recon: &Tensor, limits: &Limits) -> Result<()> {
    let n = xs.dim(0)?;
    let to_data = nearest_rms(xs, shoes)?;
    let to_recon = nearest_affine_rms(xs, &recon.to_device(&Device::Cpu)?.to_dtype(DType::F32)?)?;
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
            "{:.0} % copies of a data-set shoe (closer than {} RMS) or of its reconstruction at any brightness and contrast (closer than {}); median distances {:.3} and {:.3}",
            100.0 * dups,
            limits.copy_rms,
            limits.recon_rms,
            median(&to_data),
            median(&to_recon)
        ),
        format!("≤ {:.0} %{}", 100.0 * limits.max_duplicate_share, mode_note()),
        "generate from new codes drawn at random; copying or reconstructing existing shoes is not generating",
    );
    Ok(())
}
