//! Linear and non-linear views of data, bridged from tensors to linfa:
//! [`Pca`] (linfa-reduction) and [`tsne`] (linfa-tsne).
//!
//! linfa's PCA fits `f64` only, so tensors are converted on the way in and
//! back to `f32` on the way out. Two caveats of linfa's PCA that this wrapper
//! avoids: with whitening on, its `inverse_transform` does not undo the
//! whitening (this wrapper never whitens; [`Pca::component_std`] gives the
//! scale instead), and its `explained_variance_ratio` is relative to the kept
//! components only ([`Pca::explained_variance_ratio`] here is relative to the
//! data's total variance).
//!
//! Introduced in `notebooks/05_dimensionality_reduction.ipynb`.

use crate::error::{Error, Result};
use candle_core::{DType, Device, Tensor};
use linfa::traits::{Fit, Predict, Transformer};
use linfa::DatasetBase;
use ndarray::{Array1, Array2};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

/// Converts `(N, D)` to an `f64` ndarray.
pub fn to_array2(xs: &Tensor) -> Result<Array2<f64>> {
    if xs.rank() != 2 {
        return Err(Error::shape("to_array2", "(N, D)", xs.dims()));
    }
    let (n, d) = xs.dims2()?;
    let v = xs
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    Array2::from_shape_vec((n, d), v).map_err(|e| Error::linfa("the tensor as an array", e))
}

/// Converts an `f64` ndarray to an `(N, D)` f32 tensor on `dev`.
pub fn from_array2(a: &Array2<f64>, dev: &Device) -> Result<Tensor> {
    let (n, d) = a.dim();
    let v: Vec<f32> = a.iter().map(|&x| x as f32).collect();
    Ok(Tensor::from_vec(v, (n, d), dev)?)
}

/// A fitted principal component analysis (no whitening).
///
/// Columns that are constant in the fitted data (dead code units, blank
/// border pixels) carry no variance and are left out of linfa's fit: its
/// decomposition can turn their exact zeros into NaNs. They come back, at
/// their constant value, in [`Pca::inverse_transform`]; the number of
/// components is then at most the number of varying columns.
#[derive(Debug, Clone)]
pub struct Pca {
    inner: linfa_reduction::Pca<f64>,
    n_samples: usize,
    total_variance: f64,
    /// Indices of the columns that vary, in order.
    varying: Vec<usize>,
    /// Every column's mean (the value of the constant ones).
    column_mean: Array1<f64>,
}

impl Pca {
    /// Fits `n_components` principal components to the rows of `xs`.
    ///
    /// # Shapes
    /// `xs`: `(N, D)` with `1 ≤ n_components ≤ D`.
    pub fn fit(xs: &Tensor, n_components: usize) -> Result<Self> {
        let a = to_array2(xs)?;
        let (n, d) = a.dim();
        if n_components == 0 || n_components > d {
            return Err(Error::out_of_range(format!(
                "Pca::fit: n_components {n_components} must be between 1 and the data's {d} dimensions"
            )));
        }
        if n < 2 {
            return Err(Error::out_of_range(format!(
                "Pca::fit: {n} samples; PCA needs at least 2"
            )));
        }
        if n_components >= n {
            return Err(Error::out_of_range(format!(
                "Pca::fit: {n_components} components from {n} samples; {n} samples span at most {} directions: ask for fewer components or give more samples",
                n - 1
            )));
        }
        if a.iter().any(|v| !v.is_finite()) {
            return Err(Error::not_finite(
                "Pca::fit: the data holds NaN or infinite values; check the model or data that produced it",
            ));
        }
        let variance = a.var_axis(ndarray::Axis(0), 1.0);
        let total_variance = variance.sum();
        let varying: Vec<usize> = (0..d).filter(|&j| variance[j] > 0.0).collect();
        if varying.is_empty() {
            return Err(Error::invalid(format!(
                "Pca::fit: all {d} columns are constant; there is no variance to analyse"
            )));
        }
        let column_mean = a.mean_axis(ndarray::Axis(0)).expect("n ≥ 2 rows");
        let ds = DatasetBase::from(a.select(ndarray::Axis(1), &varying));
        let inner = linfa_reduction::Pca::params(n_components.min(varying.len()))
            .whiten(false)
            .fit(&ds)
            .map_err(|e| Error::linfa("Pca::fit", e))?;
        Ok(Pca {
            inner,
            n_samples: n,
            total_variance,
            varying,
            column_mean,
        })
    }

    /// Number of components kept.
    pub fn n_components(&self) -> usize {
        self.inner.components().nrows()
    }

    /// Coordinates on the components: `(N, D) -> (N, n_components)`.
    pub fn transform(&self, xs: &Tensor) -> Result<Tensor> {
        let a = to_array2(xs)?;
        let d = self.column_mean.len();
        if a.ncols() != d {
            return Err(Error::shape("Pca::transform", format!("(N, {d})"), xs.dims()));
        }
        let y: Array2<f64> = self.inner.predict(&a.select(ndarray::Axis(1), &self.varying));
        from_array2(&y, xs.device())
    }

