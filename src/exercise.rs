//! Checks for the Fashion-MNIST exercises: each judges a student's result,
//! prints what was expected, what was measured and a hint, and returns an
//! error when the result falls short (so the check cell fails visibly).
//!
//! Thresholds come from measured solution runs (see each exercise notebook);
//! quick mode (`cargo test`) uses lower ones, stated in the output.
//!
//! Introduced in `exercises/01_generate_shoes.ipynb`.

use crate::error::{Error, Result};
use crate::models::Classifier;
use crate::nn::Model;
use candle_core::{DType, Tensor};

/// A threshold for full runs and a lower one for quick mode.
#[derive(Debug, Clone, Copy)]
pub struct Threshold {
    pub full: f32,
    pub quick: f32,
}

impl Threshold {
    /// The value that applies now.
    pub fn now(self) -> f32 {
        if crate::runtime::mode::mode().is_quick() {
            self.quick
        } else {
            self.full
        }
    }
}

fn verdict(name: &str, ok: bool, expected: String, measured: String, hint: &str) -> Result<()> {
    let mode = if crate::runtime::mode::mode().is_quick() {
        " (quick-mode threshold)"
    } else {
        ""
    };
    if ok {
        println!("✔ {name}: {measured} (expected {expected}{mode})");
        Ok(())
    } else {
        println!("✘ {name}: {measured}, expected {expected}{mode}\n  hint: {hint}");
        Err(Error::InvalidArgument(format!(
            "check failed: {name}: {measured}, expected {expected}{mode}. Hint: {hint}"
        )))
    }
}

/// Images must be `(N, 784)` (or `(N, 1, 28, 28)`) with values in `[0, 1]`.
pub fn check_images(name: &str, xs: &Tensor, min_count: usize) -> Result<()> {
    let flat = crate::data::images_flat(xs);
    let shape_ok = flat.is_ok();
    let n = xs.dims().first().copied().unwrap_or(0);
    if !shape_ok || n < min_count {
        return verdict(
            name,
            false,
            format!("at least {min_count} images of shape (N, 784)"),
            format!("shape {:?}", xs.dims()),
            "decode latent vectors with the decoder; its output is (N, 784)",
        );
    }
    let xs = xs.to_dtype(DType::F32)?;
    let (lo, hi) = (xs.min_all()?.to_scalar::<f32>()?, xs.max_all()?.to_scalar::<f32>()?);
    verdict(
        name,
        lo >= 0.0 && hi <= 1.0 && lo.is_finite() && hi.is_finite(),
        "pixel values in [0, 1]".into(),
        format!("{n} images, values in [{lo:.3}, {hi:.3}]"),
        "end the decoder with a sigmoid so every pixel lies in [0, 1]",
    )
}

/// Test-set reconstruction error (MSE) of `model` must be at most `max_mse`.
pub fn check_reconstruction(model: &impl Model, test_images: &Tensor, max_mse: Threshold) -> Result<f32> {
    let recon = crate::train::predict(model, test_images, 256)?;
    let m = crate::train::loss::mse_value(&recon, test_images)?;
    let t = max_mse.now();
    verdict(
        "reconstruction error on the test set",
        m <= t,
        format!("MSE ≤ {t:.4}"),
        format!("MSE {m:.4}"),
        "train longer, or give the code more room (a larger latent size)",
    )?;
    Ok(m)
}

/// The denoiser must raise PSNR against the clean images by at least
/// `min_gain_db` over the noisy input.
pub fn check_denoising(model: &impl Model, clean: &Tensor, noisy: &Tensor, min_gain_db: Threshold) -> Result<f32> {
    let out = crate::train::predict(model, noisy, 256)?;
    let (before, after) = (
        crate::train::loss::psnr(noisy, clean)?,
        crate::train::loss::psnr(&out, clean)?,
    );
    let gain = after - before;
    let t = min_gain_db.now();
    verdict(
        "denoising gain",
        gain >= t,
        format!("at least +{t:.1} dB over the noisy input"),
        format!("PSNR {before:.1} dB -> {after:.1} dB ({gain:+.1} dB)"),
        "train on (noisy, clean) pairs — noisy inputs, clean targets — with binary cross-entropy; more filters or epochs help",
    )?;
    Ok(gain)
}

