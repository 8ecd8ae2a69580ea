//! Layers that regularise: dropout and gaussian noise (active while
//! training only), batch normalisation, and an L1 penalty on activations
//! (the sparse autoencoder's).

use super::{impl_module, Init, Layer, LayerConfig, Pass};
use crate::error::Result;
use candle_core::{Tensor, Var};
use std::sync::Arc;

/// Sets a share `rate` of the values to 0 while training and scales the
/// rest by `1 / (1 - rate)`; passes values through at inference. Made by
/// [`dropout`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    pub rate: f32,
}

/// Adds gaussian noise of standard deviation `std` while training (Keras'
/// `GaussianNoise`); passes values through at inference. Made by
/// [`gaussian_noise`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianNoiseLayer {
    pub std: f32,
}

/// Adds `weight · mean over the batch of Σ|activation|` to the loss (Keras'
/// `ActivityRegularization(l1=…)`), pushing the layer's outputs towards 0;
/// the values pass through unchanged. Made by [`activity_l1`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActivityL1 {
    pub weight: f32,
}

/// Dropout of a share `rate` in `[0, 1)` of the values.
pub fn dropout(rate: f32) -> Dropout {
    Dropout { rate }
}

/// Gaussian noise of standard deviation `std` (training only).
pub fn gaussian_noise(std: f32) -> GaussianNoiseLayer {
    GaussianNoiseLayer { std }
}

/// An L1 activity penalty of weight `weight` on the previous layer's output.
pub fn activity_l1(weight: f32) -> ActivityL1 {
    ActivityL1 { weight }
}

/// Checks a setting lies in `lo..hi` (or `lo..=hi`).
fn check_range(init: &Init, what: &str, v: f32, ok: bool, range: &str) -> Result<()> {
    if ok && v.is_finite() {
        return Ok(());
    }
    Err(init.setting_error(format!("{what} {v} is out of range; use a value in {range}")))
}

impl LayerConfig for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        check_range(
            init,
            "dropout rate",
            self.rate,
            (0.0..1.0).contains(&self.rate),
            "[0, 1), e.g. 0.2",
        )?;
        Ok((Arc::new(*self), input.to_vec()))
    }
}

impl Layer for Dropout {
    fn kind(&self) -> &'static str {
        "Dropout"
    }

    fn forward(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor> {
        if !pass.is_training() || self.rate == 0.0 {
            return Ok(xs.clone());
        }
        let keep = pass
            .rand(xs.dims(), xs.device())?
            .ge(self.rate as f64)?
            .to_dtype(xs.dtype())?;
        Ok((xs * keep)?.affine(1.0 / (1.0 - self.rate as f64), 0.0)?)
    }
}

impl LayerConfig for GaussianNoiseLayer {
    fn kind(&self) -> &'static str {
        "GaussianNoise"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        check_range(init, "noise std", self.std, self.std >= 0.0, "[0, ∞), e.g. 0.3")?;
        Ok((Arc::new(*self), input.to_vec()))
    }
}

impl Layer for GaussianNoiseLayer {
    fn kind(&self) -> &'static str {
        "GaussianNoise"
    }

    fn forward(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor> {
        if !pass.is_training() || self.std == 0.0 {
            return Ok(xs.clone());
        }
        let noise = pass.randn(xs.dims(), xs.device())?.to_dtype(xs.dtype())?;
        Ok((xs + noise.affine(self.std as f64, 0.0)?)?)
    }
}

impl LayerConfig for ActivityL1 {
    fn kind(&self) -> &'static str {
        "ActivityRegularization"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        check_range(init, "L1 weight", self.weight, self.weight >= 0.0, "[0, ∞), e.g. 1e-4")?;
        Ok((Arc::new(*self), input.to_vec()))
    }
}

impl Layer for ActivityL1 {
    fn kind(&self) -> &'static str {
        "ActivityRegularization"
    }

    fn forward(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor> {
        let n = xs.dim(0)?.max(1) as f64;
        let penalty = (xs.abs()?.sum_all()? * (self.weight as f64 / n))?;
        pass.add_loss("l1_activity", penalty)?;
        Ok(xs.clone())
    }
}

