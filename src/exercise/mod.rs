//! Checks for the exercises. Each check measures what its exercise teaches,
//! on data the check chooses (held-out images, its own noise), against
//! thresholds this crate owns (a full and a quick-mode value, stated in the
//! notebooks); it prints one line per criterion, what was measured against
//! what was expected and, when it fails, a hint at the idea, and returns an
//! error if any criterion fails, so the check cell fails visibly.
//!
//! **Held out means held out.** The exercises' notebooks load their data
//! through [`data`]: every training image and the first half of the test
//! set. The checks judge on the second half ([`held_out`]), which no
//! notebook loads.
//!
//! The line format, which the `grade` tool reads back from a graded
//! notebook's output:
//! `✔ NAME: MEASURED (expected EXPECTED)` or
//! `✘ NAME: MEASURED (expected EXPECTED) — hint: HINT`.
//!
//! Introduced in `exercises/01_generate_shoes.ipynb`.

pub mod anomaly;
pub mod codes;
pub mod denoise;
pub mod shoes;
pub mod vae;

use crate::data::Dataset;
use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};

/// Fashion-MNIST as the exercises' notebooks use it: every training image
/// and the first half of the test set (5,000 images; in quick mode 250 of
/// the 500 it loads). The checks judge on the other half.
pub fn data() -> Result<Dataset> {
    let all = Dataset::fashion_mnist()?;
    let half = all.test_len() / 2;
    all.test_range(0, half)
}

/// The half of Fashion-MNIST's test set that the checks judge on and no
/// exercise notebook loads (with every training image, for the checks that
/// need a pool or a reference).
pub fn held_out() -> Result<Dataset> {
    let all = Dataset::fashion_mnist()?;
    let half = all.test_len() / 2;
    all.test_range(half, all.test_len() - half)
}

/// One criterion of a check, as measured.
#[derive(Debug, Clone)]
pub struct Criterion {
    pub name: String,
    pub passed: bool,
    pub measured: String,
    pub expected: String,
    pub hint: String,
}

impl std::fmt::Display for Criterion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.passed {
            write!(f, "✔ {}: {} (expected {})", self.name, self.measured, self.expected)
        } else {
            write!(
                f,
                "✘ {}: {} (expected {}) — hint: {}",
                self.name, self.measured, self.expected, self.hint
            )
        }
    }
}

/// The criteria of one check, printed as they are added.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub criteria: Vec<Criterion>,
}

impl Report {
    fn add(&mut self, name: &str, passed: bool, measured: String, expected: String, hint: &str) {
        let c = Criterion {
            name: name.to_string(),
            passed,
            measured,
            expected,
            hint: hint.to_string(),
        };
        println!("{c}");
        self.criteria.push(c);
    }

    /// `Ok` when every criterion passed, else an error listing the failed ones.
    fn verdict(self, check: &str) -> Result<Report> {
        let failed: Vec<String> = self
            .criteria
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.to_string())
            .collect();
        if failed.is_empty() {
            return Ok(self);
        }
        Err(Error::CheckFailed {
            check: check.to_string(),
            failed: failed.join("\n"),
        })
    }
}

/// `full` at full budget, `quick` in quick mode: each check's limits.
fn by_mode<T>(full: T, quick: T) -> T {
    if crate::runtime::mode().is_quick() {
        quick
    } else {
        full
    }
}

/// ", quick-mode threshold" in quick mode, for the expected values.
fn mode_note() -> &'static str {
    by_mode("", ", quick-mode threshold")
}

/// Flat `(N, 784)` f32 images on the CPU, values checked to lie in `[0, 1]`;
/// records the criterion in `report`.
fn images(report: &mut Report, what: &str, xs: &Tensor, min_count: usize) -> Result<Option<Tensor>> {
    let flat = crate::data::images_flat(xs).ok();
    let n = xs.dims().first().copied().unwrap_or(0);
    let Some(flat) = flat.filter(|_| n >= min_count) else {
        report.add(
            what,
            false,
            format!("shape {:?}", xs.dims()),
            format!("at least {min_count} images of shape (N, 784)"),
            "decode codes with the decoder: it gives (N, 784) images",
        );
        return Ok(None);
    };
    let flat = flat.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
    let (lo, hi) = (flat.min_all()?.to_scalar::<f32>()?, flat.max_all()?.to_scalar::<f32>()?);
    let ok = lo >= 0.0 && hi <= 1.0 && lo.is_finite() && hi.is_finite();
    report.add(
        what,
        ok,
        format!("{n} images, pixels in [{lo:.3}, {hi:.3}]"),
        format!("≥ {min_count} images, pixels in [0, 1]"),
        "end the decoder with a sigmoid so that every pixel lies in [0, 1]",
    );
    Ok(ok.then_some(flat))
}

