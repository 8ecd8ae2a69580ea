//! Reconstruction losses, as Keras computes them: mean squared error, binary
//! cross-entropy on probabilities (clipped to `[1e-7, 1 - 1e-7]`), and
//! Kullback-Leibler divergence; plus cross-entropy on logits for the
//! reference classifier.
//!
//! Introduced in `notebooks/07_loss_functions.ipynb`.

use crate::error::{Error, Result};
use candle_core::{DType, Tensor};

pub use crate::kernels::EPSILON;

/// Checks that the shapes agree, and keeps tensor ids apart before a graph
/// is built from the two (see [`crate::runtime::cells`]).
fn same_shape(what: &str, pred: &Tensor, target: &Tensor) -> Result<()> {
    crate::runtime::cells::enter_graph([], [pred, target]);
    if pred.dims() != target.dims() {
        return Err(Error::shape(
            format!("{what}: target"),
            format!("{:?} (the prediction's shape)", pred.dims()),
            target.dims(),
        ));
    }
    Ok(())
}

/// Mean squared error over every element: `mean((pred - target)²)`.
///
/// # Shapes
/// `pred` and `target` of the same shape; returns a scalar.
pub fn mse(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    same_shape("mse", pred, target)?;
    Ok((pred - target)?.sqr()?.mean_all()?)
}

/// Binary cross-entropy of probabilities `pred` against targets in `[0, 1]`:
/// `-mean(t·ln p + (1 - t)·ln(1 - p))`, with `p` clipped to
/// `[EPSILON, 1 - EPSILON]`.
///
/// # Shapes
/// `pred` and `target` of the same shape; returns a scalar.
pub fn binary_cross_entropy(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    same_shape("binary_cross_entropy", pred, target)?;
    let p = pred.clamp(EPSILON as f32, 1.0 - EPSILON as f32)?;
    let one_minus_t = target.affine(-1.0, 1.0)?;
    let one_minus_p = p.affine(-1.0, 1.0)?;
    let ll = ((target * p.log()?)? + (one_minus_t * one_minus_p.log()?)?)?;
    Ok(ll.mean_all()?.neg()?)
}

/// Kullback-Leibler divergence `Σ t·ln(t / p)` over the last axis, averaged
/// over the rest; both clipped to `[EPSILON, 1]` as Keras does.
///
/// # Shapes
/// `pred` and `target` `(N, D)` (or any equal shapes); returns a scalar.
pub fn kl_divergence(pred: &Tensor, target: &Tensor) -> Result<Tensor> {
    same_shape("kl_divergence", pred, target)?;
    let t = target.clamp(EPSILON as f32, 1.0f32)?;
    let p = pred.clamp(EPSILON as f32, 1.0f32)?;
    let terms = (&t * (t.log()? - p.log()?)?)?;
    let last = terms.rank().saturating_sub(1);
    Ok(terms.sum(last)?.mean_all()?)
}

/// A loss a notebook writes itself: a `fn` (evcxr keeps `fn` items across
/// cells, not closures) from the prediction and the target to a scalar.
pub type LossFn = fn(&Tensor, &Tensor) -> Result<Tensor>;

/// A loss function for [`crate::train::fit`].
#[derive(Debug, Clone, Copy)]
pub enum Loss {
    /// [`mse`]
    Mse,
    /// [`binary_cross_entropy`]
    BinaryCrossEntropy,
    /// [`kl_divergence`]
    KlDivergence,
    /// Cross-entropy of logits `(N, C)` against class indices `(N,)` u32.
    CrossEntropy,
    /// A loss written in a notebook; made by [`Loss::custom`].
    Custom { name: &'static str, f: LossFn },
}

impl PartialEq for Loss {
    /// Losses are equal when they have the same name.
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Loss {
    /// A loss computed by `f(pred, target)`, shown as `name`:
    ///
    /// ```no_run
    /// # use autoencoders::prelude::*;
    /// fn mae(pred: &Tensor, target: &Tensor) -> Result<Tensor, Error> {
    ///     Ok((pred - target)?.abs()?.mean_all()?)
    /// }
    /// let loss = Loss::custom("mae", mae);
    /// ```
    pub fn custom(name: &'static str, f: LossFn) -> Self {
        Loss::Custom { name, f }
    }
}

impl Loss {
    /// The loss of a batch, as a scalar tensor.
    pub fn compute(self, pred: &Tensor, target: &Tensor) -> Result<Tensor> {
        crate::runtime::cells::enter_graph([], [pred, target]);
        if !matches!(self, Loss::Custom { .. }) {
            // Cross-entropy's targets are class labels (integers).
            let labels = matches!(self, Loss::CrossEntropy);
            for (what, t) in [("prediction", pred), ("target", target)] {
                if !(t.dtype().is_float() || labels && what == "target") {
                    return Err(Error::invalid(format!(
                        "loss {}: the {what} is a {:?} tensor; losses need floating-point values: convert it with .to_dtype(DType::F32)",
                        self.name(),
                        t.dtype()
                    )));
                }
            }
        }
        match self {
            // On the CPU the same formulas run as single ops (crate::kernels).
            Loss::Mse
                if crate::kernels::enabled(pred) && pred.dims() == target.dims() && target.dtype() == DType::F32 =>
            {
                Ok(crate::kernels::mse_loss(pred, target)?)
            }
            Loss::BinaryCrossEntropy
                if crate::kernels::enabled(pred) && pred.dims() == target.dims() && target.dtype() == DType::F32 =>
            {
                Ok(crate::kernels::bce_loss(pred, target)?)
            }
            Loss::Mse => mse(pred, target),
            Loss::BinaryCrossEntropy => binary_cross_entropy(pred, target),
            Loss::KlDivergence => kl_divergence(pred, target),
            Loss::Custom { name, f } => {
                let l = f(pred, target)?;
                if l.rank() != 0 {
                    return Err(Error::shape(
                        format!("custom loss {name:?}"),
                        "a scalar (use mean_all)",
                        l.dims(),
                    ));
                }
                Ok(l)
            }
            Loss::CrossEntropy => {
                if target.dtype() != DType::U32 || target.rank() != 1 {
                    return Err(Error::shape(
                        "cross-entropy target",
                        "(N,) u32 class indices",
                        target.dims(),
                    ));
                }
                Ok(candle_nn::loss::cross_entropy(pred, target)?)
            }
        }
    }

    /// The name Keras uses.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::BinaryCrossEntropy => "binary_crossentropy",
            Loss::KlDivergence => "kl_divergence",
            Loss::CrossEntropy => "sparse_categorical_crossentropy",
            Loss::Custom { name, .. } => name,
        }
    }
}

/// Mean squared error between two image sets as a number.
pub fn mse_value(a: &Tensor, b: &Tensor) -> Result<f32> {
    Ok(mse(a, b)?.to_dtype(DType::F32)?.to_scalar::<f32>()?)
}

/// Peak signal-to-noise ratio in dB for images in `[0, 1]`:
/// `10·log10(1 / mse)`. Higher is better; identical images give infinity.
pub fn psnr(a: &Tensor, b: &Tensor) -> Result<f32> {
    let m = mse_value(a, b)?;
    Ok(10.0 * (1.0 / m).log10())
}