/// At least `min_share` of `generated` must be classified as one of
/// `classes` by the reference `judge`.
pub fn check_generated(
    generated: &Tensor,
    judge: &Classifier,
    classes: &[u32],
    names: &[&str],
    min_share: Threshold,
) -> Result<f32> {
    check_images("generated images", generated, 10)?;
    let share = judge.share_of(generated, classes)?;
    let t = min_share.now();
    let which: Vec<&str> = classes.iter().filter_map(|&c| names.get(c as usize).copied()).collect();
    verdict(
        "generated images the reference classifier reads as the chosen classes",
        share >= t,
        format!("≥ {:.0} % {}", 100.0 * t, which.join(" / ")),
        format!("{:.0} %", 100.0 * share),
        "sample latent vectors in the PCA-decorrelated space (Pca::sample), not uniformly in a box",
    )?;
    Ok(share)
}

/// Opens a solution region in a solution notebook's code cell; the rest of
/// the line is the hint the student sees.
pub const SOLUTION_START: &str = "// SOLUTION:";
/// Closes a solution region.
pub const SOLUTION_END: &str = "// END SOLUTION";

/// The student version of a solution notebook (its JSON text): every
/// solution region becomes `todo!("hint")` at the region's indentation,
/// outputs are cleared, and `:dep` paths are rewritten for the folder above
/// (`exercises/solutions/` → `exercises/`).
///
/// A region should sit where an expression of a known type is expected, e.g.
/// `let model: Autoencoder = { // SOLUTION: … // END SOLUTION };`, so that the
/// student's cell compiles and stops with the hint when run.
pub fn student_version(solution_json: &str) -> Result<String> {
    let mut nb: serde_json::Value = serde_json::from_str(solution_json)
        .map_err(|e| Error::invalid(format!("solution notebook is not valid JSON: {e}")))?;
    let cells = nb["cells"]
        .as_array_mut()
        .ok_or_else(|| Error::invalid("solution notebook has no \"cells\" list"))?;
    for (i, cell) in cells.iter_mut().enumerate() {
        if cell["cell_type"] != "code" {
            continue;
        }
        let src: String = match &cell["source"] {
            serde_json::Value::Array(l) => l.iter().filter_map(|x| x.as_str()).collect(),
            serde_json::Value::String(s) => s.clone(),
            _ => String::new(),
        };
        let mut out = String::new();
        let mut open: Option<usize> = None;
        for line in src.split_inclusive('\n') {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            if let Some(hint) = trimmed.strip_prefix(SOLUTION_START) {
                if open.is_some() {
                    return Err(Error::invalid(format!(
                        "cell {}: a solution region opens inside another",
                        i + 1
                    )));
                }
                open = Some(i);
                // Escaped for a string literal and for `todo!`'s format string.
                let hint = hint
                    .trim()
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('{', "{{")
                    .replace('}', "}}");
                out.push_str(&format!("{indent}todo!(\"{hint}\")\n"));
            } else if trimmed.starts_with(SOLUTION_END) {
                if open.take().is_none() {
                    return Err(Error::invalid(format!(
                        "cell {}: `{SOLUTION_END}` without an opening `{SOLUTION_START}`",
                        i + 1
                    )));
                }
            } else if open.is_none() {
                out.push_str(&line.replace("path = \"../..\"", "path = \"..\""));
            }
        }
        if open.is_some() {
            return Err(Error::invalid(format!(
                "cell {}: a solution region is never closed with `{SOLUTION_END}`",
                i + 1
            )));
        }
        let lines: Vec<serde_json::Value> = out
            .trim_end_matches('\n')
            .split_inclusive('\n')
            .map(|l| serde_json::Value::String(l.to_string()))
            .collect();
        cell["source"] = serde_json::Value::Array(lines);
        cell["outputs"] = serde_json::json!([]);
        cell["execution_count"] = serde_json::Value::Null;
    }
    let mut text = serde_json::to_string_pretty(&nb).map_err(|e| Error::invalid(e.to_string()))?;
    text.push('\n');
    Ok(text)
}
