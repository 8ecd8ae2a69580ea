//! The fully connected layer.

use super::activation::activation_setters;
use super::{impl_module, weight_and_bias};
use super::{Activation, Init, Layer, LayerConfig, Pass};
use crate::error::Result;
use crate::kernels;
use candle_core::{Tensor, Var};
use std::sync::Arc;

/// Settings of a [`Dense`] layer; made by [`dense`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DenseConfig {
    /// Output features.
    pub units: usize,
    pub activation: Activation,
    /// Add a learned bias (true, as Keras).
    pub use_bias: bool,
}

/// A fully connected layer of `units` outputs, linear until an activation
/// is chosen: `dense(32).relu()`.
pub fn dense(units: usize) -> DenseConfig {
    DenseConfig {
        units,
        activation: Activation::Linear,
        use_bias: true,
    }
}

activation_setters!(DenseConfig);

impl DenseConfig {
    /// Without a bias.
    pub fn no_bias(mut self) -> Self {
        self.use_bias = false;
        self
    }
}

impl LayerConfig for DenseConfig {
    fn kind(&self) -> &'static str {
        "Dense"
    }

    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        let &[d_in] = input else {
            return Err(init.shape_error("(N, features): add flatten() before it"));
        };
        if self.units == 0 {
            return Err(init.setting_error("units is 0; use at least 1"));
        }
        let weight = init.glorot(&[self.units, d_in], d_in, self.units)?;
        let bias = if self.use_bias {
            Some(init.constant(&[self.units], 0.0)?)
        } else {
            None
        };
        let layer = Dense {
            weight,
            bias,
            activation: self.activation,
        };
        Ok((Arc::new(layer), vec![self.units]))
    }
}

/// A fully connected layer: `act(xs · weightᵀ + bias)`.
///
/// # Shapes
/// `(N, in) -> (N, units)`; `weight`: `(units, in)`, `bias`: `(units,)`.
#[derive(Debug, Clone)]
pub struct Dense {
    pub weight: Var,
    pub bias: Option<Var>,
    pub activation: Activation,
}

impl_module!(Dense);

impl Layer for Dense {
    fn kind(&self) -> &'static str {
        "Dense"
    }

    fn forward(&self, xs: &Tensor, _: &mut Pass) -> Result<Tensor> {
        let w = self.weight.as_tensor();
        // On the CPU: matmul, bias and activation as one op (crate::kernels).
        if let (true, Some(b), Some(act)) = (kernels::enabled(xs), &self.bias, self.activation.fused()) {
            return Ok(kernels::dense(xs, w, b.as_tensor(), act)?);
        }
        let ys = xs.matmul(&w.t()?)?; // (N, units)
        let ys = match &self.bias {
            Some(b) => ys.broadcast_add(b.as_tensor())?,
            None => ys,
        };
        self.activation.apply(&ys)
    }

    fn params(&self) -> Vec<(&'static str, Var)> {
        weight_and_bias(&self.weight, &self.bias)
    }
}
