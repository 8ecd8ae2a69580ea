//! Checks for the exercises. Each check measures what its exercise teaches,
//! on data the check chooses (held-out images, its own noise), against
//! thresholds this crate owns (a full and a quick-mode value, stated in the
//! notebooks); it prints one line per criterion, what was measured against
//! what was expected and, when it fails, a hint at the idea, and returns an
//! error if any criterion fails, so the check cell fails visibly.
//!
//! The line format, which `examples/grade.rs` reads back from a graded
//! notebook's output:
//! `✔ NAME: MEASURED (expected EXPECTED)` or
//! `✘ NAME: MEASURED (expected EXPECTED) — hint: HINT`.
//!
//! Introduced in `exercises/01_generate_shoes.ipynb`.

pub mod codes;
pub mod denoise;
pub mod shoes;
mod student;

pub use student::{student_version, SOLUTION_END, SOLUTION_START};

use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};

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

/// " (quick-mode threshold)" in quick mode, for the expected values.
fn mode_note() -> &'static str {
    if crate::runtime::mode().is_quick() {
        ", quick-mode threshold"
    } else {
        ""
    }
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