    /// Back from coordinates to the data space: `(N, n_components) -> (N, D)`.
    pub fn inverse_transform(&self, ys: &Tensor) -> Result<Tensor> {
        let a = to_array2(ys)?;
        if a.ncols() != self.n_components() {
            return Err(Error::shape(
                "Pca::inverse_transform",
                format!("(N, {})", self.n_components()),
                ys.dims(),
            ));
        }
        let part = self.inner.inverse_transform(a);
        let mut full = Array2::from_shape_fn((part.nrows(), self.column_mean.len()), |(_, j)| self.column_mean[j]);
        for (k, &j) in self.varying.iter().enumerate() {
            full.column_mut(j).assign(&part.column(k));
        }
        from_array2(&full, ys.device())
    }

    /// Projects and maps back: the best rank-`n_components` linear
    /// approximation of `xs`.
    pub fn reconstruct(&self, xs: &Tensor) -> Result<Tensor> {
        self.inverse_transform(&self.transform(xs)?)
    }

    /// Standard deviation of the fitted data along each component.
    pub fn component_std(&self) -> Vec<f32> {
        let denom = (self.n_samples as f64 - 1.0).max(1.0);
        self.inner
            .singular_values()
            .iter()
            .map(|s| (s * s / denom).sqrt() as f32)
            .collect()
    }

    /// Share of the data's total variance along each component.
    pub fn explained_variance_ratio(&self) -> Vec<f32> {
        let denom = (self.n_samples as f64 - 1.0).max(1.0);
        self.inner
            .singular_values()
            .iter()
            .map(|s| (s * s / denom / self.total_variance) as f32)
            .collect()
    }

    /// Draws `n` points in the decorrelated (principal-component) space,
    /// each coordinate `N(0, std_i · scale)`, and maps them back to the data
    /// space: new samples that follow the data's correlations.
    ///
    /// # Shapes
    /// Returns `(n, D)` on `dev`.
    pub fn sample(&self, n: usize, scale: f32, seed: u64, dev: &Device) -> Result<Tensor> {
        if n == 0 || !(scale.is_finite() && scale > 0.0) {
            return Err(Error::out_of_range(format!(
                "Pca::sample: n {n} must be ≥ 1 and scale {scale} finite and > 0"
            )));
        }
        let std = self.component_std();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let k = std.len();
        let v: Vec<f32> = (0..n * k)
            .map(|i| {
                let z: f32 = StandardNormal.sample(&mut rng);
                z * std[i % k] * scale
            })
            .collect();
        self.inverse_transform(&Tensor::from_vec(v, (n, k), dev)?)
    }

    /// The mean the components are centred on.
    pub fn mean(&self) -> Array1<f64> {
        self.column_mean.clone()
    }
}

/// A 2-D t-SNE embedding of the rows of `xs` (exact t-SNE through linfa-tsne, seeded).
///
/// # Shapes
/// `xs`: `(N, D)` with `N > 3·perplexity + 1`; returns `(N, 2)`.
pub fn tsne(xs: &Tensor, perplexity: f64, max_iter: usize) -> Result<Tensor> {
    let a = to_array2(xs)?;
    let n = a.nrows();
    if !(perplexity.is_finite() && perplexity > 0.0) || (n as f64 - 1.0) < 3.0 * perplexity {
        return Err(Error::out_of_range(format!(
            "tsne: perplexity {perplexity} needs more than 3·perplexity + 1 points (got {n}); lower it or give more points"
        )));
    }
    if let Some(row) = a.rows().into_iter().position(|r| r.iter().any(|v| !v.is_finite())) {
        return Err(Error::not_finite(format!(
            "tsne: row {row} holds NaN or infinite values (it would make the whole embedding NaN); check the model or data that produced them"
        )));
    }
    if max_iter < 10 {
        return Err(Error::out_of_range(format!(
            "tsne: max_iter {max_iter} is too few; use at least 250"
        )));
    }
    // Exact t-SNE (threshold 0): linfa-tsne's Barnes-Hut tree (threshold
    // 0.5) recursed without end on MNIST samples of 166 and 1,000 images and
    // overflowed even a 1 GiB stack. Exact is O(N²) per iteration: about
    // 12 s for 1,000 images and 1,000 iterations on this course's 2 cores.
    // In a thread, so that the stop button can end the wait: the thread then
    // finishes on its own and its result is dropped.
    let _listening = crate::runtime::stop::Listening::start();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let y = linfa_tsne::TSneParams::embedding_size(2)
            .perplexity(perplexity)
            .approx_threshold(0.0)
            .max_iter(max_iter)
            .transform(a);
        let _ = tx.send(y);
    });
    loop {
        match rx.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(y) => return from_array2(&y.map_err(|e| Error::linfa("tsne", e))?, xs.device()),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if crate::runtime::stop_requested() => {
                return Err(crate::runtime::stop::stopped("tsne", "before the embedding was done"))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::invalid("tsne: the t-SNE thread ended without a result"))
            }
        }
    }
}
