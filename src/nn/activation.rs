//! Activation functions, applied inside a layer (`dense(32).relu()`) or as a
//! layer of their own (`activation(Activation::Tanh)`).

use super::{Layer, LayerConfig, Pass};
use crate::error::Result;
use crate::kernels::FusedAct;
use candle_core::Tensor;
use std::sync::Arc;

/// A layer's activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    /// The identity (Keras' `linear`).
    #[default]
    Linear,
    Relu,
    Sigmoid,
    Tanh,
}

impl Activation {
    /// The same activation for the fused CPU ops, if they have it.
    pub(crate) fn fused(self) -> Option<FusedAct> {
        match self {
            Activation::Linear => Some(FusedAct::Linear),
            Activation::Relu => Some(FusedAct::Relu),
            Activation::Sigmoid => Some(FusedAct::Sigmoid),
            Activation::Tanh => None,
        }
    }

    /// Applies the activation element-wise.
    pub fn apply(self, xs: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Linear => xs.clone(),
            Activation::Relu => xs.relu()?,
            Activation::Sigmoid => candle_nn::ops::sigmoid(xs)?,
            Activation::Tanh => xs.tanh()?,
        })
    }
}

/// An activation as a layer of its own: `(N, …) -> (N, …)`.
pub fn activation(act: Activation) -> Activation {
    act
}

impl Layer for Activation {
    fn kind(&self) -> &'static str {
        "Activation"
    }

    fn forward(&self, xs: &Tensor, _: &mut Pass) -> Result<Tensor> {
        self.apply(xs)
    }
}

impl LayerConfig for Activation {
    fn kind(&self) -> &'static str {
        "Activation"
    }

    fn build(&self, input: &[usize], _: &mut super::Init) -> Result<(Arc<dyn Layer>, Vec<usize>)> {
        Ok((Arc::new(*self), input.to_vec()))
    }
}

/// Setters shared by the layer settings that end in an activation.
macro_rules! activation_setters {
    ($t:ty) => {
        impl $t {
            /// The activation applied to the layer's output.
            pub fn activation(mut self, act: $crate::nn::Activation) -> Self {
                self.activation = act;
                self
            }
            /// `activation(Activation::Relu)`.
            pub fn relu(self) -> Self {
                self.activation($crate::nn::Activation::Relu)
            }
            /// `activation(Activation::Sigmoid)`.
            pub fn sigmoid(self) -> Self {
                self.activation($crate::nn::Activation::Sigmoid)
            }
            /// `activation(Activation::Tanh)`.
            pub fn tanh(self) -> Self {
                self.activation($crate::nn::Activation::Tanh)
            }
        }
    };
}
pub(crate) use activation_setters;
