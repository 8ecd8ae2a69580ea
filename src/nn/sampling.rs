//! The variational autoencoder's sampling layer.

use super::{impl_module, Init, Layer, LayerConfig, Pass};
use crate::error::Result;
use candle_core::Tensor;
use std::sync::Arc;

/// Reads its input `(N, 2·k)` as a mean `μ` (first half) and a
/// log-variance `log σ²` (second half), and gives a code `(N, k)`: while
/// training a sample `μ + σ·ε` with `ε ~ N(0, I)` (the reparameterisation
/// trick, so gradients reach `μ` and `σ`), at inference `μ` itself. It adds
/// `beta · KL(N(μ, σ²) ‖ N(0, I))`, summed over the `k` units and averaged
/// over the batch, to the loss as the term `kl`.
///
/// `fit`'s reconstruction losses are means over pixels, where Keras' VAE
/// example sums them over the 784 pixels: `beta = 1/784` here weighs the
/// two terms as that example does. Made by [`sampling`].
///
/// # Shapes
/// `(N, 2·k) -> (N, k)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    pub beta: f32,
}

/// A sampling layer with KL weight `beta`.
pub fn sampling(beta: f32) -> Sampling {
    Sampling { beta }
}

impl LayerConfig for Sampling {
    fn kind(&self) -> &'static str {
        "Sampling"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        let &[d] = input else {
            return Err(init.shape_error("(N, 2·latent_dim): a mean and a log-variance per code unit"));
        };
        if d == 0 || d % 2 == 1 {
            return Err(init.shape_error("an even, non-zero width (a mean and a log-variance per code unit)"));
        }
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            return Err(init.setting_error(format!("beta {} must be a finite value ≥ 0", self.beta)));
        }
        Ok((Arc::new(*self), vec![d / 2]))
    }
}

impl Layer for Sampling {
    fn kind(&self) -> &'static str {
        "Sampling"
    }

    fn forward(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor> {
        let k = xs.dim(1)? / 2;
        let (mu, log_var) = (xs.narrow(1, 0, k)?, xs.narrow(1, k, k)?); // (N, k) each
                                                                        // KL = -½ Σ (1 + log σ² - μ² - σ²), per sample, then the batch mean.
        let kl = (log_var.affine(1.0, 1.0)? - mu.sqr()? - log_var.exp()?)?;
        let kl = (kl.sum(1)?.mean_all()? * (-0.5 * self.beta as f64))?;
        pass.add_loss("kl", kl)?;
        if !pass.is_training() {
            return Ok(mu);
        }
        let eps = pass.randn(mu.dims(), mu.device())?.to_dtype(mu.dtype())?;
        Ok((mu + (log_var * 0.5)?.exp()? * eps)?)
    }
}

impl_module!(Sampling);