/// For each row of `xs` `(N, D)`, the RMS distance per value to its nearest
/// row of `refs` `(M, D)`: `√(min_j ‖x - r_j‖² / D)`.
pub fn nearest_rms(xs: &Tensor, refs: &Tensor) -> Result<Vec<f32>> {
    let d = xs.dim(1)? as f32;
    let x2 = xs.sqr()?.sum_keepdim(1)?; // (N, 1)
    let r2 = refs.sqr()?.sum_keepdim(1)?.t()?; // (1, M)
    let cross = xs.matmul(&refs.t()?)?; // (N, M)
    let d2 = x2.broadcast_add(&r2)?.broadcast_sub(&(cross * 2.0)?)?;
    let min = d2.min(1)?.to_vec1::<f32>()?;
    Ok(min.into_iter().map(|v| (v.max(0.0) / d).sqrt()).collect())
}

/// For each row of `xs` `(N, D)`, the RMS residual of its best fit
/// `a·r + b` (a ≥ 0) by a row `r` of `refs` `(M, D)`: the distance to the
/// nearest row once brightness and contrast are set aside,
/// `std(x)·√(1 − ρ²)` with ρ the largest correlation between `x` and a row.
pub(crate) fn nearest_affine_rms(xs: &Tensor, refs: &Tensor) -> Result<Vec<f32>> {
    let unit = |t: &Tensor| -> Result<(Tensor, Vec<f32>)> {
        let centred = t.broadcast_sub(&t.mean_keepdim(1)?)?;
        let norm = centred.sqr()?.sum_keepdim(1)?.sqrt()?;
        let scaled = centred.broadcast_div(&(&norm + 1e-12)?)?;
        Ok((scaled, norm.flatten_all()?.to_vec1::<f32>()?))
    };
    let (xu, x_norm) = unit(xs)?;
    let (ru, _) = unit(refs)?;
    let rho = xu.matmul(&ru.t()?)?.max(1)?.clamp(0f32, 1f32)?.to_vec1::<f32>()?;
    let d = (xs.dim(1)? as f32).sqrt();
    Ok(rho
        .iter()
        .zip(x_norm)
        .map(|(r, norm)| norm / d * (1.0 - r * r).max(0.0).sqrt())
        .collect())
}

/// For each row of `xs` (a row of `refs` too), the RMS distance to its
/// nearest other row of `refs`: the typical spacing of a set of codes.
pub(crate) fn second_nearest_rms(xs: &Tensor, refs: &Tensor) -> Result<Vec<f32>> {
    let d = xs.dim(1)? as f32;
    let x2 = xs.sqr()?.sum_keepdim(1)?;
    let r2 = refs.sqr()?.sum_keepdim(1)?.t()?;
    let d2 = x2.broadcast_add(&r2)?.broadcast_sub(&(xs.matmul(&refs.t()?)? * 2.0)?)?;
    let rows = d2.to_vec2::<f32>()?;
    Ok(rows
        .into_iter()
        .map(|mut row| {
            row.sort_by(|a, b| a.total_cmp(b));
            // The nearest is the row itself (distance 0).
            (row.get(1).copied().unwrap_or(0.0).max(0.0) / d).sqrt()
        })
        .collect())
}

/// Mean RMS distance per value between the rows of `xs` (each pair once).
pub fn mean_pairwise_rms(xs: &Tensor) -> Result<f32> {
    let n = xs.dim(0)?;
    let d = xs.dim(1)? as f32;
    let x2 = xs.sqr()?.sum_keepdim(1)?;
    let d2 = x2
        .broadcast_add(&x2.t()?)?
        .broadcast_sub(&(xs.matmul(&xs.t()?)? * 2.0)?)?;
    let v = d2.flatten_all()?.to_vec1::<f32>()?;
    let mut sum = 0f64;
    for i in 0..n {
        for j in i + 1..n {
            sum += ((v[i * n + j].max(0.0) / d) as f64).sqrt();
        }
    }
    let pairs = (n * (n - 1) / 2).max(1);
    Ok((sum / pairs as f64) as f32)
}
