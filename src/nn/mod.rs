//! Layers and the [`Sequential`] stack they are added to, Keras-style: the
//! input shape is given once, each layer is built for the shape it receives,
//! so every output shape is known before any data flows and a layer that does
//! not fit its input is an error at build time.
//!
//! ```no_run
//! # use autoencoders::prelude::*;
//! # fn main() -> Result<(), Error> {
//! # let dev = Device::Cpu;
//! let encoder = Sequential::input(&[1, 28, 28], &dev)
//!     .add(conv2d(16).kernel(3).same().relu())?   // (N, 16, 28, 28)
//!     .add(max_pool(2))?                          // (N, 16, 14, 14)
//!     .add(flatten())?                            // (N, 3136)
//!     .add(dense(32).relu())?;                    // (N, 32)
//! println!("{}", encoder.summary()?);
//! # Ok(()) }
//! ```
//!
//! Each layer is made by a short function whose one argument names what it
//! is (`dense(units)`, `conv2d(filters)`, `max_pool(size)`, …) and returns
//! its settings, a `*Config` with `Default` and named setters for the rest.
//! [`LayerConfig::build`] turns settings into a [`Layer`] for an input shape.
//! A model is anything implementing [`Model`]: a [`Sequential`] on its own, or
//! an autoencoder made of two (see the `models` module).
//!
//! Introduced in `notebooks/01_classic_autoencoder.ipynb`; layer by layer in
//! `notebooks/03_convolutional_autoencoder.ipynb`.

mod activation;
mod conv;
mod dense;
mod init;
mod model;
mod pass;
mod regularize;
mod reshape;
mod sampling;
mod sequential;
mod summary;

pub use activation::{activation, Activation};
pub use conv::{conv2d, conv_transpose2d, Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig, Padding};
pub use dense::{dense, Dense, DenseConfig};
pub use init::Init;
pub use model::{load_weights, load_weights_bytes, save_weights, Model};
pub use pass::Pass;
pub use regularize::{
    activity_l1, batch_norm, dropout, gaussian_noise, ActivityL1, BatchNorm, BatchNormConfig, Dropout,
    GaussianNoiseLayer,
};
pub use reshape::{flatten, max_pool, reshape, up_sample, Flatten, MaxPool2d, Reshape, UpSample2d};
pub use sampling::{sampling, Sampling};
pub use sequential::Sequential;
pub use summary::{Summary, SummaryRow};

use crate::error::Result;
use candle_core::{Tensor, Var};
use std::sync::Arc;

/// A built layer: a forward pass and the weights it owns.
///
/// The crate's layers implement it; a notebook can too (any `Debug + Send +
/// Sync` type), and add it to a [`Sequential`] through a [`LayerConfig`].
pub trait Layer: std::any::Any + std::fmt::Debug + Send + Sync {
    /// The Keras name of its type, e.g. `Conv2D`.
    fn kind(&self) -> &'static str;

    /// Applies the layer to a batch `(N, …)`. Layers that act only while
    /// training (dropout, noise) look at [`Pass::training`]; layers that add
    /// a loss term (an activity penalty, a VAE's KL term) hand it to `pass`.
    fn forward(&self, xs: &Tensor, pass: &mut Pass) -> Result<Tensor>;

    /// Trainable weights, by local name (`weight`, `bias`, …).
    fn params(&self) -> Vec<(&'static str, Var)> {
        Vec::new()
    }

    /// Weights saved with the model but not trained (batch normalisation's
    /// running statistics).
    fn state(&self) -> Vec<(&'static str, Var)> {
        Vec::new()
    }
}

/// A layer's settings, built into a [`Layer`] once its input shape is known.
pub trait LayerConfig {
    /// The Keras name of the layer type it builds, e.g. `Conv2D`; the layer is
    /// named after it (`conv2d_1`, `conv2d_2`, …).
    fn kind(&self) -> &'static str;

    /// Builds the layer for inputs of shape `(N, input…)`; returns the layer
    /// and its output shape without the batch dimension. A shape it cannot
    /// take is an error made with [`Init::shape_error`].
    fn build(&self, input: &[usize], init: &mut Init) -> Result<(Arc<dyn Layer>, Vec<usize>)>;
}

/// `[("weight", w), ("bias", b)]`, the bias only if there is one.
pub(crate) fn weight_and_bias(weight: &Var, bias: &Option<Var>) -> Vec<(&'static str, Var)> {
    let mut p = vec![("weight", weight.clone())];
    p.extend(bias.clone().map(|b| ("bias", b)));
    p
}

/// candle's `Module` for a layer: its forward pass at inference.
macro_rules! impl_module {
    ($t:ty) => {
        impl candle_core::Module for $t {
            fn forward(&self, xs: &candle_core::Tensor) -> candle_core::Result<candle_core::Tensor> {
                $crate::nn::Layer::forward(self, xs, &mut $crate::nn::Pass::inference())
                    .map_err(candle_core::Error::wrap)
            }
        }
    };
}
pub(crate) use impl_module;

/// `Conv2DTranspose` → `conv2d_transpose`, as Keras names layers.
pub(crate) fn snake_case(kind: &str) -> String {
    let chars: Vec<char> = kind.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase() || (prev.is_ascii_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `(N, 16, 7, 7)` from `[16, 7, 7]`: a per-sample shape with its batch.
pub fn batch_shape(dims: &[usize]) -> String {
    let mut s = String::from("(N");
    for d in dims {
        s.push_str(&format!(", {d}"));
    }
    s.push(')');
    s
}