/// Settings of a [`BatchNorm`] layer; made by [`batch_norm`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormConfig {
    /// Weight of the old running statistics in each update (Keras: 0.99).
    pub momentum: f64,
    /// Added to the variance before the square root (Keras: 0.001).
    pub epsilon: f64,
}

/// Batch normalisation over the channel axis (axis 1), Keras' defaults.
pub fn batch_norm() -> BatchNormConfig {
    BatchNormConfig {
        momentum: 0.99,
        epsilon: 1e-3,
    }
}

impl BatchNormConfig {
    /// Weight of the old running statistics in each update.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }
}

/// Normalises each channel to mean 0 and variance 1, then scales by `gamma`
/// and shifts by `beta` (both learned). While training it uses the batch's
/// statistics and updates running ones; at inference it uses the running
/// ones.
///
/// # Shapes
/// `(N, C)` or `(N, C, H, W)`, unchanged; `gamma`, `beta` and the running
/// statistics: `(C,)`.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    pub gamma: Var,
    pub beta: Var,
    pub running_mean: Var,
    pub running_var: Var,
    pub momentum: f64,
    pub epsilon: f64,
}

impl LayerConfig for BatchNormConfig {
    fn kind(&self) -> &'static str {
        "BatchNormalization"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        let c = match *input {
            [c] | [c, _, _] => c,
            _ => return Err(init.shape_error("(N, features) or (N, channels, height, width)")),
        };
        if !(0.0..1.0).contains(&self.momentum) || self.epsilon.is_nan() || self.epsilon <= 0.0 {
            return Err(init.setting_error(format!(
                "momentum {} must lie in [0, 1) and epsilon {} be above 0 (Keras: 0.99 and 0.001)",
                self.momentum, self.epsilon
            )));
        }
        let layer = BatchNorm {
            gamma: init.constant(&[c], 1.0)?,
            beta: init.constant(&[c], 0.0)?,
            running_mean: init.constant(&[c], 0.0)?,
            running_var: init.constant(&[c], 1.0)?,
            momentum: self.momentum,
            epsilon: self.epsilon,
        };
        Ok((Arc::new(layer), input.to_vec()))
    }
}

impl Layer for BatchNorm {
    fn kind(&self) -> &'static str {
        "BatchNormalization"
    }

    fn forward(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor> {
        let c = self.gamma.dim(0)?;
        // (1, C) or (1, C, 1, 1): broadcasts over everything but the channel.
        let mut shape = vec![1, c];
        shape.resize(xs.rank(), 1);
        let axes: Vec<usize> = (0..xs.rank()).filter(|&a| a != 1).collect();
        let (mean, var) = if pass.is_training() {
            let mean = xs.mean_keepdim(axes.as_slice())?;
            let var = xs.broadcast_sub(&mean)?.sqr()?.mean_keepdim(axes.as_slice())?;
            let m = self.momentum;
            let update = |running: &Var, batch: &Tensor| -> Result<()> {
                let new = ((running.as_tensor() * m)? + (batch.detach().flatten_all()? * (1.0 - m))?)?;
                Ok(running.set(&new)?)
            };
            update(&self.running_mean, &mean)?;
            update(&self.running_var, &var)?;
            (mean, var)
        } else {
            (
                self.running_mean.as_tensor().reshape(shape.as_slice())?,
                self.running_var.as_tensor().reshape(shape.as_slice())?,
            )
        };
        let normed = xs.broadcast_sub(&mean)?.broadcast_div(&(var + self.epsilon)?.sqrt()?)?;
        let gamma = self.gamma.as_tensor().reshape(shape.as_slice())?;
        let beta = self.beta.as_tensor().reshape(shape.as_slice())?;
        Ok(normed.broadcast_mul(&gamma)?.broadcast_add(&beta)?)
    }

    fn params(&self) -> Vec<(&'static str, Var)> {
        vec![("gamma", self.gamma.clone()), ("beta", self.beta.clone())]
    }

    fn state(&self) -> Vec<(&'static str, Var)> {
        vec![
            ("running_mean", self.running_mean.clone()),
            ("running_var", self.running_var.clone()),
        ]
    }
}

impl_module!(Dropout);
impl_module!(GaussianNoiseLayer);
impl_module!(ActivityL1);
impl_module!(BatchNorm);
